"""Routing wired into the chat turn, over the socket with the fake upstreams (M4-013, AC-2, AC-4)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from mosaic.fakes.base import Fault, Script
from providers import health
from providers.adapters.base import Health
from routing.models import RoutingDecisionRecord, RoutingRule
from routing.services import rule_create
from tests.agents.chat import ChatClient, of_type, text_of
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

COMPLEX_CODING = (
    "Refactor this Django view into a service layer with proper transaction handling, "
    "add retries for the payment API, and write pytest tests for the failure paths:\n"
    "```python\ndef checkout(request):\n    order = Order.objects.get(pk=request.POST['id'])\n"
    "    charge(order)\n    order.paid = True\n    order.save()\n    return redirect('/done')\n```"
)
SUMMARIZE = (
    "Summarize this: The committee met on Tuesday to review the quarterly budget. Spending on "
    "infrastructure rose by twelve percent, mostly because of the new data centre lease, while "
    "travel costs fell. The committee asked finance to prepare a revised forecast by next month."
)
WHAT_TIME = "what time is it"


async def connect(user: Any) -> ChatClient:
    return await ChatClient.connect(await sync_to_async(token_for)(user))


def last_model(fake: Any) -> str:
    return str(fake.chat_requests()[-1].json["model"])


@pytest.mark.e2e
async def test_m4_013_each_message_reaches_the_model_its_task_calls_for(
    alice: Any,
    upstreams: dict[str, str],
    live_server_factory: Any,
    fake_anthropic: Any,
    fake_zai: Any,
) -> None:
    """PRD M4-013 / AC-2 over a real daphne: coding → Opus, summarise → GLM-5, a simple question → Haiku."""
    server = await sync_to_async(live_server_factory)(upstreams)
    client = await ChatClient.connect_url(server.ws_url, await sync_to_async(token_for)(alice))
    await client.open()

    coding = await client.say(COMPLEX_CODING)
    assert last_model(fake_anthropic) == "claude-opus-4-6"
    info = of_type(coding, "session:info")[-1]
    assert info["model"] == "claude-opus-4-6"
    assert "coding + complex" in info["routing"]["reason"]
    assert coding[-1]["model"] == "claude-opus-4-6"

    summary = await client.say(SUMMARIZE)
    assert last_model(fake_zai) == "glm-5"
    assert summary[-1]["routing"]["classification"]["task_type"] == "summarization"
    assert (summary[-1]["provider"], summary[-1]["model"]) == ("zai", "glm-5")

    cheap = await client.say(WHAT_TIME)
    assert last_model(fake_anthropic) == "claude-haiku-4-5"
    assert cheap[-1]["model"] == "claude-haiku-4-5"
    assert cheap[-1]["routing"]["classification"]["complexity"] == "simple"
    await client.close()


async def test_ac_4_model_command_pins_the_model_until_auto(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    client = await connect(alice)
    await client.open()
    result = await client.command("/model claude-sonnet-4-6")
    assert result["ok"] is True
    info = of_type(client.received, "session:info")[-1]
    assert (info["model"], info["model_override"]) == (
        "claude-sonnet-4-6",
        "anthropic:claude-sonnet-4-6",
    )

    pinned = await client.say(COMPLEX_CODING)
    assert last_model(fake_anthropic) == "claude-sonnet-4-6"
    assert pinned[-1]["routing"]["override"] is True

    assert (await client.command("/model auto"))["ok"] is True
    routed = await client.say(COMPLEX_CODING)
    assert last_model(fake_anthropic) == "claude-opus-4-6"
    assert routed[-1]["routing"]["override"] is False
    await client.close()


async def test_unknown_model_is_a_clear_error_with_near_matches(
    alice: Any, upstreams: dict[str, str]
) -> None:
    client = await connect(alice)
    await client.open()
    result = await client.command("/model claude-sonet-4-6")
    assert result["ok"] is False
    assert "claude-sonnet-4-6" in result["output"]
    assert "Unknown model" in result["output"]
    await client.close()


async def test_unhealthy_primary_is_skipped_for_its_fallback(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, fake_openai: Any
) -> None:
    await sync_to_async(health.record)([("anthropic", Health(status="down", error="probe failed"))])
    client = await connect(alice)
    await client.open()
    frames = await client.say(COMPLEX_CODING)
    assert fake_anthropic.chat_requests() == []
    assert frames[-1]["provider"] == "openai"
    skipped = frames[-1]["routing"]["skipped"]
    assert any(s["provider"] == "anthropic" and "down" in s["reason"] for s in skipped)
    await client.close()


async def test_when_nothing_usable_can_answer_the_error_says_what_to_act_on_first(
    alice: Any, upstreams: dict[str, str], settings: Any, fake_anthropic: Any, fake_ollama: Any
) -> None:
    """Every cloud provider down and an Ollama nobody configured (and that never answered): the
    error starts with the provider the rule wanted, and Ollama is never called."""
    settings.OLLAMA_BASE_URL = settings.OLLAMA_DEFAULT_BASE_URL
    settings.OLLAMA_CONFIGURED = False
    down = Health(status="down", error="probe failed")
    await sync_to_async(health.record)(
        [(name, down) for name in ("anthropic", "openai", "openrouter", "zai")]
    )
    client = await connect(alice)
    await client.open()
    frames = await client.say("what time is it")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "provider_unavailable"
    assert error["message"].startswith(
        "anthropic is down; no other provider you have can answer this"
    )
    assert frames[-1]["type"] == "message:done"
    assert frames[-1]["status"] == "failed"
    assert fake_anthropic.chat_requests() == []
    assert [r for r in fake_ollama.requests if r.path == "/api/chat"] == []
    await client.close()


async def test_provider_failing_before_first_token_fails_over_to_the_next_candidate(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(
            fault=Fault(
                "status",
                status=529,
                body={
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                },
            )
        ),
        Script(text="Sonnet here."),
    )
    client = await connect(alice)
    await client.open()
    frames = await client.say(COMPLEX_CODING)
    assert [r.json["model"] for r in fake_anthropic.chat_requests()] == [
        "claude-opus-4-6",
        "claude-sonnet-4-6",
    ]
    assert text_of(frames) == "Sonnet here."
    assert frames[-1]["routing"]["failover"] is True
    assert "fell back" in frames[-1]["routing"]["reason"]
    infos = of_type(frames, "session:info")
    assert infos[-1]["model"] == "claude-sonnet-4-6"
    record = await sync_to_async(RoutingDecisionRecord.objects.get)(
        message_id=frames[-1]["message_id"]
    )
    assert record.failover is True
    assert record.model == "claude-sonnet-4-6"
    await client.close()


async def test_missing_credential_skips_the_provider(
    alice: Any, upstreams: dict[str, str], settings: Any, fake_openai: Any
) -> None:
    settings.ANTHROPIC_API_KEY = ""
    client = await connect(alice)
    await client.open()
    frames = await client.say(COMPLEX_CODING)
    assert frames[-1]["provider"] == "openai"
    assert any("credential" in s["reason"] for s in frames[-1]["routing"]["skipped"])
    await client.close()


async def test_a_users_rule_changes_routing_for_that_user_only(
    alice: Any, bob: Any, upstreams: dict[str, str], fake_anthropic: Any, fake_zai: Any
) -> None:
    await sync_to_async(rule_create)(
        user=alice,
        name="my-coding",
        priority=1,
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "coding"}]},
        action={"route_to": {"provider": "zai", "model": "glm-5", "fallbacks": []}},
    )
    alice_client, bob_client = await connect(alice), await connect(bob)
    await alice_client.open()
    await bob_client.open()
    alice_frames = await alice_client.say(COMPLEX_CODING)
    assert alice_frames[-1]["model"] == "glm-5"
    assert "my-coding" in alice_frames[-1]["routing"]["reason"]
    bob_frames = await bob_client.say(COMPLEX_CODING)
    assert bob_frames[-1]["model"] == "claude-opus-4-6"
    await alice_client.close()
    await bob_client.close()


async def test_every_decision_is_stored_with_its_answer(
    alice: Any, upstreams: dict[str, str]
) -> None:
    client = await connect(alice)
    await client.open()
    frames = await client.say(WHAT_TIME)
    record = await sync_to_async(RoutingDecisionRecord.objects.get)(
        message_id=frames[-1]["message_id"]
    )
    assert record.user_id == alice.pk
    assert record.model == "claude-haiku-4-5"
    assert record.classification["task_type"] == "conversation"
    assert record.reason
    await client.close()


async def test_rule_routing_to_an_agent_uses_its_prompt_for_the_turn(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    await sync_to_async(rule_create)(
        user=alice,
        name="research-to-bot",
        priority=1,
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "summarization"}]},
        action={
            "route_to": {
                "provider": "anthropic",
                "model": "claude-haiku-4-5",
                "agent": "research-bot",
                "fallbacks": [],
            }
        },
    )
    client = await connect(alice)
    await client.open()
    await client.say(SUMMARIZE)
    system = fake_anthropic.chat_requests()[-1].json["system"]
    text = system if isinstance(system, str) else " ".join(b["text"] for b in system)
    assert "research bot" in text.lower()
    await client.close()


def test_seeded_rules_exist(db: None) -> None:
    assert RoutingRule.objects.filter(owner=None).count() >= 11
