"""GET /api/providers/models: what the acting user can use now, live lists cached."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from mosaic.fakes.base import Fault
from mosaic.fakes.chat_completions import FakeOpenRouter
from mosaic.fakes.ollama import FakeOllama
from providers import model_lists, services
from tests.live import free_port

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("clean_provider_env"),
]


@pytest.fixture
def ollama(settings: Any, fake_ollama: FakeOllama) -> FakeOllama:
    settings.OLLAMA_BASE_URL = fake_ollama.base_url
    return fake_ollama


def tags_requests(fake: FakeOllama) -> int:
    return sum(1 for r in fake.requests if r.path == "/api/tags")


def models(api: APIClient) -> dict[str, Any]:
    response = api.get("/api/providers/models")
    assert response.status_code == 200, response.content
    return dict(response.json())


def test_models_are_filtered_by_the_users_usable_providers(
    alice: Any, alice_api: APIClient, bob_api: APIClient, ollama: FakeOllama
) -> None:
    services.credential_create(
        user=alice, provider="anthropic", api_key="sk-ant-alice-00000000000000000"
    )

    alices = models(alice_api)
    keys = {m["key"] for m in alices["models"]}
    assert "anthropic:claude-sonnet-4-6" in keys
    assert "ollama:llama3.2:latest" in keys
    assert not any(k.startswith(("openai:", "zai:", "openrouter:")) for k in keys)
    sources = {s["provider"]: s for s in alices["providers"]}
    assert sources["anthropic"]["source"] == "catalog"
    assert sources["ollama"]["source"] == "upstream"
    assert sources["ollama"]["stale"] is False

    bobs = {m["key"] for m in models(bob_api)["models"]}
    assert not any(k.startswith("anthropic:") for k in bobs)
    assert "ollama:llama3.2:latest" in bobs


def test_model_entries_carry_the_catalog_fields(
    alice: Any, alice_api: APIClient, ollama: FakeOllama
) -> None:
    services.credential_create(
        user=alice, provider="anthropic", api_key="sk-ant-alice-00000000000000000"
    )
    entry = next(
        m for m in models(alice_api)["models"] if m["key"] == "anthropic:claude-sonnet-4-6"
    )
    assert entry["tier"] == "standard"
    assert entry["context_window"] > 0
    assert entry["tools"] is True


def test_openrouter_lists_its_live_models(
    alice_api: APIClient, settings: Any, fake_openrouter: FakeOpenRouter, ollama: FakeOllama
) -> None:
    settings.OPENROUTER_API_KEY = "sk-or-system-000000000000000"
    settings.OPENROUTER_BASE_URL = fake_openrouter.api_base
    keys = {m["key"] for m in models(alice_api)["models"]}
    assert "openrouter:anthropic/claude-sonnet-4.6" in keys


def test_live_lists_are_fetched_at_most_once_per_ttl(
    alice_api: APIClient, bob_api: APIClient, ollama: FakeOllama
) -> None:
    models(alice_api)
    models(alice_api)
    models(bob_api)
    assert tags_requests(ollama) == 1


def test_a_down_upstream_lists_no_models_and_says_why(
    alice_api: APIClient, ollama: FakeOllama
) -> None:
    """ "The models you can use now" offers none of a provider that is failing now; the last good
    list stays cached (routing still knows the ids) and is listed again once it answers."""
    models(alice_api)
    key = model_lists._models_cache_key("ollama", ollama.base_url)
    entry = cache.get(key)
    cache.set(key, {**entry, "fetched_at": entry["fetched_at"] - 3600}, 3600)  # now stale
    ollama.tags_fault = Fault(kind="status", status=500)

    listing = models(alice_api)
    source = next(s for s in listing["providers"] if s["provider"] == "ollama")
    assert source["source"] == "cache"
    assert source["stale"] is True
    assert source["error"]
    assert not [m for m in listing["models"] if m["provider"] == "ollama"]

    # The failure is remembered briefly: the next request does not hammer the upstream.
    before = tags_requests(ollama)
    models(alice_api)
    assert tags_requests(ollama) == before

    # Back up, and the failure has lapsed: listed again.
    ollama.tags_fault = None
    entry = cache.get(key)
    cache.set(key, {**entry, "failed_at": entry["failed_at"] - 3600}, 3600)
    assert "ollama:llama3.2:latest" in {m["key"] for m in models(alice_api)["models"]}


def test_an_unreachable_upstream_with_nothing_cached_lists_no_models(
    alice_api: APIClient, settings: Any
) -> None:
    settings.OLLAMA_BASE_URL = f"http://127.0.0.1:{free_port()}"
    listing = models(alice_api)
    source = next(s for s in listing["providers"] if s["provider"] == "ollama")
    assert source["source"] == "catalog"
    assert source["stale"] is True
    assert source["error"]
    assert not [m for m in listing["models"] if m["provider"] == "ollama"]
