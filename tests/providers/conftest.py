"""Fixtures for the providers app's tests: fake upstreams, a fake OAuth server, a clean slate.

The cast comes from tests/conftest.py (alice, bob, charlie, staff, alice_api, bob_api).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.fixtures_anthropic_ollama import fake_anthropic, fake_ollama  # noqa: F401
from tests.fakes.fixtures_openai_family import fake_openai, fake_openrouter  # noqa: F401
from tests.fakes.oauth_server import FakeOAuthServer

PROVIDER_NAMES = ("anthropic", "openai", "openrouter", "zai", "ollama")


@pytest.fixture
def live_env() -> dict[str, str]:
    """Environment for a live daphne: no provider keys, no OAuth client."""
    env = {f"{name.upper()}_API_KEY": "" for name in PROVIDER_NAMES}
    env.update({k: "" for k in os.environ if k.startswith("MOSAIC_OAUTH_")})
    # Staff's allowance for users' base URLs on loopback, where the fake upstreams listen.
    env["MOSAIC_USER_BASE_URL_HOSTS"] = "127.0.0.1"
    return env


@pytest.fixture
def clean_provider_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No system keys from the environment and no OAuth client unless a test sets them."""
    for name in PROVIDER_NAMES:
        setattr(settings, f"{name.upper()}_API_KEY", "")
    for key in list(os.environ):
        if key.startswith(
            ("MOSAIC_OAUTH_", "MOSAIC_EMBEDDING_BASE_URL", "MOSAIC_EMBEDDING_API_KEY")
        ):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def _fake_oauth_server() -> Iterator[FakeOAuthServer]:
    server = FakeOAuthServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_oauth(_fake_oauth_server: FakeOAuthServer) -> FakeOAuthServer:
    """A fake OAuth authorization server, reset for this test."""
    _fake_oauth_server.reset()
    return _fake_oauth_server


@pytest.fixture
def oauth_anthropic(
    fake_oauth: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch, clean_provider_env: None
) -> FakeOAuthServer:
    """Anthropic's OAuth client configured against the fake authorization server."""
    for key, value in fake_oauth.env("anthropic").items():
        monkeypatch.setenv(key, value)
    return fake_oauth
