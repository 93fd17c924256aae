"""Routing meets agents (M4-011): the session agent's declared domains and preferred models reach
routing, and a routing rule's prompt override and tool allowlist reach the model — end to end
over the socket, as recorded by the fake upstreams."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents import services
from mosaic.fakes.base import Script, ToolUse
from tests.agents.chat import ChatClient, of_type
from tests.agents.helpers import agent_row, tool_names

pytestmark = pytest.mark.django_db(transaction=True)

# Classified coding + moderate + backend (the default rule 2 routes it to Sonnet).
# coding + moderate + backend, with a clear margin (94 %) under the shipped classifier
BACKEND_CODING = (
    "Write a Flask endpoint that returns one user's orders from PostgreSQL, with a test"
)


async def test_coding_agent_prefers_its_model_for_backend_coding(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    coding = await sync_to_async(agent_row)("coding-agent")
    preferred = coding.capabilities["preferred_models"][0]
    assert preferred == "anthropic:claude-opus-4-6"
    assert "backend" in coding.capabilities["domains"]

    await alice_chat.open(agent="coding-agent")
    frames = await alice_chat.say(BACKEND_CODING)

    info = of_type(frames, "session:info")[-1]
    done = frames[-1]
    for routing in (info["routing"], done["routing"]):
        assert routing["classification"]["domain"] == "backend"
        assert routing["override"] is False
        assert "coding-agent prefers it for backend" in routing["reason"]
    assert f"{done['provider']}:{done['model']}" == preferred
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["model"] == "claude-opus-4-6"
    assert sent["system"] == coding.system_prompt


async def test_without_the_agent_the_same_message_follows_the_rule(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    """The contrast: the general agent declares no preference, so rule 2 picks Sonnet."""
    await alice_chat.open(agent="general")
    done = (await alice_chat.say(BACKEND_CODING))[-1]
    assert done["model"] == "claude-sonnet-4-6"
    assert "prefers" not in done["routing"]["reason"]
    assert fake_anthropic.chat_requests()[-1].json["model"] == "claude-sonnet-4-6"


async def test_a_users_own_agent_declares_capabilities_that_routing_uses(
    alice_chat: ChatClient, alice: Any, fake_zai: Any
) -> None:
    await sync_to_async(services.agent_create)(
        user=alice,
        slug="glm-coder",
        name="GLM coder",
        system_prompt="You write backend code.",
        capabilities={"domains": ["backend"], "preferred_models": ["zai:glm-5"]},
    )
    await alice_chat.open(agent="glm-coder")
    done = (await alice_chat.say(BACKEND_CODING))[-1]
    assert (done["provider"], done["model"]) == ("zai", "glm-5")
    assert "glm-coder prefers it for backend" in done["routing"]["reason"]
    sent = fake_zai.chat_requests()[-1].json
    assert sent["model"] == "glm-5"
    assert sent["messages"][0] == {"role": "system", "content": "You write backend code."}


async def test_preference_applies_only_in_the_agents_domains(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    """A general-domain message to coding-agent is routed by the rules as usual."""
    await alice_chat.open(agent="coding-agent")
    done = (await alice_chat.say("hello there"))[-1]
    assert done["routing"]["classification"]["domain"] == "general"
    assert "prefers" not in done["routing"]["reason"]
    assert done["model"] == "claude-haiku-4-5"


async def test_a_pinned_model_beats_the_agents_preference(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await alice_chat.open(agent="coding-agent", model="claude-haiku-4-5")
    done = (await alice_chat.say(BACKEND_CODING))[-1]
    assert done["model"] == "claude-haiku-4-5"
    assert done["routing"]["override"] is True


async def test_a_rules_prompt_override_and_narrower_allowlist_reach_the_model(
    alice_chat: ChatClient, alice: Any, fake_anthropic: Any
) -> None:
    """A user rule may replace the system prompt and narrow — never widen — the agent's tools."""
    from routing import services as routing_services

    await sync_to_async(routing_services.rule_create)(
        user=alice,
        name="terse conversation",
        conditions={"all": [{"field": "task_type", "op": "eq", "value": "conversation"}]},
        action={
            "route_to": {
                "provider": "anthropic",
                "model": "claude-haiku-4-5",
                "system_prompt_override": "Answer in five words or fewer.",
                # research-bot has all three; current_time is not in coding-agent's list.
                "tool_allowlist": ["calculator", "current_time"],
            }
        },
    )
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("conversation_search", {"query": "x"})]),
        Script(text="Cannot search now."),
    )
    await alice_chat.open(agent="research-bot")
    frames = await alice_chat.say("hello there")
    sent = fake_anthropic.chat_requests()[0].json
    assert sent["model"] == "claude-haiku-4-5"
    assert sent["system"] == "Answer in five words or fewer."
    assert tool_names(sent) == ["calculator", "current_time"]
    # A tool the rule took away is refused even if the model asks for it.
    result = of_type(frames, "tool:result")[0]
    assert result["is_error"] is True
    assert "not available to this agent" in result["result"]

    assert (await alice_chat.command("/agent coding-agent"))["ok"]
    await alice_chat.say("hello again")
    assert tool_names(fake_anthropic.chat_requests()[-1].json) == ["calculator"]
