"""pytest fixtures for the OpenAI-family fakes: ``fake_openai``, ``fake_openrouter``, ``fake_zai``.

Each server starts once per test session, on first use (a server takes a few milliseconds to
start but there is no reason to do it per test), and is reset before every test so scripts and
recorded requests never leak between tests. Import the fixture names into a test module (or a
conftest) to use them.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
from typing import TypeVar

import pytest

from mosaic.fakes.base import FakeUpstream
from mosaic.fakes.chat_completions import FakeOpenRouter, FakeZai
from mosaic.fakes.openai import FakeOpenAI

_Fake = TypeVar("_Fake", bound=FakeUpstream)
_servers: dict[type[FakeUpstream], FakeUpstream] = {}


def _server(cls: type[_Fake]) -> _Fake:
    server = _servers.get(cls)
    if server is None:
        server = cls()
        server.start()
        atexit.register(server.stop)
        _servers[cls] = server
    assert isinstance(server, cls)
    return server


def _fresh(cls: type[_Fake]) -> Iterator[_Fake]:
    server = _server(cls)
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI API; point clients at ``fake_openai.base_url + "/v1"``."""
    yield from _fresh(FakeOpenAI)


@pytest.fixture
def fake_openrouter() -> Iterator[FakeOpenRouter]:
    """A fake OpenRouter; point clients at ``fake_openrouter.api_base`` (``.../api/v1``)."""
    yield from _fresh(FakeOpenRouter)


@pytest.fixture
def fake_zai() -> Iterator[FakeZai]:
    """A fake Z.ai; point clients at ``fake_zai.api_base`` (``.../api/paas/v4``)."""
    yield from _fresh(FakeZai)
