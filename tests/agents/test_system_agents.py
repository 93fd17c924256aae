"""The seeded system agents (data migration 0002): distinct, valid, idempotent."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agents import services
from agents.models import AgentConfig
from tests.agents.helpers import seed_system_agents

pytestmark = pytest.mark.usefixtures("system_agents")

SEEDED = ("general", "coding-agent", "research-bot")


def system_agents() -> dict[str, AgentConfig]:
    return {a.slug: a for a in AgentConfig.objects.filter(owner__isnull=True)}


def test_the_seeded_agents_exist_and_are_system_agents() -> None:
    agents = system_agents()
    assert set(SEEDED) <= set(agents)
    assert all(agents[slug].is_system for slug in SEEDED)


def test_each_seeded_agent_has_its_own_prompt_and_tool_set() -> None:
    agents = system_agents()
    for one, other in itertools.combinations(SEEDED, 2):
        assert agents[one].system_prompt != agents[other].system_prompt
        assert set(agents[one].tool_allowlist) != set(agents[other].tool_allowlist)
    assert "coding" in agents["coding-agent"].system_prompt
    assert "research" in agents["research-bot"].system_prompt


@pytest.mark.parametrize("slug", SEEDED)
def test_each_seeded_agent_passes_the_same_validation_as_a_users(slug: str) -> None:
    agent = system_agents()[slug]
    fields = {name: getattr(agent, name) for name in services.AGENT_FIELDS}
    cleaned = services.agent_validate(data=fields)
    # Already normalised: validating changes nothing.
    assert cleaned == {**fields, "capabilities": cleaned["capabilities"]}
    assert cleaned["capabilities"]["domains"] == agent.capabilities["domains"]
    assert cleaned["capabilities"]["preferred_models"] == agent.capabilities["preferred_models"]


def test_coding_agent_declares_its_specialisation() -> None:
    coding = system_agents()["coding-agent"]
    assert set(coding.capabilities["domains"]) == {"frontend", "backend", "devops"}
    assert coding.capabilities["preferred_models"][0] == "anthropic:claude-opus-4-6"


def test_seeding_again_changes_nothing_and_leaves_users_agents_alone(alice: Any) -> None:
    mine = services.agent_create(user=alice, name="Mine", system_prompt="Mine.")
    before = {slug: (a.pk, a.system_prompt) for slug, a in system_agents().items()}
    seed_system_agents()
    seed_system_agents()
    assert {slug: (a.pk, a.system_prompt) for slug, a in system_agents().items()} == before
    assert AgentConfig.objects.filter(pk=mine.pk, owner=alice).exists()


# --- which agent a conversation opens with (agent_for_conversation) -----------------------------


def test_opening_picks_the_requested_then_the_stored_then_the_default_agent(alice: Any) -> None:
    from agents.selectors import agent_for_conversation
    from core.errors import NotFound

    mine = services.agent_create(user=alice, name="Mine", system_prompt="Mine.")

    def pick(requested: str | None, stored: str) -> str:
        return agent_for_conversation(user=alice, requested=requested, stored=stored).slug

    assert pick("research-bot", "mine") == "research-bot"
    assert pick(None, "mine") == "mine"
    assert pick(None, "") == "general"
    services.agent_delete(user=alice, agent_id=mine.pk)
    assert pick(None, "mine") == "general"  # deleted since: not locked out of the conversation
    with pytest.raises(NotFound, match="Unknown agent 'mine'"):
        pick("mine", "")  # asked for by the client: say so
