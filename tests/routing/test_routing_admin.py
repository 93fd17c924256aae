"""The Django admin for routing rules: list editing, schema validation, the explain box."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from providers.registry import PROVIDERS
from routing import cache as route_cache
from routing import engine
from routing.classifier import classify
from routing.models import RoutingRule

pytestmark = pytest.mark.usefixtures("default_rules", "every_provider_usable")

CHANGELIST = "/admin/routing/routingrule/"
EXPLAIN = "/admin/agents/agentconfig/explain-routing/"


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_changelist_lists_rules_with_editable_priority(staff_client: Client) -> None:
    response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "coding-complex" in page
    # The model, then each fallback on a line of its own, never cut inside a model id.
    step = '<span style="white-space: nowrap">{}</span>'
    chain = ["anthropic:claude-opus-4-6", "→ anthropic:claude-sonnet-4-6", "→ openai:gpt-5.4"]
    assert "<br>".join(step.format(s) for s in chain) in page
    assert 'name="form-0-priority"' in page
    assert "Explain a message" in page


def test_explain_box_shows_classification_and_decision(staff_client: Client) -> None:
    assert staff_client.get(EXPLAIN).status_code == 200
    response = staff_client.post(EXPLAIN, {"text": "what time is it"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "anthropic:claude-haiku-4-5" in page
    assert "conversation + simple matched rule 9 &#x27;cheap&#x27;" in page
    assert "&quot;task_type&quot;: &quot;conversation&quot;" in page


def test_explain_box_reports_bad_input(staff_client: Client) -> None:
    response = staff_client.post(EXPLAIN, {"text": "hi", "model_override": "claude-sonet-4-6"})
    assert "Did you mean: claude-sonnet-4-6" in response.content.decode()
    response = staff_client.post(EXPLAIN, {"text": "hi", "as_user": "nobody"})
    assert "No such user." in response.content.decode()


def test_explain_box_can_act_as_another_user(staff_client: Client, alice: Any) -> None:
    RoutingRule.objects.create(
        owner=alice,
        name="alice-chat",
        priority=1,
        conditions={"all": []},
        action={"route_to": {"provider": "zai", "model": "glm-4.7", "fallbacks": []}},
    )
    route_cache.invalidate_local_cache()
    response = staff_client.post(EXPLAIN, {"text": "hi", "as_user": "alice"})
    assert "zai:glm-4.7" in response.content.decode()


def test_explain_box_is_staff_only(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    response = client.get(EXPLAIN)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_form_validates_with_the_rule_schema(staff_client: Client) -> None:
    response = staff_client.post(
        f"{CHANGELIST}add/",
        {
            "name": "bad",
            "priority": 3,
            "enabled": "on",
            "conditions": '{"all": [{"field": "task_type", "op": "eq", "value": "cooking"}]}',
            "action": '{"route_to": {"provider": "anthropic", "model": "claude-sonnet-4-6"}}',
        },
    )
    assert response.status_code == 200
    assert "unknown task_type &#x27;cooking&#x27;" in response.content.decode()
    assert not RoutingRule.objects.filter(name="bad").exists()


def test_admin_save_changes_routing_at_once(staff_client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(route_cache, "REFRESH_SECONDS", 3600.0)

    def model() -> str:
        decision = engine.resolve(
            classify("what time is it"),
            user=AnonymousUser(),  # type: ignore[arg-type]
            usable_providers=set(PROVIDERS),
            health={},
        )
        return decision.model_ref

    assert model() == "anthropic:claude-haiku-4-5"
    cheap = RoutingRule.objects.get(owner=None, name="cheap")
    response = staff_client.post(
        f"{CHANGELIST}{cheap.pk}/change/",
        {
            "name": "cheap",
            "priority": 9,
            "enabled": "on",
            "conditions": '{"any": [{"field": "cost_tier", "op": "eq", "value": "cheap"}]}',
            "action": '{"route_to": {"provider": "openai", "model": "gpt-5.4-nano"}}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert model() == "openai:gpt-5.4-nano"


def test_list_editable_priority_save_goes_through_the_service(staff_client: Client) -> None:
    rules = list(RoutingRule.objects.order_by("owner", "priority", "id"))
    data: dict[str, Any] = {
        "form-TOTAL_FORMS": str(len(rules)),
        "form-INITIAL_FORMS": str(len(rules)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, rule in enumerate(rules):
        data[f"form-{index}-id"] = str(rule.pk)
        data[f"form-{index}-priority"] = str(rule.priority)
        if rule.enabled and rule.name != "cheap":
            data[f"form-{index}-enabled"] = "on"
    response = staff_client.post(CHANGELIST, data)
    assert response.status_code == 302
    assert RoutingRule.objects.get(owner=None, name="cheap").enabled is False
    decision = engine.resolve(
        classify("what time is it"),
        user=AnonymousUser(),  # type: ignore[arg-type]
        usable_providers=set(PROVIDERS),
        health={},
    )
    assert decision.rule != "cheap"
