"""The history a process keeps between turns (conversations/history.py): whatever is written,
finished, failed, checkpointed or deleted in between, a read from what was kept is what a full
read returns, and only the rows after the mark are read again.

Transactional tests: a read inside a transaction keeps nothing (it may see rows rolled back)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import history, services
from conversations.history import HistoryRead, history_read
from conversations.models import Message
from conversations.services import MessageDraft

pytestmark = pytest.mark.django_db(transaction=True)

AFTER_MARK = "count(*)"  # only the read after the mark counts the kept rows


@pytest.fixture(autouse=True)
def nothing_kept() -> Any:
    history.forget_all()
    yield
    history.forget_all()


def full(user: Any, conversation_id: Any) -> HistoryRead:
    return history._read_all(user, conversation_id)


def same(read: HistoryRead, expected: HistoryRead) -> None:
    assert read.last_sequence == expected.last_sequence
    assert read.rows == expected.rows
    if expected.checkpoint is None:
        assert read.checkpoint is None
    else:
        assert read.checkpoint is not None
        fields = ("pk", "sequence", "content", "covers_from", "covers_to", "metadata", "status")
        assert [getattr(read.checkpoint, f) for f in fields] == [
            getattr(expected.checkpoint, f) for f in fields
        ]


def read_sql(user: Any, conversation_id: Any) -> tuple[HistoryRead, str]:
    with CaptureQueriesContext(connection) as queries:
        read = history_read(user=user, conversation_id=conversation_id)
    return read, " ".join(query["sql"] for query in queries.captured_queries)


def append(user: Any, conversation_id: Any, *drafts: MessageDraft) -> list[Message]:
    return services.messages_append(user=user, conversation_id=conversation_id, drafts=drafts)


@pytest.mark.parametrize("seed", range(12))
def test_a_read_from_what_was_kept_is_a_full_read_whatever_happened_between(
    alice: Any, seed: int
) -> None:
    rng = random.Random(seed)
    conversation = services.conversation_create(user=alice)
    cid = conversation.id
    streaming: list[uuid.UUID] = []
    reads_after_mark = 0
    for step in range(70):
        last = full(alice, cid).last_sequence or 0
        op = rng.choice(
            [
                *("user", "assistant", "assistant", "tool", "stream", "finish", "fail"),
                *("failed", "checkpoint", "delete", "read", "read", "read"),
            ]
        )
        if op == "user":
            append(alice, cid, MessageDraft(role=Message.Role.USER, content=f"question {step}"))
        elif op == "assistant":
            append(
                alice,
                cid,
                MessageDraft(
                    role=Message.Role.ASSISTANT, content=f"answer {step}", metadata={"n": step}
                ),
            )
        elif op == "tool":
            append(
                alice,
                cid,
                MessageDraft(
                    role=Message.Role.TOOL_CALL,
                    tool_call_id=f"c{step}",
                    tool_name="clock",
                    tool_arguments={"zone": "UTC", "step": step},
                ),
                MessageDraft(
                    role=Message.Role.TOOL_RESULT, content="12:00", tool_call_id=f"c{step}"
                ),
            )
        elif op == "stream":
            draft = MessageDraft(
                role=Message.Role.ASSISTANT, content="partial", status=Message.Status.STREAMING
            )
            append(alice, cid, draft)
            streaming.append(draft.id)
        elif op == "finish" and streaming:
            done = MessageDraft(
                id=streaming.pop(rng.randrange(len(streaming))),
                role=Message.Role.ASSISTANT,
                content=f"finished {step}",
            )
            services.messages_upsert(user=alice, conversation_id=cid, drafts=[done])
        elif op == "fail":
            services.messages_fail_streaming(user=alice, conversation_id=cid)
            streaming.clear()
        elif op == "failed":
            append(
                alice,
                cid,
                MessageDraft(
                    role=Message.Role.ASSISTANT, content="x", status=Message.Status.FAILED
                ),
            )
        elif op == "checkpoint" and last > 2:
            services.checkpoint_append(
                user=alice,
                conversation_id=cid,
                content=f"summary to {step}",
                covers_from=1,
                covers_to=rng.randrange(1, last),
                metadata={"kind": "summary"},
            )
        elif op == "delete":  # the admin can delete a message
            ids = list(Message.objects.filter(conversation_id=cid).values_list("id", flat=True))
            if ids:
                Message.objects.filter(pk=rng.choice(ids)).delete()
        else:
            read, sql = read_sql(alice, cid)
            same(read, full(alice, cid))
            reads_after_mark += AFTER_MARK in sql
    read = history_read(user=alice, conversation_id=cid)
    same(read, full(alice, cid))
    assert reads_after_mark, "the kept read was never used: this test would not see it break"


def test_the_next_read_asks_only_for_the_rows_after_the_mark(alice: Any) -> None:
    conversation = services.conversation_create(user=alice)
    cid = conversation.id
    append(
        alice,
        cid,
        MessageDraft(role=Message.Role.USER, content="first"),
        MessageDraft(role=Message.Role.ASSISTANT, content="first answer"),
    )
    first, sql = read_sql(alice, cid)
    assert AFTER_MARK not in sql
    append(alice, cid, MessageDraft(role=Message.Role.USER, content="second"))

    with CaptureQueriesContext(connection) as queries:
        read = history_read(user=alice, conversation_id=cid)

    (query,) = queries.captured_queries
    assert AFTER_MARK in query["sql"]
    assert f"m.sequence > {first.last_sequence}" in query["sql"]
    assert [row.content for row in read.rows] == ["first", "first answer", "second"]
    same(read, full(alice, cid))


def test_a_row_still_streaming_is_read_again_until_it_is_finished(alice: Any) -> None:
    conversation = services.conversation_create(user=alice)
    cid = conversation.id
    append(alice, cid, MessageDraft(role=Message.Role.USER, content="question"))
    draft = MessageDraft(
        role=Message.Role.ASSISTANT, content="half", status=Message.Status.STREAMING
    )
    append(alice, cid, draft)
    assert [row.status for row in history_read(user=alice, conversation_id=cid).rows] == [
        "complete",
        "streaming",
    ]
    services.messages_upsert(
        user=alice,
        conversation_id=cid,
        drafts=[MessageDraft(id=draft.id, role=Message.Role.ASSISTANT, content="whole")],
    )

    read = history_read(user=alice, conversation_id=cid)

    assert [(row.content, row.status) for row in read.rows] == [
        ("question", "complete"),
        ("whole", "complete"),
    ]


def test_another_user_gets_nothing_from_what_was_kept_for_the_owner(alice: Any, bob: Any) -> None:
    conversation = services.conversation_create(user=alice)
    append(alice, conversation.id, MessageDraft(role=Message.Role.USER, content="private"))
    history_read(user=alice, conversation_id=conversation.id)

    read = history_read(user=bob, conversation_id=conversation.id)

    assert read == HistoryRead(None, None, [])


def test_a_read_inside_a_transaction_keeps_nothing(alice: Any) -> None:
    conversation = services.conversation_create(user=alice)
    with transaction.atomic():
        append(alice, conversation.id, MessageDraft(role=Message.Role.USER, content="rolled back"))
        history_read(user=alice, conversation_id=conversation.id)
        transaction.set_rollback(True)

    read, sql = read_sql(alice, conversation.id)

    assert AFTER_MARK not in sql
    assert read.rows == []


def test_the_least_recently_read_conversation_goes_first(alice: Any, settings: Any) -> None:
    settings.MOSAIC_HISTORY_KEPT_CONVERSATIONS = 1
    one, two = (services.conversation_create(user=alice) for _ in range(2))
    for conversation in (one, two):
        append(alice, conversation.id, MessageDraft(role=Message.Role.USER, content="hi"))
        history_read(user=alice, conversation_id=conversation.id)

    assert AFTER_MARK in read_sql(alice, two.id)[1]
    assert AFTER_MARK not in read_sql(alice, one.id)[1]


def test_nothing_is_kept_when_the_setting_says_none(alice: Any, settings: Any) -> None:
    settings.MOSAIC_HISTORY_KEPT_CONVERSATIONS = 0
    conversation = services.conversation_create(user=alice)
    append(alice, conversation.id, MessageDraft(role=Message.Role.USER, content="hi"))
    history_read(user=alice, conversation_id=conversation.id)

    assert AFTER_MARK not in read_sql(alice, conversation.id)[1]


def test_a_history_over_the_memory_budget_is_not_kept(alice: Any, settings: Any) -> None:
    settings.MOSAIC_HISTORY_KEPT_BYTES = 2 * history.ROW_BYTES + 100
    conversation = services.conversation_create(user=alice)
    append(alice, conversation.id, MessageDraft(role=Message.Role.USER, content="x" * 90))
    history_read(user=alice, conversation_id=conversation.id)
    assert AFTER_MARK in read_sql(alice, conversation.id)[1]  # one row: within the budget

    append(alice, conversation.id, MessageDraft(role=Message.Role.ASSISTANT, content="y" * 90))
    history_read(user=alice, conversation_id=conversation.id)

    assert AFTER_MARK not in read_sql(alice, conversation.id)[1]
