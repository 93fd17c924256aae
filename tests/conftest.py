"""Shared fixtures: a cast of users, API clients, tokens, live servers and the fake upstreams.

The cast: alice owns things, bob is a collaborator with his own data, charlie is an outsider.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.services import token_create
from conversations.models import Message
from core.db import stop_database_threads
from routing import cache as route_cache
from tests.live import LiveProcess, SharedDaphnes, start_celery_worker, start_daphne

User = get_user_model()

# The fake upstream LLM servers: the only stand-ins in the suite.
pytest_plugins = ["tests.fakes.fixtures_anthropic_ollama", "tests.fakes.fixtures_openai_family"]


@pytest.fixture(autouse=True)
def _isolated_cache() -> None:
    # The cache is the real Redis (a database of its own in tests); start every test empty.
    cache.clear()
    route_cache.invalidate_local_cache()


def make_user(username: str, **extra: Any) -> Any:
    return User.objects.create_user(username=username, password=f"{username}-Secret-pw-1", **extra)


@pytest.fixture
def alice(db: None) -> Any:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> Any:
    return make_user("bob")


@pytest.fixture
def charlie(db: None) -> Any:
    return make_user("charlie")


@pytest.fixture
def staff(db: None) -> Any:
    return make_user("sam", is_staff=True, is_superuser=True)


def token_for(user: Any) -> str:
    return token_create(user=user)[1]


def api_client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    return api_client_for(alice)


@pytest.fixture
def bob_api(bob: Any) -> APIClient:
    return api_client_for(bob)


@pytest.fixture
def live_server_factory(transactional_db: None, tmp_path: Path) -> Iterator[Any]:
    """Start daphne processes on the test database; all are stopped after the test."""
    started: list[LiveProcess] = []

    def start(env: dict[str, str] | None = None) -> LiveProcess:
        live = start_daphne(tmp_path, env)
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def shared_daphnes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDaphnes]:
    shared = SharedDaphnes(tmp_path_factory.mktemp("shared-daphne"), route_cache.REFRESH_SECONDS)
    yield shared
    shared.stop_all()


@pytest.fixture(scope="module")
def _shared_daphnes(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDaphnes]:
    """The daphnes ``shared_live_server`` starts, stopped after the module (a package's conftest
    may widen this to the package)."""
    yield from shared_daphnes(tmp_path_factory)


def _a_reply_is_streaming() -> bool:
    return Message.objects.filter(status=Message.Status.STREAMING).exists()


@pytest.fixture
def shared_live_server(transactional_db: None, _shared_daphnes: SharedDaphnes) -> Iterator[Any]:
    """Like ``live_server_factory``, but the daphne for an environment is started once per module
    (``_shared_daphnes``) and shared by its tests; ``SharedDaphnes`` (tests/live.py) says what
    keeps them apart. Only for tests that neither stop, restart nor kill the server, and leave
    no work running in it; the others use ``live_server_factory``."""

    def acquire(env: dict[str, str] | None = None) -> LiveProcess:
        # This test's rules are new rows (the flush removed the last test's): a version the
        # process has not seen makes it load them once its routing cache expires (acquire waits).
        cache.set(route_cache.RULES_VERSION_KEY, time.time_ns(), timeout=None)
        return _shared_daphnes.acquire(env)

    yield acquire
    _shared_daphnes.release(_a_reply_is_streaming)


@pytest.fixture
def celery_worker_process(transactional_db: None, tmp_path: Path) -> Iterator[LiveProcess]:
    worker = start_celery_worker(tmp_path)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """After the run, end sessions that server subprocesses or async threads left on the test DB.

    Otherwise DROP DATABASE fails with "being accessed by other users" at teardown.
    """
    yield
    stop_database_threads()  # this process's: they hand their connections back
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def upstreams(
    settings: Any,
    fake_anthropic: Any,
    fake_ollama: Any,
    fake_openai: Any,
    fake_openrouter: Any,
    fake_zai: Any,
) -> dict[str, str]:
    """Point every provider at its fake, with system-wide keys; returns the same as env vars
    for server subprocesses (``live_server_factory(upstreams)``)."""
    env = {
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-test-system-key",
        "OPENAI_BASE_URL": fake_openai.base_url + "/v1",
        "OPENAI_API_KEY": "sk-openai-test-system-key",
        "OPENROUTER_BASE_URL": fake_openrouter.api_base,
        "OPENROUTER_API_KEY": "sk-or-test-system-key",
        "ZAI_BASE_URL": fake_zai.api_base,
        "ZAI_API_KEY": "zai-test-system-key",
        "OLLAMA_BASE_URL": fake_ollama.base_url,
    }
    for key, value in env.items():
        setattr(settings, key, value)
    return env


SEED_MIGRATIONS = [
    "agents.migrations.0002_system_agents",
    "agents.migrations.0003_memory_tools",
    "routing.migrations.0002_default_rules",
    "routing.migrations.0003_research_rule_not_for_simple_questions",
]


def seed_reference_data() -> None:
    """Apply the data migrations that seed the system agents and default routing rules again.

    A transactional test's flush removes those rows, so every later test that needs them seeds
    them here: transactional tests through ``_seed_data`` below, others through a fixture such as
    ``default_rules`` (tests/routing/conftest.py). The migrations are idempotent."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    schema_editor = SimpleNamespace(connection=connection)
    for module_name in SEED_MIGRATIONS:
        importlib.import_module(module_name).seed(apps, schema_editor)


@pytest.fixture(autouse=True)
def _seed_data(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        seed_reference_data()
