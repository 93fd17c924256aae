"""Fixtures of the fault suite: real daphne processes whose PostgreSQL or Redis can be taken
away (``tests/faults/breakers.py``), a client for them, and short deadlines."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.agents.chat import ChatClient
from tests.conftest import token_for
from tests.faults.breakers import SocketProxy, postgres_proxy, redis_proxy

# Short enough that a test does not wait long, long enough for a busy 2-core machine.
FAST = {
    "MOSAIC_FIRST_TOKEN_TIMEOUT": "2",
    "MOSAIC_STREAM_IDLE_TIMEOUT": "2",
    "MOSAIC_TURN_LOCK_SECONDS": "1.5",
    "MOSAIC_STREAM_SAVE_SECONDS": "0.2",
    "MOSAIC_SAVE_RETRY_SECONDS": "1",
}


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A short directory for proxy sockets (a unix socket path has at most 107 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="mf-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def database_proxy(transactional_db: None, socket_dir: Path) -> Iterator[tuple[SocketProxy, str]]:
    proxy, url = postgres_proxy(socket_dir / "pg")
    with proxy:
        yield proxy, url


@pytest.fixture
def redis_breaker(socket_dir: Path) -> Iterator[tuple[SocketProxy, str]]:
    proxy, url = redis_proxy(socket_dir / "redis")
    with proxy:
        yield proxy, url


@pytest.fixture
def start_server(upstreams: dict[str, str], live_server_factory: Any) -> Any:
    """Start a daphne on the fake upstreams with short deadlines (and ``extra`` settings)."""

    async def start(**extra: str) -> Any:
        return await sync_to_async(live_server_factory)({**upstreams, **FAST, **extra})

    return start


@pytest.fixture
def start_shared_server(upstreams: dict[str, str], shared_live_server: Any) -> Any:
    """``start_server()`` for a test that neither stops nor kills its server and needs no
    settings of its own: the module's tests share one daphne (``shared_live_server``)."""

    async def start() -> Any:
        return await sync_to_async(shared_live_server)({**upstreams, **FAST})

    return start


@pytest.fixture
def connect(alice: Any) -> Any:
    async def connect(server: Any) -> ChatClient:
        token = await sync_to_async(token_for)(alice)
        return await ChatClient.connect_url(server.ws_url, token)

    return connect
