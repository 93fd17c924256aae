"""The Django admin: staff manage system agents (validated like the API) and inspect sessions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from agents import services
from agents.models import AgentConfig

pytestmark = pytest.mark.usefixtures("system_agents")

AGENTS = "/admin/agents/agentconfig/"
SESSIONS = "/admin/agents/session/"


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def form_data(**fields: Any) -> dict[str, Any]:
    data = {
        "owner": "",
        "slug": "translator",
        "name": "Translator",
        "description": "Translates text.",
        "system_prompt": "You translate faithfully.",
        "default_provider": "",
        "default_model": "",
        "tool_allowlist": json.dumps(["conversation_search"]),
        "skills": "[]",
        "capabilities": json.dumps({"domains": ["docs"], "preferred_models": []}),
    }
    data.update(fields)
    return data


def test_agent_changelist_and_change_page_load_for_staff(staff_client: Client, alice: Any) -> None:
    services.agent_create(user=alice, name="Alice's helper", system_prompt="Help.")
    response = staff_client.get(AGENTS)
    assert response.status_code == 200
    page = response.content.decode()
    for slug in ("general", "coding-agent", "research-bot", "alices-helper"):
        assert slug in page
    assert staff_client.get(AGENTS, {"scope": "system"}).status_code == 200
    assert "alices-helper" not in staff_client.get(AGENTS, {"scope": "system"}).content.decode()
    general = AgentConfig.objects.get(slug="general", owner=None)
    assert staff_client.get(f"{AGENTS}{general.pk}/change/").status_code == 200
    assert staff_client.get(f"{AGENTS}add/").status_code == 200


def test_session_changelist_and_detail_load_for_staff(staff_client: Client, alice: Any) -> None:
    session = services.session_start(user=alice, conversation_id=None, agent_slug="general")
    services.session_end(user=alice, session_id=session.pk)
    response = staff_client.get(SESSIONS)
    assert response.status_code == 200
    assert str(session.pk) in response.content.decode()
    assert staff_client.get(f"{SESSIONS}{session.pk}/change/").status_code == 200
    assert staff_client.get(f"{SESSIONS}add/").status_code == 403


def test_staff_create_a_system_agent_in_the_admin(staff_client: Client) -> None:
    response = staff_client.post(f"{AGENTS}add/", form_data(default_model="claude-haiku-4-5"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    agent = AgentConfig.objects.get(slug="translator")
    assert agent.is_system
    assert (agent.default_provider, agent.default_model) == ("anthropic", "claude-haiku-4-5")


def test_staff_change_a_system_agents_prompt(staff_client: Client) -> None:
    general = AgentConfig.objects.get(slug="general", owner=None)
    data = form_data(
        slug="general",
        name=general.name,
        system_prompt="You are Mosaic, revised.",
        tool_allowlist=json.dumps(general.tool_allowlist),
        capabilities=json.dumps(general.capabilities),
    )
    response = staff_client.post(f"{AGENTS}{general.pk}/change/", data)
    assert response.status_code == 302
    general.refresh_from_db()
    assert general.system_prompt == "You are Mosaic, revised."


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tool_allowlist": '["shell"]'}, "tool_allowlist: unknown tool &#x27;shell&#x27;"),
        ({"slug": "Not A Slug"}, "slug"),
        ({"capabilities": '{"domains": ["cooking"]}'}, "unknown domain &#x27;cooking&#x27;"),
        ({"default_model": "claude-opus-9"}, "Unknown model &#x27;claude-opus-9&#x27;"),
    ],
)
def test_admin_form_validates_like_the_api(
    staff_client: Client, fields: dict[str, Any], message: str
) -> None:
    response = staff_client.post(f"{AGENTS}add/", form_data(**fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not AgentConfig.objects.filter(name="Translator").exists()


def test_agent_admin_is_staff_only(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    for url in (AGENTS, SESSIONS):
        response = client.get(url)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
