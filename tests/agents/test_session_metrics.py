"""Session metrics (M5-007): tokens, turns, switches, start/end, duration and cost, persisted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.models import Session
from conversations.models import Conversation
from mosaic.fakes.base import Script, ToolUse
from providers import catalog
from tests.agents.chat import ChatClient
from tests.agents.helpers import SONNET, eventually
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


def session_row(session_id: str) -> Session:
    return Session.objects.get(pk=session_id)


async def test_session_metrics_after_a_few_turns_switches_and_close(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await chat.open(model=SONNET)
    created = await sync_to_async(session_row)(info["session_id"])
    assert (created.agent_slug, created.model_override) == ("general", SONNET)
    assert created.ended_at is None
    assert created.duration_seconds is None

    fake_anthropic.script(
        Script(text="One.", input_tokens=100, output_tokens=10),
        # A turn with a tool call is two model calls; both count.
        Script(
            text="",
            tool_calls=[ToolUse("current_time", {})],
            input_tokens=200,
            output_tokens=20,
        ),
        Script(text="Two.", input_tokens=300, output_tokens=30),
        Script(text="Three.", input_tokens=400, output_tokens=40),
    )
    await chat.say("first")
    await chat.say("what time is it?")
    assert (await chat.command("/model claude-opus-4-6"))["ok"]
    assert (await chat.command("/model claude-opus-4-6"))["ok"]  # the same again: no switch
    assert (await chat.command("/agent research-bot"))["ok"]
    done = (await chat.say("third"))[-1]
    assert done["model"] == "claude-opus-4-6"

    # Read at once: the turn's metrics are stored before message:done is sent.
    session = await sync_to_async(session_row)(info["session_id"])
    assert session.turns == 3
    assert (session.input_tokens, session.output_tokens) == (1000, 100)
    assert (session.model_switches, session.agent_switches) == (1, 1)
    assert (session.model_override, session.agent_slug) == (
        "anthropic:claude-opus-4-6",
        "research-bot",
    )
    assert (session.last_provider, session.last_model) == ("anthropic", "claude-opus-4-6")
    sonnet = catalog.get_spec("anthropic", "claude-sonnet-4-6")
    opus = catalog.get_spec("anthropic", "claude-opus-4-6")
    assert sonnet is not None
    assert opus is not None
    expected = (catalog.estimate_cost(sonnet, 600, 60) or 0) + (
        catalog.estimate_cost(opus, 400, 40) or 0
    )
    assert expected > 0
    assert session.cost_usd == pytest.approx(Decimal(str(round(expected, 6))), abs=Decimal("2e-6"))
    assert session.ended_at is None

    await chat.close()
    ended = await eventually(
        lambda: (
            session_row(info["session_id"]).ended_at is not None and session_row(info["session_id"])
        )
    )
    assert ended.ended_at >= ended.started_at
    assert ended.duration_seconds is not None
    assert ended.duration_seconds > 0


async def test_model_without_prices_adds_no_cost(alice_chat: ChatClient, fake_ollama: Any) -> None:
    info, _ = await alice_chat.open(model="ollama:llama3.2")
    done = (await alice_chat.say("hello"))[-1]
    assert done["status"] == "complete"
    session = await sync_to_async(session_row)(info["session_id"])
    assert session.turns == 1
    assert session.input_tokens > 0
    assert session.cost_usd == 0


async def test_each_socket_has_its_own_session_bound_to_the_conversation(
    alice: Any, upstreams: dict[str, str]
) -> None:
    """M5-004: the conversation records the latest session; resuming it starts a new one."""
    token = await sync_to_async(token_for)(alice)
    first = await ChatClient.connect(token)
    info, _ = await first.open(agent="coding-agent")
    conversation = await sync_to_async(Conversation.objects.get)(pk=info["conversation_id"])
    assert str(conversation.session_id) == info["session_id"]
    assert conversation.agent_slug == "coding-agent"

    second = await ChatClient.connect(token)
    resumed, _ = await second.open(conversation_id=info["conversation_id"])
    assert resumed["session_id"] != info["session_id"]
    assert resumed["agent"] == "coding-agent"  # the agent config is loaded for the new session
    conversation = await sync_to_async(Conversation.objects.get)(pk=info["conversation_id"])
    assert str(conversation.session_id) == resumed["session_id"]
    await first.close()
    await second.close()

    sessions = Session.objects.filter(conversation_id=info["conversation_id"])
    assert await sync_to_async(sessions.count)() == 2
    assert await eventually(lambda: not sessions.filter(ended_at__isnull=True).exists())


async def test_opening_another_agent_on_the_same_socket_counts_an_agent_switch(
    alice_chat: ChatClient,
) -> None:
    info, _ = await alice_chat.open()
    again, _ = await alice_chat.open(conversation_id=info["conversation_id"], agent="research-bot")
    assert again["session_id"] == info["session_id"]
    assert again["agent"] == "research-bot"
    session = await sync_to_async(session_row)(info["session_id"])
    assert (session.agent_slug, session.agent_switches) == ("research-bot", 1)
