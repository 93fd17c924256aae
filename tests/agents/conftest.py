"""Fixtures for the agents tests: the seeded system agents, fresh routing caches, chat sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from routing import cache as route_cache
from tests.agents.chat import ChatClient
from tests.agents.helpers import seed_system_agents
from tests.conftest import token_for


@pytest.fixture(autouse=True)
def _fresh_routing_cache() -> Iterator[None]:
    # Rules and agents are flushed and seeded again between socket tests; never route with a
    # previous test's parsed rules.
    route_cache.invalidate_local_cache()
    yield
    route_cache.invalidate_local_cache()


@pytest.fixture
def system_agents(db: None) -> None:
    """The seeded system agents, for tests on the plain ``db`` (a transactional test elsewhere
    may have flushed the data-migration rows)."""
    seed_system_agents()


@pytest.fixture
async def alice_chat(alice: Any, upstreams: dict[str, str]) -> AsyncIterator[ChatClient]:
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    yield client
    await client.close()


@pytest.fixture
async def bob_chat(bob: Any, upstreams: dict[str, str]) -> AsyncIterator[ChatClient]:
    client = await ChatClient.connect(await sync_to_async(token_for)(bob))
    yield client
    await client.close()
