"""The history a turn reads while its user message is being stored (agents/turn.py,
``history_after_read``; conversations/history.py, ``history_read``): used only when it is what
a fresh read would return, else None (and the turn reads again)."""

from __future__ import annotations

from typing import Any

import pytest

from agents.turn import history_after_read
from conversations import selectors, services
from conversations.history import HistoryRead, history_read
from conversations.models import Message
from conversations.services import MessageDraft

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(alice: Any) -> Any:
    conversation = services.conversation_create(user=alice)
    services.messages_append(
        user=alice,
        conversation_id=conversation.id,
        drafts=[
            MessageDraft(role=Message.Role.USER, content="first question"),
            MessageDraft(role=Message.Role.ASSISTANT, content="first answer", metadata={"a": 1}),
        ],
    )
    return conversation


def persist(user: Any, conversation: Any, content: str = "second question") -> Message:
    message, created = services.message_persist_user(
        user=user, conversation_id=conversation.id, content=content, client_id=content
    )
    assert created
    return message


def fresh(user: Any, conversation: Any) -> tuple[Message | None, list[selectors.ContextRow]]:
    return selectors.context_messages(
        user=user, conversation_id=conversation.id, with_streaming=True
    )


def test_a_read_made_before_the_message_is_stored_stands_for_a_fresh_one(
    alice: Any, conversation: Any
) -> None:
    read = history_read(user=alice, conversation_id=conversation.id)
    message = persist(alice, conversation)
    assert read.last_sequence == message.sequence - 1
    assert history_after_read(alice, conversation.id, message, read) == fresh(alice, conversation)


def test_a_read_made_after_the_message_is_stored_stands_too(alice: Any, conversation: Any) -> None:
    message = persist(alice, conversation)
    read = history_read(user=alice, conversation_id=conversation.id)
    history = history_after_read(alice, conversation.id, message, read)
    assert history == fresh(alice, conversation)
    assert history is not None
    assert [row.content for row in history[1]] == [
        "first question",
        "first answer",
        "second question",
    ]


def test_a_row_written_between_the_read_and_the_message_means_reading_again(
    alice: Any, conversation: Any
) -> None:
    read = history_read(user=alice, conversation_id=conversation.id)
    persist(alice, conversation, "from another client")
    message = persist(alice, conversation)
    assert history_after_read(alice, conversation.id, message, read) is None


def test_a_row_written_after_the_message_means_reading_again(alice: Any, conversation: Any) -> None:
    read = history_read(user=alice, conversation_id=conversation.id)
    message = persist(alice, conversation)
    services.messages_append(
        user=alice,
        conversation_id=conversation.id,
        drafts=[MessageDraft(role=Message.Role.ASSISTANT, content="another client's turn")],
    )
    assert history_after_read(alice, conversation.id, message, read) is None


def test_a_streaming_row_is_left_to_the_turn_holding_the_lock(
    alice: Any, conversation: Any
) -> None:
    services.messages_append(
        user=alice,
        conversation_id=conversation.id,
        drafts=[
            MessageDraft(
                role=Message.Role.ASSISTANT, content="cut off", status=Message.Status.STREAMING
            )
        ],
    )
    read = history_read(user=alice, conversation_id=conversation.id)
    assert [row.status for row in read.rows][-1] == Message.Status.STREAMING
    message = persist(alice, conversation)
    assert history_after_read(alice, conversation.id, message, read) is None


def test_another_users_conversation_reads_as_nothing(
    alice: Any, bob: Any, conversation: Any
) -> None:
    read = history_read(user=bob, conversation_id=conversation.id)
    assert read == HistoryRead(None, None, [])
    assert selectors.conversation_last_sequence(user=bob, conversation_id=conversation.id) is None
    message = persist(alice, conversation)
    assert history_after_read(bob, conversation.id, message, read) is None
