"""Every REST endpoint, walked from the URL configuration: another user's object answers 404 (not
403, not 200, and it is left as it was), and no list or search shows another user's data.

The walk reads the URL patterns themselves, so a new endpoint fails here until it is listed in
``OBJECT_ENDPOINTS`` (with a factory that makes bob an object it can address) or in ``EXEMPT``
(with the reason it addresses no user's object). The socket's frames and slash commands get the
same walk in tests/agents/test_socket_isolation.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts import services as account_services
from agents import services as agent_services
from conversations import services as conversation_services
from memory import services as memory_services
from providers import services as provider_services
from routing import services as routing_services

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]


@pytest.fixture
def local_embeddings(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    settings.MOSAIC_EMBEDDING_DIMS = 0


MARKER = "zq-bob-private-7f3a"  # in every object bob owns; never in anything alice is shown
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Endpoint:
    """How to give bob an object this pattern addresses (returns the URL kwargs), and bodies
    for methods whose input is checked before the object is looked up."""

    make: Callable[[Any], dict[str, Any]]
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Methods that act on the caller's own namespace rather than on bob's object (an upsert by
    # key): they must leave bob's object unchanged, whatever they answer.
    own_namespace: tuple[str, ...] = ()


def bobs_conversation(bob: Any) -> dict[str, Any]:
    conversation = conversation_services.conversation_create(user=bob, title=MARKER)
    conversation_services.message_persist_user(
        user=bob, conversation_id=conversation.pk, content=MARKER
    )
    return {"conversation_id": str(conversation.pk)}


def bobs_agent(bob: Any) -> dict[str, Any]:
    agent = agent_services.agent_create(user=bob, name="Bob bot", system_prompt=MARKER)
    return {"agent_id": str(agent.pk)}


def bobs_session(bob: Any) -> dict[str, Any]:
    conversation = conversation_services.conversation_create(user=bob, title=MARKER)
    session = agent_services.session_start(
        user=bob, conversation_id=conversation.pk, agent_slug="general"
    )
    return {"session_id": str(session.pk)}


def bobs_rule(bob: Any) -> dict[str, Any]:
    rule = routing_services.rule_create(
        user=bob,
        name=MARKER,
        conditions={"all": []},
        action={"route_to": {"provider": "openai", "model": "gpt-5.4-nano"}},
    )
    return {"rule_id": rule.pk}


def bobs_credential(bob: Any) -> dict[str, Any]:
    credential = provider_services.credential_create(
        user=bob, provider="openai", api_key="sk-bob-0000000000000000", label=MARKER
    )
    return {"id": credential.pk}


def bobs_insight(bob: Any) -> dict[str, Any]:
    insight = memory_services.insight_save(user=bob, content=f"Bob's secret: {MARKER}").insight
    return {"insight_id": str(insight.pk)}


def bobs_preference(bob: Any) -> dict[str, Any]:
    memory_services.preference_set(user=bob, key="codename", value=MARKER)
    return {"key": "codename"}


def bobs_token(bob: Any) -> dict[str, Any]:
    token, _raw = account_services.token_create(user=bob, name=MARKER)
    return {"token_id": token.pk}


OBJECT_ENDPOINTS: dict[str, Endpoint] = {
    "auth-token-detail": Endpoint(bobs_token),
    "conversation-detail": Endpoint(bobs_conversation, {"patch": {"title": "mine"}}),
    "conversation-messages": Endpoint(bobs_conversation),
    "agent-detail": Endpoint(bobs_agent, {"patch": {"name": "Mine"}}),
    "session-detail": Endpoint(bobs_session),
    "routing:rule-detail": Endpoint(bobs_rule, {"patch": {"name": "mine"}}),
    "providers-detail": Endpoint(
        bobs_credential, {"patch": {"label": "mine"}, "put": {"label": "mine"}}
    ),
    "providers-test": Endpoint(bobs_credential),
    "memory:insight-detail": Endpoint(bobs_insight, {"patch": {"content": "mine now"}}),
    "memory:preference-detail": Endpoint(
        bobs_preference, {"put": {"value": "mine"}}, own_namespace=("put",)
    ),
}

EXEMPT = {
    # Keyed by a provider name, not by anyone's object: each acts on the caller's own login flow
    # (state kept under the caller's id), covered by tests/providers/test_oauth.py.
    "providers-oauth-start": "the caller's own OAuth flow for a provider",
    "providers-oauth-complete": "the caller's own OAuth flow for a provider",
    "providers-oauth-device": "the caller's own OAuth flow for a provider",
    "providers-oauth-device-poll": "the caller's own OAuth flow for a provider",
    # Staff only: the installation's job runs, schedules and queues, nobody's object; every other
    # user gets 404 for each of them (tests/jobs/test_jobs_api.py).
    "jobs:run-detail": "staff only: the installation's job runs",
    "jobs:run-retry": "staff only: the installation's job runs",
    "jobs:schedule-pause": "staff only: the installation's schedules",
    "jobs:schedule-resume": "staff only: the installation's schedules",
    "jobs:queue-pause": "staff only: the installation's queues",
    "jobs:queue-resume": "staff only: the installation's queues",
}


@dataclass(frozen=True)
class Route:
    path: str
    name: str
    view: Any
    has_parameters: bool


def api_routes() -> Iterator[Route]:
    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[Route]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace
                )
            elif isinstance(pattern, URLPattern):
                path = prefix + str(pattern.pattern)
                name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
                view = getattr(pattern.callback, "view_class", None)
                if path.startswith("api/") and view is not None:
                    yield Route(path, name, view, "<" in path)

    yield from walk(get_resolver().url_patterns, "", None)


def methods_of(view: Any) -> list[str]:
    return [m for m in METHODS if hasattr(view, m)]


def url_for(route: Route, kwargs: dict[str, Any]) -> str:
    path = route.path
    for key, value in kwargs.items():
        for converter in ("str", "int", "uuid", "slug", "path"):
            path = path.replace(f"<{converter}:{key}>", str(value))
    assert "<" not in path, f"{route.name}: no value for {path}"
    return "/" + path


def test_every_endpoint_that_addresses_an_object_is_walked() -> None:
    addressed = {r.name for r in api_routes() if r.has_parameters}
    missing = sorted(addressed - set(OBJECT_ENDPOINTS) - set(EXEMPT))
    assert not missing, (
        f"new endpoints {missing}: add each to OBJECT_ENDPOINTS (with a factory for bob's "
        "object) or to EXEMPT (saying why it addresses no user's object)"
    )
    assert not set(OBJECT_ENDPOINTS) - addressed, "OBJECT_ENDPOINTS names a route that is gone"


@pytest.mark.parametrize(
    "route", [r for r in api_routes() if r.name in OBJECT_ENDPOINTS], ids=lambda r: r.name
)
def test_another_users_object_answers_404_to_every_method(
    route: Route, alice_api: APIClient, bob: Any, bob_api: APIClient
) -> None:
    endpoint = OBJECT_ENDPOINTS[route.name]
    url = url_for(route, endpoint.make(bob))
    before = bob_api.get(url).content if "get" in methods_of(route.view) else b""
    # Upserts into the caller's own namespace go last: they create alice's own object there.
    ordered = sorted(methods_of(route.view), key=lambda m: m in endpoint.own_namespace)
    for method in ordered:
        response = getattr(alice_api, method)(url, endpoint.bodies.get(method, {}), format="json")
        if method in endpoint.own_namespace:
            assert MARKER not in response.content.decode(), (route.name, method)
            continue
        assert response.status_code == 404, (route.name, method, response.status_code)
        assert MARKER not in response.content.decode(), (route.name, method)
    if before:
        assert bob_api.get(url).content == before, f"{route.name}: bob's object changed"


@pytest.mark.usefixtures("system_agents_seeded")
def test_no_list_or_search_shows_another_users_data(alice_api: APIClient, bob: Any) -> None:
    for endpoint in OBJECT_ENDPOINTS.values():
        endpoint.make(bob)
    queries = {"q": MARKER, "text": MARKER}
    walked = []
    for route in api_routes():
        if route.has_parameters or "get" not in methods_of(route.view):
            continue
        response = alice_api.get("/" + route.path, queries)
        walked.append(route.name)
        assert response.status_code < 500, (route.name, response.status_code)
        assert MARKER not in response.content.decode(), route.name
    assert {"conversation-list", "conversation-search", "memory:insights"} <= set(walked)
    assert {"memory:insight-search", "memory:preferences", "session-list"} <= set(walked)


@pytest.fixture
def system_agents_seeded(db: None) -> None:
    from tests.conftest import seed_reference_data

    seed_reference_data()


def test_ids_that_do_not_exist_answer_the_same_404(alice_api: APIClient) -> None:
    """Not found and not yours are the same answer: nothing tells them apart."""
    for url in (
        f"/api/conversations/{uuid.uuid4()}",
        f"/api/memory/insights/{2**40}",
        "/api/memory/preferences/nothing-here",
        f"/api/providers/{uuid.uuid4()}",
        "/api/routing/rules/999999",
    ):
        assert alice_api.get(url).status_code == 404, url
