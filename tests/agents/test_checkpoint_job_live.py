"""The checkpoint moves off the chat turn, end to end: a turn that brings the conversation past
70 % of the model's window enqueues ``agents.write_checkpoint``; a real Celery worker writes the
checkpoint through the fake upstream (and then sends memory extraction); the next turn uses it
without a model call of its own. Without a worker, the turn that would overflow still summarises
in line (the fallback)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from celery import current_app

from agents import live
from agents.selectors import agent_get
from conversations import services as conversation_services
from conversations.context import SUMMARY_PROMPT, context_usage
from conversations.models import Message
from jobs.models import AgentLog, JobRun
from mosaic.fakes.base import Script
from mosaic.fakes.ollama import FakeOllamaModel
from providers import catalog
from providers.adapters.base import ModelSpec
from tests.agents.chat import ChatClient
from tests.conftest import token_for
from tests.jobs.waiting import wait_for
from tests.live import LiveProcess, start_celery_worker

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(600),
]

WINDOW = 3000  # tokens: 70 % is 2,100, 80 % is 2,400
PARAGRAPH = "The quick brown fox jumps over the lazy dog near the river bank. " * 25  # ~400 tokens
FILLER = "about the fox and the dog, " * 9  # ~70 tokens
PRELOADED = 1750  # tokens of context before the first turn: one PARAGRAPH turn crosses 70 %


@pytest.fixture
def tiny_model(fake_ollama: Any) -> Iterator[str]:
    fake_ollama.models.append(FakeOllamaModel("tiny:latest", "llama", "1B", "Q4_0", 1_000_000))
    catalog.register_dynamic(
        "ollama",
        [
            *catalog.dynamic_models("ollama"),
            ModelSpec(provider="ollama", id="tiny", display_name="Tiny", tier="local",
                      context_window=WINDOW, max_output=512),
        ],
    )  # fmt: skip
    yield "ollama:tiny"
    catalog.clear_dynamic("ollama")


@pytest.fixture
def empty_broker() -> Iterator[None]:
    current_app.control.purge()
    yield
    current_app.control.purge()


@pytest.fixture
def worker(
    empty_broker: None, upstreams: dict[str, str], tmp_path: Path, transactional_db: None
) -> Iterator[LiveProcess]:
    process = start_celery_worker(tmp_path, upstreams)
    try:
        yield process
    finally:
        process.stop()


def preload(user: Any, conversation_id: str, agent_slug: str) -> int:
    """Fill the conversation with short exchanges to about ``PRELOADED`` tokens of context."""
    system_prompt = agent_get(user=user, slug=agent_slug).system_prompt
    tokens, number = 0, 0
    while tokens < PRELOADED:
        conversation_services.messages_append(
            user=user,
            conversation_id=conversation_id,
            drafts=[
                conversation_services.MessageDraft(
                    role="user", content=f"Filler {number}: {FILLER}"
                ),
                conversation_services.MessageDraft(role="assistant", content="Noted."),
            ],
        )
        _, tokens = context_usage(
            user=user, conversation_id=conversation_id, system_prompt=system_prompt
        )
        number += 1
    return tokens


def checkpoints(conversation_id: str) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role="checkpoint").order_by(
            "sequence"
        )
    )


def logged(conversation_id: str, event: str) -> list[AgentLog]:
    return list(AgentLog.objects.filter(conversation_id=conversation_id, event=event))


def summary_requests(*fakes: Any) -> int:
    return sum(1 for f in fakes for r in f.chat_requests() if SUMMARY_PROMPT[:40] in str(r.json))


async def turn(client: ChatClient, user: Any, conversation_id: str, text: str) -> None:
    """Say ``text``; return once the turn, with what it sends after message:done, is over."""
    frames = await client.say(text)
    assert frames[-1]["status"] == "complete", frames
    for _ in range(200):
        if not await live.turn_running(user.pk, conversation_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the turn did not end")


async def test_the_job_writes_the_checkpoint_and_the_next_turn_uses_it(
    alice: Any,
    worker: LiveProcess,
    fake_ollama: Any,
    fake_zai: Any,
    fake_anthropic: Any,
    tiny_model: str,
) -> None:
    fake_ollama.default_script = Script(text="Noted. " * 40)
    fake_zai.default_script = Script(text="SUMMARY: fillers, then a paragraph about a fox.")
    fake_anthropic.default_script = Script(text='{"insights": [], "preferences": []}')
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=tiny_model)
    conversation_id = info["conversation_id"]
    await sync_to_async(preload)(alice, conversation_id, info["agent"])

    await turn(client, alice, conversation_id, f"Now this: {PARAGRAPH}")
    # The reply went out with no summary in the turn; the job was sent after message:done.
    [queued] = await sync_to_async(logged)(conversation_id, "checkpoint.queued")
    assert queued.data["window"] == WINDOW
    found = await sync_to_async(wait_for)(
        lambda: checkpoints(conversation_id), timeout=120, what="the checkpoint job"
    )
    [checkpoint] = found
    assert checkpoint.content == "SUMMARY: fillers, then a paragraph about a fox."
    assert checkpoint.metadata["ahead"] is True
    assert checkpoint.covers_from == 1
    assert checkpoint.covers_to is not None
    assert checkpoint.covers_to <= queued.data["up_to"]
    run = await sync_to_async(wait_for)(
        lambda: JobRun.objects.filter(job="agents.write_checkpoint", state="succeeded").first(),
        timeout=30,
        what="the job's run to be recorded",
    )
    assert run.result.startswith("checkpoint "), worker.log()[-3000:]
    summaries = summary_requests(fake_zai, fake_anthropic)
    assert summaries == 1

    # The next turn finds the checkpoint ready: no summary of its own, the older messages gone.
    await turn(client, alice, conversation_id, "And one more short question?")
    assert summary_requests(fake_zai, fake_anthropic) == summaries
    assert len(await sync_to_async(checkpoints)(conversation_id)) == 1
    sent = fake_ollama.chat_requests()[-1].json["messages"]
    assert "SUMMARY: fillers, then a paragraph about a fox." in sent[0]["content"]
    assert "Filler 0:" not in " ".join(m.get("content", "") for m in sent[1:])
    # Memory extraction followed the checkpoint (the user has it on by default).
    extraction = await sync_to_async(wait_for)(
        lambda: JobRun.objects.filter(job="memory.extract_insights", state="succeeded").first(),
        timeout=120,
        what="memory extraction after the checkpoint",
    )
    assert extraction.args == [alice.pk, conversation_id, False]
    await client.close()


async def test_without_a_worker_the_turn_that_would_overflow_summarises_in_line(
    alice: Any,
    empty_broker: None,
    upstreams: dict[str, str],
    fake_ollama: Any,
    fake_zai: Any,
    tiny_model: str,
) -> None:
    fake_ollama.default_script = Script(text="Noted. " * 40)
    fake_zai.default_script = Script(text="SUMMARY: written by the turn itself.")
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=tiny_model)
    conversation_id = info["conversation_id"]
    await sync_to_async(preload)(alice, conversation_id, info["agent"])

    await turn(client, alice, conversation_id, f"First: {PARAGRAPH}")  # past 70 %: job sent
    assert len(await sync_to_async(logged)(conversation_id, "checkpoint.queued")) == 1
    assert await sync_to_async(checkpoints)(conversation_id) == []  # nobody ran it
    await turn(client, alice, conversation_id, f"Second: {PARAGRAPH}")  # would pass 80 %

    [checkpoint] = await sync_to_async(checkpoints)(conversation_id)
    assert checkpoint.content == "SUMMARY: written by the turn itself."
    assert checkpoint.metadata["kind"] == "summary"
    assert "ahead" not in checkpoint.metadata
    [written] = await sync_to_async(logged)(conversation_id, "checkpoint.written")
    assert written.data == {
        "kind": "summary", "in_turn": True, "checkpoint_id": str(checkpoint.id)
    }  # fmt: skip
    sent = fake_ollama.chat_requests()[-1].json["messages"]
    assert "SUMMARY: written by the turn itself." in sent[0]["content"]
    # The job is still waiting for a worker; extraction was sent after the in-turn checkpoint,
    # beside the one run the first turn scheduled for when the conversation goes idle.
    jobs = await sync_to_async(lambda: sorted(JobRun.objects.values_list("job", "state")))()
    assert jobs == [
        ("agents.write_checkpoint", "queued"),
        ("memory.extract_insights", "queued"),  # at the checkpoint
        ("memory.extract_insights", "queued"),  # on idle (one waits per conversation)
    ]
    await client.close()
