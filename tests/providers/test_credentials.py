"""Which credential a request uses: the user's own, then the system's, then the environment's."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from providers import selectors, services
from providers.models import ProviderCredential
from providers.registry import UnknownProvider

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_provider_env")]

ALICE_KEY = "sk-ant-alice-0000000000000000-aaaa"
BOB_KEY = "sk-ant-bob-11111111111111111111-bbbb"
SYSTEM_KEY = "sk-ant-system-22222222222222222-ssss"
ENV_KEY = "sk-ant-env-333333333333333333333-eeee"


def system_credential(
    provider: str = "anthropic", key: str = SYSTEM_KEY, **extra: Any
) -> ProviderCredential:
    return ProviderCredential.objects.create(owner=None, provider=provider, api_key=key, **extra)


def test_users_own_credential_wins_over_system_and_environment(alice: Any, settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = ENV_KEY
    system_credential()
    services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)

    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert (resolved.api_key, resolved.source) == (ALICE_KEY, "user")


def test_system_row_wins_over_environment_key(alice: Any, settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = ENV_KEY
    system_credential()
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert (resolved.api_key, resolved.source) == (SYSTEM_KEY, "system")


def test_environment_key_is_the_last_resort(alice: Any, settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = ENV_KEY
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert (resolved.api_key, resolved.source) == (ENV_KEY, "system")


def test_nothing_configured_resolves_to_an_unusable_credential(alice: Any) -> None:
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert resolved.source == "none"
    assert not selectors.credential_usable("anthropic", resolved)


def test_resolve_never_returns_another_users_credential(
    alice: Any, bob: Any, settings: Any
) -> None:
    services.credential_create(user=bob, provider="anthropic", api_key=BOB_KEY)
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert resolved.api_key != BOB_KEY
    assert resolved.source == "none"
    assert services.resolve_credential(user=bob, provider="anthropic").api_key == BOB_KEY


def test_inactive_credentials_are_not_used(alice: Any) -> None:
    credential = services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)
    services.credential_update(user=alice, credential_id=credential.pk, is_active=False)
    assert services.resolve_credential(user=alice, provider="anthropic").source == "none"


def test_base_url_comes_from_the_credential_or_the_setting(alice: Any, settings: Any) -> None:
    settings.ANTHROPIC_BASE_URL = "http://anthropic.internal:8080"
    settings.ANTHROPIC_API_KEY = ENV_KEY
    assert services.resolve_credential(user=alice, provider="anthropic").base_url == (
        "http://anthropic.internal:8080"
    )
    services.credential_create(
        user=alice, provider="anthropic", api_key=ALICE_KEY, base_url="https://proxy.example/v1"
    )
    assert services.resolve_credential(user=alice, provider="anthropic").base_url == (
        "https://proxy.example/v1"
    )


def test_base_url_must_be_http_or_https(alice: Any) -> None:
    with pytest.raises(services.CredentialInvalid, match="http"):
        services.credential_create(
            user=alice, provider="anthropic", api_key=ALICE_KEY, base_url="file:///etc/passwd"
        )


def test_ollama_is_usable_without_a_key(alice: Any, settings: Any) -> None:
    settings.OLLAMA_BASE_URL = "http://127.0.0.1:11434"
    resolved = services.resolve_credential(user=alice, provider="ollama")
    assert resolved.base_url == "http://127.0.0.1:11434"
    assert not resolved.usable  # no key: the adapter protocol's own notion
    assert selectors.credential_usable("ollama", resolved)
    assert "ollama" in selectors.usable_providers(user=alice)


def test_unknown_provider_is_refused(alice: Any) -> None:
    with pytest.raises(UnknownProvider):
        services.resolve_credential(user=alice, provider="skynet")


def test_adding_a_credential_deactivates_the_previous_one(alice: Any) -> None:
    first = services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)
    second = services.credential_create(user=alice, provider="anthropic", api_key=BOB_KEY)
    first.refresh_from_db()
    assert not first.is_active
    assert second.is_active
    assert services.resolve_credential(user=alice, provider="anthropic").api_key == BOB_KEY

    services.credential_update(user=alice, credential_id=first.pk, is_active=True)
    second.refresh_from_db()
    assert not second.is_active
    assert services.resolve_credential(user=alice, provider="anthropic").api_key == ALICE_KEY


def test_the_database_allows_one_active_credential_per_owner_and_provider(alice: Any) -> None:
    ProviderCredential.objects.create(owner=alice, provider="openai", api_key=ALICE_KEY)
    with pytest.raises(IntegrityError):
        ProviderCredential.objects.create(owner=alice, provider="openai", api_key=BOB_KEY)


def test_the_database_allows_one_active_system_credential_per_provider() -> None:
    system_credential("openai")
    with pytest.raises(IntegrityError):
        system_credential("openai", key=BOB_KEY)


def test_usable_providers_combines_own_system_and_environment(
    alice: Any, bob: Any, settings: Any
) -> None:
    settings.ZAI_API_KEY = "zai-env-key"
    system_credential("openrouter", key="sk-or-system-key-000000000")
    services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)
    # Ollama at its default URL that no probe ever found is not counted (see test_health.py).
    assert selectors.usable_providers(user=alice) == {"anthropic", "openrouter", "zai"}
    assert selectors.usable_providers(user=bob) == {"openrouter", "zai"}
    settings.OLLAMA_BASE_URL = "http://gpu-box:11434"
    assert selectors.usable_providers(user=bob) == {"openrouter", "zai", "ollama"}


def test_usable_providers_is_one_query_then_cached(alice: Any) -> None:
    services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)
    selectors.health_map()  # warm, as the beat's probe keeps it
    with CaptureQueriesContext(connection) as first:
        selectors.usable_providers(user=alice)
    with CaptureQueriesContext(connection) as second:
        selectors.usable_providers(user=alice)
    assert len(first) == 1
    assert len(second) == 0


def test_credential_writes_invalidate_usable_providers(
    alice: Any, bob: Any, django_capture_on_commit_callbacks: Any
) -> None:
    assert "openai" not in selectors.usable_providers(user=alice)
    assert "openai" not in selectors.usable_providers(user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        credential = services.credential_create(user=alice, provider="openai", api_key=ALICE_KEY)
    assert "openai" in selectors.usable_providers(user=alice)

    with django_capture_on_commit_callbacks(execute=True):
        services.credential_delete(user=alice, credential_id=credential.pk)
    assert "openai" not in selectors.usable_providers(user=alice)

    # A system-wide change reaches every user's cached answer.
    with django_capture_on_commit_callbacks(execute=True):
        services.credential_admin_save(
            user=type("Staff", (), {"is_staff": True})(),
            credential=ProviderCredential(owner=None, provider="openai"),
            new_api_key="sk-system-openai-000000000000",
        )
    assert "openai" in selectors.usable_providers(user=bob)


def test_last_used_is_recorded_at_most_once_a_minute(alice: Any) -> None:
    credential = services.credential_create(user=alice, provider="anthropic", api_key=ALICE_KEY)
    services.resolve_credential(user=alice, provider="anthropic")
    credential.refresh_from_db()
    first_use = credential.last_used_at
    assert first_use is not None
    with CaptureQueriesContext(connection) as queries:
        services.resolve_credential(user=alice, provider="anthropic")
    assert len(queries) == 1  # the read; no second write within the minute
    credential.refresh_from_db()
    assert credential.last_used_at == first_use


@pytest.mark.django_db(transaction=True)
async def test_aresolve_credential_works_from_async_code(alice: Any) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(services.credential_create)(
        user=alice, provider="anthropic", api_key=ALICE_KEY
    )
    resolved = await services.aresolve_credential(user=alice, provider="anthropic")
    assert resolved.api_key == ALICE_KEY


def test_mask_shows_at_most_three_and_four_characters() -> None:
    assert selectors.mask_secret("sk-ant-api03-abcdefghijklmnop-wxyz") == "sk-…wxyz"
    assert selectors.mask_secret("short-key") == "…"
    assert selectors.mask_secret("") == ""
