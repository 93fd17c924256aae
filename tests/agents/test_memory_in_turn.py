"""Memories in the chat turn: the user's relevant insights and preferences go to the model as a
memory section of the system prompt, the route line counts them, and an embedder that fails or
stalls never fails the turn (Channels' communicator, real PostgreSQL and Redis, fake upstreams)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from memory import services as memory_services
from memory.models import Insight
from memory.recall import HEADING
from mosaic.fakes.base import Fault, Script
from tests.agents.chat import ChatClient, text_of

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"
MARATHON = "The user is training for a marathon in April."
CAT = "The user's cat is called Miso."
ARCHIVED = "The user runs 40 km every week."
BOBS = "The user is training for a marathon in May."


@pytest.fixture
def local_embeddings(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    settings.MOSAIC_EMBEDDING_DIMS = 0


def system_text(request: dict[str, Any]) -> str:
    system = request.get("system") or ""
    if isinstance(system, str):
        return system
    return "\n".join(block.get("text", "") for block in system)


def remember(alice: Any, bob: Any) -> dict[str, int]:
    ids = {
        "marathon": memory_services.insight_save(user=alice, content=MARATHON).insight.pk,
        "cat": memory_services.insight_save(user=alice, content=CAT).insight.pk,
        "archived": memory_services.insight_save(user=alice, content=ARCHIVED).insight.pk,
        "bobs": memory_services.insight_save(user=bob, content=BOBS).insight.pk,
    }
    memory_services.insight_update(user=alice, insight_id=ids["archived"], tier="archive")
    memory_services.preference_set(user=alice, key="answer_style", value="short bullet points")
    memory_services.preference_set(user=bob, key="units", value="imperial")
    return ids


def use_counts() -> dict[str, int]:
    return dict(Insight.objects.values_list("content", "use_count"))


@pytest.mark.usefixtures("local_embeddings")
async def test_turn_offers_relevant_memories_and_preferences_marked_as_memory(
    alice: Any, bob: Any, alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await sync_to_async(remember)(alice, bob)
    fake_anthropic.script(Script(text="Build up slowly."))
    await alice_chat.open(model=SONNET)
    frames = await alice_chat.say("Any tips for my running plan?")

    assert text_of(frames) == "Build up slowly."
    system = system_text(fake_anthropic.chat_requests()[-1].json)
    memory = system[system.index(HEADING) :]
    assert MARATHON in memory
    assert "answer_style: short bullet points" in memory
    assert CAT not in system  # below the similarity floor
    assert ARCHIVED not in system  # archived insights are not offered unprompted
    assert BOBS not in system
    assert "imperial" not in system
    assert frames[-1]["routing"]["memories"] == 1

    counts = await sync_to_async(use_counts)()
    assert counts[MARATHON] == 1
    assert counts[CAT] == counts[ARCHIVED] == counts[BOBS] == 0
    history = await alice_chat.command("/history")
    assert history["data"]["memories_used"] == 1
    assert "1 remembered insight." in history["output"]


@pytest.mark.usefixtures("local_embeddings")
async def test_recall_switched_off_offers_nothing(
    alice: Any, bob: Any, alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await sync_to_async(remember)(alice, bob)
    await sync_to_async(memory_services.memory_settings_update)(user=alice, recall=False)
    await alice_chat.open(model=SONNET)
    frames = await alice_chat.say("Any tips for my running plan?")

    assert frames[-1]["status"] == "complete"
    system = system_text(fake_anthropic.chat_requests()[-1].json)
    assert HEADING not in system
    assert MARATHON not in system
    assert "short bullet points" not in system
    assert "memories" not in frames[-1]["routing"]
    assert (await sync_to_async(use_counts)())[MARATHON] == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=503, body={"error": "model is loading"}),
        Fault(kind="stall", seconds=5.0),
    ],
    ids=["embedder-error", "embedder-stalls"],
)
async def test_turn_answers_without_insights_when_the_embedder_fails(
    alice: Any,
    bob: Any,
    alice_chat: ChatClient,
    fake_anthropic: Any,
    fake_ollama: Any,
    settings: Any,
    fault: Fault,
) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "ollama"
    settings.MOSAIC_EMBEDDING_MODEL = "nomic-embed-text"
    settings.MOSAIC_EMBEDDING_DIMS = 768
    settings.MOSAIC_MEMORY_RECALL_TIMEOUT = 0.5
    await sync_to_async(remember)(alice, bob)  # embedded by the fake Ollama
    fake_ollama.script(Script(fault=fault))  # the turn's query embedding fails
    fake_anthropic.script(Script(text="Here is a plan."))
    await alice_chat.open(model=SONNET)
    frames = await alice_chat.say("Any tips for my running plan?")

    assert text_of(frames) == "Here is a plan."
    assert frames[-1]["status"] == "complete"
    assert "memories" not in frames[-1]["routing"]
    system = system_text(fake_anthropic.chat_requests()[-1].json)
    assert MARATHON not in system
    assert "answer_style: short bullet points" in system  # preferences need no embedding
    assert [r.path for r in fake_ollama.requests].count("/api/embed") == 5  # 4 saves, 1 query
