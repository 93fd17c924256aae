"""GET /api/providers/models: what the acting user can use now, live lists cached."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from mosaic.fakes.base import Fault
from mosaic.fakes.chat_completions import FakeOpenRouter
from mosaic.fakes.ollama import FakeOllama
from providers import selectors, services
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


def test_a_down_upstream_serves_the_last_good_list_and_says_so(
    alice_api: APIClient, ollama: FakeOllama
) -> None:
    models(alice_api)
    key = selectors._models_cache_key("ollama", ollama.base_url)
    entry = cache.get(key)
    cache.set(key, {**entry, "fetched_at": entry["fetched_at"] - 3600}, 3600)  # now stale
    ollama.tags_fault = Fault(kind="status", status=500)

    listing = models(alice_api)
    source = next(s for s in listing["providers"] if s["provider"] == "ollama")
    assert source["source"] == "cache"
    assert source["stale"] is True
    assert source["error"]
    assert "ollama:llama3.2:latest" in {m["key"] for m in listing["models"]}

    # The failure is remembered briefly: the next request does not hammer the upstream.
    before = tags_requests(ollama)
    models(alice_api)
    assert tags_requests(ollama) == before


def test_an_unreachable_upstream_with_nothing_cached_falls_back_to_the_catalog(
    alice_api: APIClient, settings: Any
) -> None:
    settings.OLLAMA_BASE_URL = f"http://127.0.0.1:{free_port()}"
    listing = models(alice_api)
    source = next(s for s in listing["providers"] if s["provider"] == "ollama")
    assert source["source"] == "catalog"
    assert source["stale"] is True
    assert source["error"]
    assert "ollama:llama3.2" in {m["key"] for m in listing["models"]}
