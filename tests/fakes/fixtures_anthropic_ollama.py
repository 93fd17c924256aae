"""pytest fixtures for the fake Anthropic and Ollama upstreams.

Each server starts once per test session (a thread and a port cost ~10 ms, but hundreds of tests
add up) and is reset before every test, so no script, recorded request or model list leaks from
one test into the next.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mosaic.fakes.anthropic import FakeAnthropic
from mosaic.fakes.ollama import FakeOllama


@pytest.fixture(scope="session")
def _fake_anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _fake_ollama_server() -> Iterator[FakeOllama]:
    server = FakeOllama()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_anthropic(_fake_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    """A running fake Anthropic API, reset for this test; point clients at ``.base_url``."""
    _fake_anthropic_server.reset()
    return _fake_anthropic_server


@pytest.fixture
def fake_ollama(_fake_ollama_server: FakeOllama) -> FakeOllama:
    """A running fake Ollama server, reset for this test; point clients at ``.base_url``."""
    _fake_ollama_server.reset()
    return _fake_ollama_server
