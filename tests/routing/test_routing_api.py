"""/api/routing/: rules CRUD, reorder, isolation between users, and explain."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from routing.models import RoutingRule
from tests.conftest import api_client_for

pytestmark = pytest.mark.usefixtures("default_rules", "every_provider_usable")

RULES = "/api/routing/rules"
EXPLAIN = "/api/routing/explain"
CONVERSATION = {"all": [{"field": "task_type", "op": "eq", "value": "conversation"}]}


def rule_body(name: str = "mine", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "conditions": CONVERSATION,
        "action": {"route_to": {"provider": "openai", "model": "gpt-5.4-mini"}},
        **extra,
    }


def create(client: APIClient, name: str = "mine", **extra: Any) -> dict[str, Any]:
    response = client.post(RULES, rule_body(name, **extra), format="json")
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return api_client_for(staff)


def test_list_shows_own_rules_first_then_flagged_system_rules(alice_api: APIClient) -> None:
    mine = create(alice_api)
    rules = alice_api.get(RULES).json()
    assert rules[0]["id"] == mine["id"]
    assert rules[0]["system"] is False
    assert rules[0]["editable"] is True
    system = rules[1:]
    assert [r["name"] for r in system][:2] == ["coding-complex", "coding-moderate"]
    assert all(r["system"] and not r["editable"] for r in system)
    assert system[0]["summary"] == (
        "task_type = coding AND complexity = complex → anthropic:claude-opus-4-6"
    )


def test_create_normalises_and_defaults_the_priority(alice_api: APIClient) -> None:
    first = create(alice_api, "one")
    second = create(alice_api, "two")
    assert (first["priority"], second["priority"]) == (1, 2)
    assert first["action"]["route_to"]["fallbacks"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"conditions": {"all": [{"field": "task_type", "op": "eq", "value": "cooking"}]}},
         "conditions.all[0].value: unknown task_type 'cooking'"),
        ({"conditions": {"all": [{"field": "vibe", "op": "eq", "value": "x"}]}},
         "conditions.all[0].field: unknown field 'vibe'"),
        ({"conditions": {"all": [{"field": "domain", "op": "gt", "value": "docs"}]}},
         "conditions.all[0].op: unknown operator 'gt'"),
        ({"action": {"route_to": {"provider": "acme", "model": "x"}}},
         "action.route_to.provider: unknown provider 'acme'"),
        ({"action": {"route_to": {"provider": "anthropic", "model": "claude-sonet-4-6"}}},
         "unknown anthropic model 'claude-sonet-4-6'. Did you mean: claude-sonnet-4-6"),
    ],
)  # fmt: skip
def test_invalid_rules_answer_400_naming_the_problem(
    alice_api: APIClient, change: dict[str, Any], message: str
) -> None:
    response = alice_api.post(RULES, {**rule_body(), **change}, format="json")
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not RoutingRule.objects.filter(owner__isnull=False).exists()


def test_openrouter_rule_accepts_any_well_formed_model(alice_api: APIClient) -> None:
    action = {"route_to": {"provider": "openrouter", "model": "meta-llama/llama-3.3-70b:free"}}
    assert alice_api.post(RULES, rule_body(action=action), format="json").status_code == 201


def test_duplicate_name_is_a_conflict(alice_api: APIClient) -> None:
    create(alice_api, "same")
    response = alice_api.post(RULES, rule_body("same"), format="json")
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_only_staff_create_system_rules(alice_api: APIClient, staff_api: APIClient) -> None:
    assert alice_api.post(RULES, rule_body(system=True), format="json").status_code == 403
    created = create(staff_api, "company-chat", system=True, priority=5)
    assert created["system"] is True
    assert RoutingRule.objects.get(pk=created["id"]).owner_id is None


def test_users_cannot_change_system_rules(alice_api: APIClient) -> None:
    system_id = RoutingRule.objects.get(owner=None, name="cheap").pk
    assert alice_api.get(f"{RULES}/{system_id}").status_code == 200
    assert (
        alice_api.patch(f"{RULES}/{system_id}", {"enabled": False}, format="json").status_code
        == 403
    )
    assert alice_api.delete(f"{RULES}/{system_id}").status_code == 403
    assert RoutingRule.objects.get(pk=system_id).enabled is True


def test_another_users_rule_answers_404(alice_api: APIClient, bob_api: APIClient) -> None:
    rule_id = create(alice_api)["id"]
    assert bob_api.get(f"{RULES}/{rule_id}").status_code == 404
    assert bob_api.patch(f"{RULES}/{rule_id}", {"enabled": False}, format="json").status_code == 404
    assert bob_api.delete(f"{RULES}/{rule_id}").status_code == 404
    assert rule_id not in [r["id"] for r in bob_api.get(RULES).json()]
    assert bob_api.post(f"{RULES}/reorder", {"order": [rule_id]}, format="json").status_code == 404


def test_update_and_delete_own_rule(alice_api: APIClient) -> None:
    rule_id = create(alice_api)["id"]
    response = alice_api.patch(
        f"{RULES}/{rule_id}",
        {"name": "renamed", "action": {"route_to": {"provider": "zai", "model": "glm-4.7"}}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert response.json()["action"]["route_to"]["model"] == "glm-4.7"
    bad = alice_api.patch(f"{RULES}/{rule_id}", {"conditions": {"any": []}}, format="json")
    assert bad.status_code == 400
    assert alice_api.delete(f"{RULES}/{rule_id}").status_code == 204
    assert alice_api.get(f"{RULES}/{rule_id}").status_code == 404


def test_reorder_sets_priorities_in_one_call(alice_api: APIClient) -> None:
    a, b, c = (create(alice_api, name)["id"] for name in ("a", "b", "c"))
    response = alice_api.post(f"{RULES}/reorder", {"order": [c, a]}, format="json")
    assert response.status_code == 200
    assert [(r["id"], r["priority"]) for r in response.json()] == [(c, 1), (a, 2), (b, 3)]


def test_reorder_refuses_mixed_duplicate_or_system_ids(alice_api: APIClient) -> None:
    mine = create(alice_api)["id"]
    cheap = RoutingRule.objects.get(owner=None, name="cheap").pk
    assert alice_api.post(f"{RULES}/reorder", {"order": [cheap]}, format="json").status_code == 403
    mixed = alice_api.post(f"{RULES}/reorder", {"order": [mine, cheap]}, format="json")
    assert mixed.status_code == 400
    assert "separately" in mixed.json()["detail"]
    assert (
        alice_api.post(f"{RULES}/reorder", {"order": [mine, mine]}, format="json").status_code
        == 400
    )


def test_staff_reorder_system_rules_keeping_the_rest_after(staff_api: APIClient) -> None:
    ids = {r.name: r.pk for r in RoutingRule.objects.filter(owner=None)}
    response = staff_api.post(
        f"{RULES}/reorder", {"order": [ids["summarization"], ids["coding-complex"]]}, format="json"
    )
    assert response.status_code == 200
    order = [(r["name"], r["priority"]) for r in response.json()]
    assert order[:3] == [("summarization", 1), ("coding-complex", 2), ("coding-moderate", 3)]
    assert order[-1] == ("offline", 99)


def test_explain_returns_classification_and_decision(alice_api: APIClient) -> None:
    response = alice_api.post(EXPLAIN, {"text": "what time is it"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["classification"]["task_type"] == "conversation"
    assert body["decision"]["model"] == "claude-haiku-4-5"
    assert body["decision"]["rule"] == "cheap"
    assert "matched rule 9 'cheap'" in body["decision"]["reason"]


def test_explain_uses_the_acting_users_rules(alice_api: APIClient, bob_api: APIClient) -> None:
    create(alice_api)
    assert (
        alice_api.post(EXPLAIN, {"text": "hello!"}, format="json").json()["decision"]["model"]
        == "gpt-5.4-mini"
    )
    assert (
        bob_api.post(EXPLAIN, {"text": "hello!"}, format="json").json()["decision"]["model"]
        == "claude-haiku-4-5"
    )


def test_explain_with_override_and_agent(alice_api: APIClient) -> None:
    from agents.models import AgentConfig

    AgentConfig.objects.update_or_create(
        owner=None,
        slug="coding-agent",
        defaults={
            "name": "Coding agent",
            "system_prompt": "Code.",
            "capabilities": {
                "domains": ["backend"],
                "preferred_models": ["anthropic:claude-opus-4-6"],
            },
        },
    )
    text = "How do I reverse a list in Python?"
    agent = alice_api.post(EXPLAIN, {"text": text, "agent": "coding-agent"}, format="json").json()
    assert agent["decision"]["model"] == "claude-opus-4-6"
    assert "coding-agent prefers it for backend" in agent["decision"]["reason"]

    pinned = alice_api.post(
        EXPLAIN, {"text": text, "model_override": "glm-5"}, format="json"
    ).json()
    assert pinned["decision"]["override"] is True
    assert pinned["decision"]["model"] == "glm-5"


def test_explain_refuses_unknown_models_and_agents(alice_api: APIClient) -> None:
    bad_model = alice_api.post(
        EXPLAIN, {"text": "hi", "model_override": "claude-sonet-4-6"}, format="json"
    )
    assert bad_model.status_code == 400
    assert bad_model.json()["detail"].startswith("Unknown model 'claude-sonet-4-6'. Did you mean")
    bad_agent = alice_api.post(EXPLAIN, {"text": "hi", "agent": "nobody"}, format="json")
    assert bad_agent.status_code == 400
    assert bad_agent.json()["detail"].startswith("Unknown agent 'nobody'.")


def test_routing_api_requires_authentication() -> None:
    client = APIClient()
    assert client.get(RULES).status_code in (401, 403)
    assert client.post(EXPLAIN, {"text": "hi"}, format="json").status_code in (401, 403)
