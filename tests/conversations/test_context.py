"""Context window management: checkpoint at 80% of the window, truncation when nobody can summarise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from conversations.tokens import estimate_tokens
from mosaic.fakes.base import Fault, Script
from mosaic.fakes.ollama import FakeOllamaModel
from providers import catalog
from providers.adapters.base import ModelSpec
from tests.agents.chat import ChatClient, of_type
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

WINDOW = 3000  # tokens: a model with a tiny context window
PARAGRAPH = "The quick brown fox jumps over the lazy dog near the river bank. " * 25  # ~400 tokens


@pytest.fixture
def tiny_model(fake_ollama: Any) -> Iterator[str]:
    fake_ollama.models.append(FakeOllamaModel("tiny:latest", "llama", "1B", "Q4_0", 1_000_000))
    catalog.register_dynamic(
        "ollama",
        [
            *catalog.dynamic_models("ollama"),
            ModelSpec(
                provider="ollama",
                id="tiny",
                display_name="Tiny",
                tier="local",
                context_window=WINDOW,
                max_output=512,
            ),
        ],
    )
    yield "ollama:tiny"
    catalog.clear_dynamic("ollama")


def checkpoints(conversation_id: str) -> list[Message]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, role="checkpoint").order_by(
            "sequence"
        )
    )


async def chat_until_checkpoint(
    client: ChatClient, conversation_id: str, limit: int = 12
) -> list[Message]:
    for turn in range(limit):
        frames = await client.say(f"Turn {turn}: {PARAGRAPH}")
        assert frames[-1]["status"] == "complete", frames
        found = await sync_to_async(checkpoints)(conversation_id)
        if found:
            return found
    return []


async def test_context_over_80_percent_is_summarised_into_a_checkpoint(
    alice: Any, upstreams: dict[str, str], fake_ollama: Any, fake_zai: Any, tiny_model: str
) -> None:
    fake_ollama.default_script = Script(text="Noted. " * 40)
    fake_zai.default_script = Script(text="SUMMARY: the user sent numbered paragraphs about a fox.")
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=tiny_model)

    found = await chat_until_checkpoint(client, info["conversation_id"])
    assert len(found) == 1
    checkpoint = found[0]
    assert checkpoint.metadata["kind"] == "summary"
    assert checkpoint.content.startswith("SUMMARY:")
    assert checkpoint.covers_from == 1
    assert checkpoint.covers_to is not None
    assert checkpoint.covers_to < checkpoint.sequence
    # The summariser was a cheap model through routing (summarisation → GLM-5), not the chat model.
    summary_request = fake_zai.chat_requests()[-1].json
    assert summary_request["model"] == "glm-5"
    assert "Turn 0" in summary_request["messages"][-1]["content"]

    # The request that followed the checkpoint: system prompt + summary, then only recent messages.
    sent = fake_ollama.chat_requests()[-1].json["messages"]
    assert sent[0]["role"] == "system"
    assert "SUMMARY: the user sent numbered paragraphs" in sent[0]["content"]
    texts = " ".join(m.get("content", "") for m in sent[1:])
    assert "Turn 0:" not in texts
    total = sum(estimate_tokens(m.get("content", "")) for m in sent)
    assert total <= WINDOW * 0.8

    # Later turns keep using the checkpoint (no new one until the budget fills again).
    await client.say("And one more short question?")
    assert len(await sync_to_async(checkpoints)(info["conversation_id"])) == 1
    assert "SUMMARY:" in fake_ollama.chat_requests()[-1].json["messages"][0]["content"]
    await client.close()


async def test_without_a_summariser_oldest_messages_are_dropped_with_a_visible_marker(
    alice: Any,
    upstreams: dict[str, str],
    fake_ollama: Any,
    fake_zai: Any,
    fake_anthropic: Any,
    fake_openai: Any,
    fake_openrouter: Any,
    tiny_model: str,
) -> None:
    fake_ollama.default_script = Script(text="Noted. " * 40)
    # Every summarisation candidate fails: GLM-5, its fallbacks, and the offline Ollama model,
    # which is not pulled on this Ollama (only the chat model "tiny" is).
    for fake in (fake_zai, fake_anthropic, fake_openai, fake_openrouter):
        fake.default_script = Script(fault=Fault("status", status=503))
    fake_ollama.models = [m for m in fake_ollama.models if m.name == "tiny:latest"]
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=tiny_model)

    found = await chat_until_checkpoint(client, info["conversation_id"])
    assert len(found) == 1
    marker = found[0]
    assert marker.metadata["kind"] == "truncation"
    assert f"#{marker.covers_from} to #{marker.covers_to}" in marker.content
    assert "no longer sent to the model" in marker.content
    sent = fake_ollama.chat_requests()[-1].json["messages"]
    assert "no longer sent to the model" in sent[0]["content"]
    assert "Turn 0:" not in " ".join(m.get("content", "") for m in sent[1:])

    # The marker is visible in the history a client receives.
    other = await ChatClient.connect(await sync_to_async(token_for)(alice))
    _, history = await other.open(conversation_id=info["conversation_id"])
    assert any(
        m["role"] == "checkpoint" and m["covers"] == [marker.covers_from, marker.covers_to]
        for m in history["messages"]
    )
    await client.close()
    await other.close()


async def test_history_reports_context_usage(
    alice: Any, upstreams: dict[str, str], fake_ollama: Any, tiny_model: str
) -> None:
    fake_ollama.default_script = Script(text="ok")
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    await client.open(model=tiny_model)
    await client.say(PARAGRAPH)
    result = await client.command("/history")
    assert result["ok"] is True
    assert result["data"]["message_count"] == 2
    assert result["data"]["context_window"] == WINDOW
    assert result["data"]["context_tokens"] > estimate_tokens(PARAGRAPH)
    assert of_type(client.received, "command:result")
    await client.close()


def test_unknown_ollama_models_get_a_small_window_others_the_catalog() -> None:
    from agents.session import model_window as _window

    assert _window("ollama", "some-model-nobody-catalogued") == 8192
    assert _window("anthropic", "claude-haiku-4-5") == 200_000
    assert _window("openrouter", "vendor/unknown") == 128_000
