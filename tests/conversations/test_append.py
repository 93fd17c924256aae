"""Appending messages: one statement reserves the numbers and inserts the rows (outside a
transaction it needs none; inside one it takes a savepoint)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from conversations import selectors, services
from conversations.models import Conversation, Message
from core.errors import NotFound

DRAFTS = [
    services.MessageDraft(role="assistant", content="one"),
    services.MessageDraft(role="tool_call", tool_name="calculator", tool_arguments={"x": 1}),
    services.MessageDraft(role="tool_result", content="1", tool_name="calculator"),
]


@pytest.mark.django_db(transaction=True)  # autocommit: the statement is its own transaction
def test_rows_are_numbered_after_the_last_in_order_and_come_back_saved(alice: Any) -> None:
    conversation = services.conversation_create(user=alice)
    first, _ = services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="hello", client_id="c-1"
    )
    rows = services.messages_append(user=alice, conversation_id=conversation.pk, drafts=DRAFTS)

    assert first.sequence == 1
    assert [row.sequence for row in rows] == [2, 3, 4]
    assert [row.content for row in rows] == ["one", "", "1"]
    assert all(not row._state.adding for row in rows)
    stored = Message.objects.filter(conversation=conversation).order_by("sequence")
    assert [(m.sequence, m.role, m.owner_id) for m in stored] == [
        (1, "user", alice.pk),
        (2, "assistant", alice.pk),
        (3, "tool_call", alice.pk),
        (4, "tool_result", alice.pk),
    ]
    assert stored[2].tool_arguments == {"x": 1}
    # Resent: the stored row comes back, and the failed insert gives its number back.
    again, created = services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="hello", client_id="c-1"
    )
    assert (again.pk, created) == (first.pk, False)
    conversation.refresh_from_db()
    assert (conversation.last_sequence, conversation.title) == (4, "hello")


@pytest.mark.django_db(transaction=True)
def test_another_users_conversation_is_not_found_and_nothing_is_written(
    alice: Any, bob: Any
) -> None:
    conversation = services.conversation_create(user=alice)
    with pytest.raises(NotFound):
        services.messages_append(user=bob, conversation_id=conversation.pk, drafts=DRAFTS)
    with pytest.raises(NotFound):
        services.message_persist_user(
            user=bob, conversation_id=conversation.pk, content="mine?", client_id="b-1"
        )
    assert not Message.objects.filter(conversation=conversation).exists()
    assert Conversation.objects.get(pk=conversation.pk).last_sequence == 0


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_failed_append_leaves_the_transaction_usable(
    alice: Any, bob: Any
) -> None:
    conversation = services.conversation_create(user=alice)
    with transaction.atomic():
        services.message_persist_user(
            user=alice, conversation_id=conversation.pk, content="x", client_id="k"
        )
        with pytest.raises(NotFound):
            services.messages_append(user=bob, conversation_id=conversation.pk, drafts=DRAFTS)
        _, created = services.message_persist_user(
            user=alice, conversation_id=conversation.pk, content="x", client_id="k"
        )
        assert not created
        services.messages_append(user=alice, conversation_id=conversation.pk, drafts=DRAFTS[:1])
    assert Message.objects.filter(conversation=conversation).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_context_read_gives_the_newest_checkpoint_whole_and_the_rows_after_it(
    alice: Any, bob: Any
) -> None:
    conversation = services.conversation_create(user=alice)
    for index in range(4):
        services.message_persist_user(
            user=alice, conversation_id=conversation.pk, content=f"m{index}", client_id=f"c{index}"
        )
    services.checkpoint_append(
        user=alice, conversation_id=conversation.pk, content="old", covers_from=1, covers_to=1,
        metadata={"kind": "summary"},
    )  # fmt: skip
    newest, _ = services.checkpoint_append(
        user=alice, conversation_id=conversation.pk, content="SUMMARY", covers_from=1,
        covers_to=3, metadata={"kind": "summary", "n": 2},
    )  # fmt: skip
    services.messages_append(user=alice, conversation_id=conversation.pk, drafts=DRAFTS[:1])

    checkpoint, rows = selectors.context_messages(user=alice, conversation_id=conversation.pk)

    assert checkpoint is not None
    stored = Message.objects.get(pk=newest.pk)
    for field in Message._meta.concrete_fields:
        if field.name != "search_vector":
            assert getattr(checkpoint, field.attname) == getattr(stored, field.attname), field
    assert checkpoint.metadata == {"kind": "summary", "n": 2}
    assert [row.content for row in rows] == ["m3", "one"]  # after sequence 3, no checkpoints
    assert selectors.context_messages(user=bob, conversation_id=conversation.pk) == (None, [])
