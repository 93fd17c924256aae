"""Fixtures for the terminal client's tests: a real daphne whose providers are the fakes.

Every provider's base URL points at a fake upstream, so whatever routing chooses, a fake
answers and records the request (model, system prompt, history) for the test to check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.conftest import shared_daphnes, token_for
from tests.live import LiveProcess, SharedDaphnes, start_daphne


@dataclass
class ChatServer:
    """A running daphne and what a client needs to reach it."""

    live: LiveProcess
    token: str
    env: dict[str, str]
    tmp_path: Path
    started: list[LiveProcess]
    # Shared with the module's other tests (``chat_server``): never stopped by a test.
    shared: bool = False

    @property
    def url(self) -> str:
        return self.live.http_url

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop daphne and start a new one on the same port (the client must reconnect)."""
        import time

        assert not self.shared, "a test that restarts its server asks for own_chat_server"
        port = self.live.port
        self.live.stop()
        time.sleep(down_for)
        self.live = start_daphne(self.tmp_path, self.env, port=port)
        self.started.append(self.live)

    def stop(self) -> None:
        assert not self.shared, "a test that stops its server asks for own_chat_server"
        self.live.stop()


def seed_system_rows() -> None:
    """The system agents and default routing rules come from data migrations; a transactional
    test elsewhere in the run flushes the tables, which removes them. Seed again if missing."""
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    for app_label, model, migration in (
        ("agents", "AgentConfig", "agents.migrations.0002_system_agents"),
        ("routing", "RoutingRule", "routing.migrations.0002_default_rules"),
    ):
        if not apps.get_model(app_label, model).objects.filter(owner__isnull=True).exists():
            seed = importlib.import_module(migration).seed
            seed(apps, SimpleNamespace(connection=connection))


@pytest.fixture(scope="package")
def _shared_daphnes(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedDaphnes]:
    """Every module here runs the same daphne (providers on the fakes): one for the package."""
    yield from shared_daphnes(tmp_path_factory)


@pytest.fixture
def chat_server(
    alice: Any, upstreams: dict[str, str], shared_live_server: Any, tmp_path: Path
) -> ChatServer:
    """A daphne on the test database, every provider pointed at its fake; alice's token.

    The daphne is shared by the package's tests (``shared_live_server``); a test that stops or
    restarts it, or leaves a reply running, asks for ``own_chat_server``."""
    seed_system_rows()
    live = shared_live_server(upstreams)
    return ChatServer(
        live=live,
        token=token_for(alice),
        env=upstreams,
        tmp_path=tmp_path,
        started=[live],
        shared=True,
    )


@pytest.fixture
def own_chat_server(
    alice: Any, upstreams: dict[str, str], transactional_db: None, tmp_path: Path
) -> Iterator[ChatServer]:
    """Like ``chat_server``, with a daphne of this test's own, stopped after it."""
    seed_system_rows()
    started: list[LiveProcess] = []
    server = ChatServer(
        live=start_daphne(tmp_path, upstreams),
        token=token_for(alice),
        env=upstreams,
        tmp_path=tmp_path,
        started=started,
    )
    started.append(server.live)
    yield server
    for live in started:
        live.stop()


Condition = Callable[[], bool]


async def eventually(condition: Condition, *, within: float = 15.0, what: str = "") -> None:
    """Wait until ``condition()`` holds (polling), or fail saying what did not happen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or condition}")
        await asyncio.sleep(0.05)


async def in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run blocking test helpers (daphne start/stop, ORM) without blocking the event loop."""
    return await sync_to_async(func, thread_sensitive=False)(*args, **kwargs)


def server_log(server: ChatServer) -> str:
    return "\n".join(live.log()[-4000:] for live in server.started)
