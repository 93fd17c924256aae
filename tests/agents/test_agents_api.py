"""/api/agents and /api/sessions: users see system agents and their own (M2-006), change only
their own; another user's agent or session is 404; system agents are read-only (403)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents import services
from agents.models import AgentConfig, Session
from conversations import services as conversation_services
from tests.agents.helpers import pinned_decision

pytestmark = pytest.mark.usefixtures("system_agents")

AGENTS = "/api/agents"
SESSIONS = "/api/sessions"


def new_agent(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Release notes writer",
        "system_prompt": "You write crisp release notes.",
        "tool_allowlist": ["conversation_search"],
        **fields,
    }


@pytest.fixture
def bobs_agent(bob: Any) -> AgentConfig:
    return services.agent_create(
        user=bob, slug="bobs-agent", name="Bob's agent", system_prompt="Bob's secret prompt."
    )


def slugs(response: Any) -> list[str]:
    return [agent["slug"] for agent in response.json()]


# --- list and read ------------------------------------------------------------------------------


def test_list_shows_system_agents_then_the_users_own(
    alice_api: APIClient, alice: Any, bobs_agent: AgentConfig
) -> None:
    services.agent_create(user=alice, name="Zed", system_prompt="z")
    services.agent_create(user=alice, name="Abe", system_prompt="a")
    response = alice_api.get(AGENTS)
    assert response.status_code == 200
    assert slugs(response) == ["coding-agent", "general", "research-bot", "abe", "zed"]
    by_slug = {a["slug"]: a for a in response.json()}
    assert by_slug["general"]["system"] is True
    assert by_slug["abe"]["system"] is False
    assert set(by_slug["coding-agent"]) == {
        "id", "slug", "name", "description", "system_prompt", "default_provider", "default_model",
        "tool_allowlist", "skills", "capabilities", "system", "created_at", "updated_at",
    }  # fmt: skip


def test_list_query_count_is_constant(
    alice_api: APIClient, alice: Any, django_assert_max_num_queries: Any
) -> None:
    for index in range(5):
        services.agent_create(user=alice, name=f"Agent {index}", system_prompt="p")
    with django_assert_max_num_queries(3):  # auth token + the list
        assert len(alice_api.get(AGENTS).json()) == 8


def test_system_agent_detail_is_readable(alice_api: APIClient) -> None:
    general = AgentConfig.objects.get(slug="general", owner=None)
    response = alice_api.get(f"{AGENTS}/{general.pk}")
    assert response.status_code == 200
    assert response.json()["system_prompt"] == general.system_prompt


def test_another_users_agent_is_404_on_every_method(
    alice_api: APIClient, bobs_agent: AgentConfig
) -> None:
    url = f"{AGENTS}/{bobs_agent.pk}"
    assert "bobs-agent" not in slugs(alice_api.get(AGENTS))
    for response in (
        alice_api.get(url),
        alice_api.patch(url, {"name": "Mine now"}, format="json"),
        alice_api.delete(url),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "Agent not found.", "code": "not_found"}
    bobs_agent.refresh_from_db()
    assert bobs_agent.name == "Bob's agent"


@pytest.mark.parametrize("agent_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_agent_id_is_404(alice_api: APIClient, agent_id: str) -> None:
    response = alice_api.get(f"{AGENTS}/{agent_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_requests_are_refused(db: None) -> None:
    client = APIClient()
    assert client.get(AGENTS).status_code in (401, 403)
    assert client.post(AGENTS, new_agent(), format="json").status_code in (401, 403)
    assert client.get(SESSIONS).status_code in (401, 403)


# --- create -------------------------------------------------------------------------------------


def test_create_returns_the_agent_owned_by_the_user(
    alice_api: APIClient, bob_api: APIClient, alice: Any
) -> None:
    response = alice_api.post(
        AGENTS,
        new_agent(
            description="Turns changelogs into notes.",
            default_model="claude-sonnet-4-6",
            skills=["changelogs", "changelogs", "semver"],
            capabilities={"domains": ["docs"], "preferred_models": ["glm-5"]},
        ),
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "release-notes-writer"  # made from the name
    assert body["system"] is False
    assert (body["default_provider"], body["default_model"]) == ("anthropic", "claude-sonnet-4-6")
    assert body["skills"] == ["changelogs", "semver"]
    assert body["capabilities"] == {"domains": ["docs"], "preferred_models": ["zai:glm-5"]}
    agent = AgentConfig.objects.get(pk=body["id"])
    assert agent.owner == alice
    assert "release-notes-writer" in slugs(alice_api.get(AGENTS))
    assert "release-notes-writer" not in slugs(bob_api.get(AGENTS))


def test_two_users_may_use_the_same_slug(alice_api: APIClient, bob_api: APIClient) -> None:
    assert alice_api.post(AGENTS, new_agent(slug="helper"), format="json").status_code == 201
    assert bob_api.post(AGENTS, new_agent(slug="helper"), format="json").status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (new_agent(name=""), "name", "may not be blank"),
        (new_agent(system_prompt=""), "system_prompt", "may not be blank"),
        ({"name": "No prompt"}, "system_prompt", "required"),
        (new_agent(tool_allowlist="calculator"), "tool_allowlist", "list"),
        (new_agent(capabilities={"domains": "backend"}), "capabilities", "list"),
        (new_agent(capabilities={"moods": ["happy"]}), "capabilities", "Unknown key"),
        (new_agent(owner=2), "owner", "Unknown field"),
        (new_agent(system=True), None, None),  # read-only output fields are ignored
    ],
)
def test_create_refuses_malformed_input_naming_the_field(
    alice_api: APIClient, body: dict[str, Any], field: str | None, message: str | None
) -> None:
    response = alice_api.post(AGENTS, body, format="json")
    if field is None:
        assert response.status_code == 201
        assert response.json()["system"] is False
        return
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message is not None
    assert message in str(errors[field])


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"slug": "Has Spaces"}, "slug: 'Has Spaces' is not a slug"),
        ({"slug": "-leading"}, "slug: '-leading' is not a slug"),
        ({"name": "!!!"}, "slug: cannot make one from the name '!!!'; give a slug."),
        (
            {"tool_allowlist": ["calculator", "shell", "rm"]},
            "tool_allowlist: unknown tools 'shell', 'rm'. "
            "Available tools: calculator, conversation_search, current_time, "
            "memory_get_preferences, memory_save_insight, memory_search, memory_set_preference.",
        ),
        (
            {"capabilities": {"domains": ["cooking"]}},
            "capabilities.domains: unknown domain 'cooking'; "
            "expected any of frontend, backend, devops, docs, general.",
        ),
        (
            {"capabilities": {"preferred_models": ["claude-opus-9"]}},
            "capabilities.preferred_models[0]: Unknown model 'claude-opus-9'.",
        ),
        ({"default_model": "gpt-9000"}, "default_model: Unknown model 'gpt-9000'."),
        ({"default_provider": "openai"}, "default_model: give a model with default_provider."),
        (
            {"default_provider": "anthropic", "default_model": "openai:gpt-5.4"},
            "default_provider: 'anthropic' does not match default_model 'openai:gpt-5.4'.",
        ),
        ({"default_model": "nomic-embed-text"}, "embedding model"),
        ({"skills": ["x" * 65]}, "skills: "),
    ],
)
def test_create_refuses_invalid_values_with_the_field_and_problem(
    alice_api: APIClient, fields: dict[str, Any], detail: str
) -> None:
    response = alice_api.post(AGENTS, new_agent(**fields), format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    if "detail" in body:
        assert body["code"] == "invalid"
        assert body["detail"].startswith(detail) or detail in body["detail"], body["detail"]
    else:  # caught by the serializer's shape check
        assert detail.split(":", maxsplit=1)[0] in body


def test_create_with_a_system_agents_slug_is_a_conflict(alice_api: APIClient) -> None:
    response = alice_api.post(AGENTS, new_agent(slug="coding-agent"), format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "slug: 'coding-agent' is a system agent's slug; choose another."
    )


def test_create_with_a_slug_the_user_already_has_is_a_conflict(alice_api: APIClient) -> None:
    assert alice_api.post(AGENTS, new_agent(), format="json").status_code == 201
    response = alice_api.post(AGENTS, new_agent(), format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "slug: you already have an agent 'release-notes-writer'."


def test_model_ids_are_normalised_to_provider_and_model(alice_api: APIClient) -> None:
    body = alice_api.post(
        AGENTS,
        new_agent(
            default_model="ollama:qwen2.5-coder:7b",
            capabilities={"preferred_models": ["gpt-5.4", "openai:gpt-5.4", "claude-opus-4-6"]},
        ),
        format="json",
    ).json()
    assert (body["default_provider"], body["default_model"]) == ("ollama", "qwen2.5-coder:7b")
    assert body["capabilities"]["preferred_models"] == [
        "openai:gpt-5.4",
        "anthropic:claude-opus-4-6",
    ]


# --- update and delete --------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(alice_api: APIClient) -> None:
    created = alice_api.post(
        AGENTS, new_agent(default_model="claude-sonnet-4-6"), format="json"
    ).json()
    url = f"{AGENTS}/{created['id']}"
    response = alice_api.patch(
        url, {"system_prompt": "  Shorter notes.  ", "tool_allowlist": []}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["system_prompt"] == "Shorter notes."
    assert body["tool_allowlist"] == []
    assert body["name"] == created["name"]
    assert body["default_model"] == "claude-sonnet-4-6"
    # A new model with a bare id is looked up afresh, not glued to the old provider.
    body = alice_api.patch(url, {"default_model": "gpt-5.4"}, format="json").json()
    assert (body["default_provider"], body["default_model"]) == ("openai", "gpt-5.4")
    # A read-back object can be sent again as it is.
    assert alice_api.patch(url, body, format="json").status_code == 200


def test_patch_validates_like_create(alice_api: APIClient) -> None:
    created = alice_api.post(AGENTS, new_agent(), format="json").json()
    url = f"{AGENTS}/{created['id']}"
    response = alice_api.patch(url, {"tool_allowlist": ["shell"]}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("tool_allowlist: unknown tool 'shell'.")
    response = alice_api.patch(url, {"name": ""}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert alice_api.patch(url, {"colour": "blue"}, format="json").json() == {
        "colour": ["Unknown field."]
    }
    assert alice_api.patch(url, {"slug": "general"}, format="json").status_code == 409


def test_patch_can_rename_the_slug(alice_api: APIClient) -> None:
    created = alice_api.post(AGENTS, new_agent(), format="json").json()
    response = alice_api.patch(f"{AGENTS}/{created['id']}", {"slug": "notes"}, format="json")
    assert response.status_code == 200
    assert "notes" in slugs(alice_api.get(AGENTS))


def test_delete_removes_the_users_own_agent(alice_api: APIClient) -> None:
    created = alice_api.post(AGENTS, new_agent(), format="json").json()
    assert alice_api.delete(f"{AGENTS}/{created['id']}").status_code == 204
    assert alice_api.get(f"{AGENTS}/{created['id']}").status_code == 404


@pytest.mark.parametrize("as_staff", [False, True])
def test_system_agents_are_read_only_through_the_api(
    alice_api: APIClient, staff: Any, as_staff: bool
) -> None:
    from tests.conftest import api_client_for

    client = api_client_for(staff) if as_staff else alice_api
    general = AgentConfig.objects.get(slug="general", owner=None)
    url = f"{AGENTS}/{general.pk}"
    for response in (
        client.patch(url, {"system_prompt": "You are evil."}, format="json"),
        client.delete(url),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == (
            "System agents are read-only here; staff change them in the admin."
        )
    general.refresh_from_db()
    assert general.system_prompt.startswith("You are Mosaic")


# --- tools --------------------------------------------------------------------------------------


def test_tools_endpoint_lists_what_an_allowlist_may_name(alice_api: APIClient) -> None:
    response = alice_api.get(f"{AGENTS}/tools")
    assert response.status_code == 200
    tools = response.json()
    assert [t["name"] for t in tools] == [
        "calculator", "conversation_search", "current_time", "memory_get_preferences",
        "memory_save_insight", "memory_search", "memory_set_preference",
    ]  # fmt: skip
    assert tools[0]["parameters"]["required"] == ["expression"]
    assert all(t["description"] for t in tools)


# --- sessions -----------------------------------------------------------------------------------


@pytest.fixture
def sessions(alice: Any, bob: Any) -> dict[str, Session]:
    alice_conversation = conversation_services.conversation_create(user=alice)
    bob_conversation = conversation_services.conversation_create(user=bob)
    made = {
        "alice_old": services.session_start(
            user=alice, conversation_id=alice_conversation.pk, agent_slug="general"
        ),
        "alice_new": services.session_start(
            user=alice, conversation_id=None, agent_slug="coding-agent"
        ),
        "bob": services.session_start(
            user=bob, conversation_id=bob_conversation.pk, agent_slug="general"
        ),
    }
    services.turn_record(  # $3 and $15 per million tokens: 0.00081
        user=alice,
        session_id=made["alice_old"].pk,
        decision=pinned_decision(),
        message_id=None,
        input_tokens=120,
        output_tokens=30,
    )
    services.session_end(user=alice, session_id=made["alice_old"].pk)
    return made


def test_sessions_list_shows_only_the_users_own_newest_first(
    alice_api: APIClient, sessions: dict[str, Session]
) -> None:
    response = alice_api.get(SESSIONS)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    ids = [s["id"] for s in body["results"]]
    assert ids == [str(sessions["alice_new"].pk), str(sessions["alice_old"].pk)]


def test_sessions_can_be_filtered_by_conversation(
    alice_api: APIClient, sessions: dict[str, Session]
) -> None:
    conversation = sessions["alice_old"].conversation_id
    body = alice_api.get(SESSIONS, {"conversation": str(conversation)}).json()
    assert [s["id"] for s in body["results"]] == [str(sessions["alice_old"].pk)]
    assert alice_api.get(SESSIONS, {"conversation": "nope"}).status_code == 400


def test_session_detail_has_the_metrics(alice_api: APIClient, sessions: dict[str, Session]) -> None:
    response = alice_api.get(f"{SESSIONS}/{sessions['alice_old'].pk}")
    assert response.status_code == 200
    body = response.json()
    assert (body["turns"], body["input_tokens"], body["output_tokens"]) == (1, 120, 30)
    assert body["cost_usd"] == "0.000810"
    assert (body["last_provider"], body["last_model"]) == ("anthropic", "claude-sonnet-4-6")
    assert body["ended_at"] is not None
    assert body["duration_seconds"] >= 0
    assert body["agent_slug"] == "general"
    running = alice_api.get(f"{SESSIONS}/{sessions['alice_new'].pk}").json()
    assert running["ended_at"] is None
    assert running["duration_seconds"] is None


@pytest.mark.parametrize("which", ["bob", "missing", "garbage"])
def test_another_users_or_unknown_session_is_404(
    alice_api: APIClient, sessions: dict[str, Session], which: str
) -> None:
    session_id = {
        "bob": str(sessions["bob"].pk),
        "missing": str(uuid.uuid4()),
        "garbage": "not-a-uuid",
    }[which]
    response = alice_api.get(f"{SESSIONS}/{session_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Session not found.", "code": "not_found"}
