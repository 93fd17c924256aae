"""The checkpoint job's body (``agents.write_checkpoint``, run in this process here; with a real
worker in test_checkpoint_job_live.py): one checkpoint per position however often it runs, the
summary from routing's summariser through the fake upstream, nothing written when it fails, and
memory extraction enqueued after it when the user has extraction on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from celery import current_app

from agents.completion import summarise
from agents.tasks import summarise_sync, write_checkpoint
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.checkpoints import checkpoint_ahead
from conversations.context import SUMMARY_PROMPT, build_context
from conversations.models import Message
from conversations.tokens import estimate_tokens
from core.errors import UpstreamError
from jobs.models import AgentLog, JobRun
from memory import services as memory_services
from mosaic.fakes.base import Fault, Script

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("upstreams")]

WINDOW = 3000
PARAGRAPH = "The quick brown fox jumps over the lazy dog near the river bank. " * 25  # ~400 tokens
SYSTEM_PROMPT = "You are a helpful assistant."
SYSTEM_TOKENS = estimate_tokens(SYSTEM_PROMPT)


@pytest.fixture(autouse=True)
def _empty_broker() -> Iterator[None]:
    # The jobs sent here (memory extraction) are for no worker: never leave them to another test.
    current_app.control.purge()
    yield
    current_app.control.purge()


def conversation_of(user: Any, exchanges: int) -> tuple[Any, int]:
    """A conversation of ``exchanges`` long user/assistant pairs; returns it and its last sequence."""
    conversation = conversation_services.conversation_create(user=user)
    last = 0
    for turn in range(exchanges):
        conversation_services.message_persist_user(
            user=user, conversation_id=conversation.pk, content=f"Turn {turn}: {PARAGRAPH}"
        )
        (reply,) = conversation_services.messages_append(
            user=user,
            conversation_id=conversation.pk,
            drafts=[conversation_services.MessageDraft(role="assistant", content="Noted. " * 20)],
        )
        last = reply.sequence
    return conversation, last


def checkpoints(conversation: Any) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, role="checkpoint"))


def summary_requests(fake: Any) -> list[Any]:
    return [r for r in fake.chat_requests() if SUMMARY_PROMPT[:40] in str(r.json)]


def test_the_job_writes_one_checkpoint_for_its_position_however_often_it_runs(
    alice: Any, fake_zai: Any
) -> None:
    fake_zai.default_script = Script(text="SUMMARY: numbered paragraphs about a fox.")
    conversation, last = conversation_of(alice, 5)  # ~2,300 tokens: past 70 % of 3,000
    arguments = (alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS)

    first = write_checkpoint(*arguments)
    assert first.startswith("checkpoint ")
    [checkpoint] = checkpoints(conversation)
    assert checkpoint.content == "SUMMARY: numbered paragraphs about a fox."
    assert checkpoint.metadata == {"kind": "summary", "messages": checkpoint.metadata["messages"],
                                   "ahead": True}  # fmt: skip
    assert checkpoint.covers_from == 1
    assert checkpoint.covers_to is not None
    assert checkpoint.covers_to < last
    assert checkpoint.sequence == last + 1
    [request] = summary_requests(fake_zai)
    assert request.json["model"] == "glm-5"
    assert "Turn 0:" in str(request.json["messages"])

    # Run again (a retry, a redelivery): the checkpoint stands; no second summary, no second row.
    assert write_checkpoint(*arguments) == "not needed"
    assert len(checkpoints(conversation)) == 1
    assert len(summary_requests(fake_zai)) == 1
    written = AgentLog.objects.filter(event="checkpoint.written", conversation_id=conversation.pk)
    assert [row.data["checkpoint_id"] for row in written] == [str(checkpoint.id)]


def test_a_conversation_below_the_threshold_is_left_alone(alice: Any, fake_zai: Any) -> None:
    conversation, last = conversation_of(alice, 2)
    assert write_checkpoint(alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS) == (
        "not needed"
    )
    assert checkpoints(conversation) == []
    assert summary_requests(fake_zai) == []


def test_the_job_reads_only_up_to_the_message_it_is_keyed_by(alice: Any, fake_zai: Any) -> None:
    fake_zai.default_script = Script(text="SUMMARY.")
    conversation, last = conversation_of(alice, 2)  # below the threshold at this position...
    conversation_services.messages_append(
        user=alice,
        conversation_id=conversation.pk,
        drafts=[conversation_services.MessageDraft(role="user", content=PARAGRAPH * 4)],
    )  # ...though the conversation has grown past it since
    assert write_checkpoint(alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS) == (
        "not needed"
    )
    assert checkpoints(conversation) == []


def test_a_later_checkpoint_never_covers_less_than_an_earlier_one(alice: Any) -> None:
    conversation, _ = conversation_of(alice, 4)

    def append(covers_to: int, content: str) -> tuple[Message, bool]:
        return conversation_services.checkpoint_append(
            user=alice, conversation_id=conversation.pk, content=content,
            covers_from=1, covers_to=covers_to, metadata={"kind": "summary"},
        )  # fmt: skip

    first, created = append(6, "up to six")
    assert created
    for covers_to in (6, 4):  # the same position, or less: the first stands
        found, created = append(covers_to, "again")
        assert (found.pk, created) == (first.pk, False)
    further, created = append(7, "up to seven")
    assert created
    assert further.sequence > first.sequence
    assert [m.content for m in checkpoints(conversation)] == ["up to six", "up to seven"]
    # A refused append gives its sequence number back: the numbering has no gap.
    sequences = sorted(Message.objects.filter(conversation=conversation).values_list(
        "sequence", flat=True))  # fmt: skip
    assert sequences == list(range(1, len(sequences) + 1))


def test_a_turn_that_summarised_while_the_job_wrote_the_checkpoint_uses_the_jobs(
    alice: Any, fake_zai: Any
) -> None:
    conversation, last = conversation_of(alice, 6)  # past 80 %: the turn's fallback summarises
    # What the turn read before the job's checkpoint landed.
    stale = conversation_selectors.context_messages(user=alice, conversation_id=conversation.pk)
    fake_zai.default_script = Script(text="SUMMARY from the job.")
    write_checkpoint(alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS)
    [written] = checkpoints(conversation)

    fake_zai.default_script = Script(text="SUMMARY from the turn.")
    context = async_to_sync(build_context)(
        user=alice,
        conversation_id=conversation.pk,
        system_prompt=SYSTEM_PROMPT,
        window=WINDOW,
        summarise=lambda text: summarise(alice, text),
        loaded=stale,
    )
    assert checkpoints(conversation) == [written]  # one checkpoint for the position
    assert context.created_checkpoint is None
    assert context.checkpoint_id == str(written.id)
    assert "SUMMARY from the job." in context.system
    assert "SUMMARY from the turn." not in context.system
    assert "Turn 0:" not in str(context.messages)
    assert written.covers_to is not None
    assert context.tokens <= WINDOW * 0.8


def test_when_no_model_can_summarise_the_job_fails_for_a_retry_and_writes_nothing(
    alice: Any, fake_zai: Any, fake_anthropic: Any, fake_openai: Any, fake_openrouter: Any,
    fake_ollama: Any,
) -> None:  # fmt: skip
    for fake in (fake_zai, fake_anthropic, fake_openai, fake_openrouter, fake_ollama):
        fake.default_script = Script(fault=Fault("status", status=503))
    conversation, last = conversation_of(alice, 5)
    with pytest.raises(UpstreamError) as failure:
        checkpoint_ahead(
            user=alice,
            conversation_id=conversation.pk,
            up_to=last,
            window=WINDOW,
            system_tokens=SYSTEM_TOKENS,
            summarise=lambda text: summarise_sync(alice, text),
        )
    assert failure.value.retryable  # a 503 may pass: the job base retries it
    assert checkpoints(conversation) == []


def test_another_users_conversation_is_gone_for_the_job(alice: Any, bob: Any) -> None:
    conversation, last = conversation_of(bob, 5)
    assert write_checkpoint(alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS) == (
        "conversation gone"
    )
    assert checkpoints(conversation) == []


@pytest.mark.parametrize("auto_extract", [True, False])
def test_memory_extraction_follows_a_checkpoint_when_the_user_has_it_on(
    alice: Any, fake_zai: Any, auto_extract: bool
) -> None:
    memory_services.memory_settings_update(user=alice, auto_extract=auto_extract)
    fake_zai.default_script = Script(text="SUMMARY.")
    conversation, last = conversation_of(alice, 5)
    write_checkpoint(alice.pk, str(conversation.pk), last, WINDOW, SYSTEM_TOKENS)
    sent = JobRun.objects.filter(job="memory.extract_insights")
    if auto_extract:
        [run] = sent
        assert run.args == [alice.pk, str(conversation.pk), False]
    else:
        assert not sent.exists()
