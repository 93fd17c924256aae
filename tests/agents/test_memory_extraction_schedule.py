"""Extraction on idle: each turn that ends schedules ``extract_memories`` for when the
conversation will have been quiet for ``MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS``, at most one run
waits per conversation, a run that finds it active again waits the rest of the time, and a real
worker extracts after a real turn (real Redis broker and PostgreSQL, fake upstreams)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from agents.tasks import EXTRACT_TASK, extract_memories, schedule_extraction
from conversations import services as conversation_services
from jobs.models import JobRun
from memory.models import ExtractionMark, Insight
from mosaic.fakes.base import Script
from routing import cache
from tests.agents.chat import ChatClient
from tests.agents.helpers import eventually
from tests.conftest import seed_reference_data, token_for
from tests.live import start_celery_worker

SONNET = "anthropic:claude-sonnet-4-6"
FOUND = {
    "insights": [{"content": "The user is a nurse in Porto.", "category": "fact"}],
    "preferences": [],
}


def queued_extractions() -> list[JobRun]:
    return list(JobRun.objects.filter(job=EXTRACT_TASK).order_by("queued_at"))


@pytest.mark.django_db(transaction=True)
async def test_turns_schedule_one_idle_extraction_per_conversation(
    alice: Any, alice_chat: ChatClient, settings: Any
) -> None:
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 300
    info, _ = await alice_chat.open(model=SONNET)
    await alice_chat.say("I'm a nurse.")
    await alice_chat.say("I live in Porto.")
    second_socket = await ChatClient.connect(await sync_to_async(token_for)(alice))
    other, _ = await second_socket.open(model=SONNET)  # a new conversation schedules its own
    await second_socket.say("Hello again.")
    await second_socket.close()

    # Scheduled as each turn ends, after message:done: wait for the second conversation's.
    def both_queued() -> list[JobRun] | None:
        runs = queued_extractions()
        return runs if len(runs) >= 2 else None

    await eventually(both_queued)
    await asyncio.sleep(0.3)  # and no third comes
    runs = await sync_to_async(queued_extractions)()
    assert [run.args for run in runs] == [
        [alice.pk, info["conversation_id"], True],
        [alice.pk, other["conversation_id"], True],
    ]
    first = runs[0]
    assert first.eta is not None
    assert 290 <= (first.eta - first.queued_at).total_seconds() <= 310


@pytest.mark.django_db(transaction=True)  # sends outside a transaction record a queued run
def test_a_run_that_finds_the_conversation_active_waits_the_rest_of_the_idle_time(
    alice: Any, settings: Any, fake_anthropic: Any
) -> None:
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 300
    conversation = conversation_services.conversation_create(user=alice)
    conversation_services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="I'm a nurse in Porto."
    )
    assert schedule_extraction(user_id=alice.pk, conversation_id=conversation.pk)
    assert not schedule_extraction(user_id=alice.pk, conversation_id=conversation.pk)

    # The scheduled run comes early (the user spoke since): nothing is read, it waits again.
    answer = extract_memories(alice.pk, str(conversation.pk))
    assert answer.startswith("not idle; again in")
    assert fake_anthropic.chat_requests() == []
    assert not ExtractionMark.objects.exists()
    waiting = queued_extractions()
    assert len(waiting) == 2
    assert waiting[-1].eta is not None
    assert 280 <= (waiting[-1].eta - timezone.now()).total_seconds() <= 300
    # ...and it still counts as the one pending run.
    assert not schedule_extraction(user_id=alice.pk, conversation_id=conversation.pk)


@pytest.mark.django_db
@pytest.mark.usefixtures("upstreams")
def test_a_run_on_an_idle_conversation_extracts_and_lets_the_next_turn_schedule_again(
    alice: Any, settings: Any, fake_anthropic: Any
) -> None:
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 0
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    seed_reference_data()  # the default rules route extraction to the cheap model
    cache.invalidate_local_cache()
    fake_anthropic.default_script = Script(text=json.dumps(FOUND))
    conversation = conversation_services.conversation_create(user=alice)
    conversation_services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="I'm a nurse in Porto."
    )
    assert schedule_extraction(user_id=alice.pk, conversation_id=conversation.pk)

    assert extract_memories(alice.pk, str(conversation.pk)) == "saved 1, merged 0"
    assert [i.content for i in Insight.objects.filter(user=alice)] == [
        FOUND["insights"][0]["content"]
    ]
    assert schedule_extraction(user_id=alice.pk, conversation_id=conversation.pk)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
async def test_a_worker_extracts_memories_once_a_chat_goes_quiet(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, settings: Any, tmp_path: Path
) -> None:
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 2
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    env = {**upstreams, "MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS": "2"}
    worker = await sync_to_async(start_celery_worker)(tmp_path, env)
    try:
        fake_anthropic.script(Script(text="Noted!"))
        fake_anthropic.default_script = Script(text=json.dumps(FOUND))
        chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
        await chat.open(model=SONNET)
        await chat.say("I'm a nurse in Porto, by the way.")
        await chat.close()

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if await sync_to_async(Insight.objects.filter(user=alice).exists)():
                break
            await asyncio.sleep(0.3)
        found = await sync_to_async(lambda: [i.content for i in Insight.objects.all()])()
        assert found == ["The user is a nurse in Porto."], worker.log()[-3000:]
    finally:
        await sync_to_async(worker.stop)()
    extraction = [r for r in fake_anthropic.chat_requests() if "durable" in json.dumps(r.json)]
    assert len(extraction) == 1
    assert "I'm a nurse in Porto, by the way." in json.dumps(extraction[0].json)
