"""The admin pages of the providers app: credentials written through the service, health."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from providers import selectors, services
from providers.models import ProviderCredential, ProviderHealth

CREDENTIALS = "/admin/providers/providercredential/"

pytestmark = pytest.mark.usefixtures("clean_provider_env")


@pytest.fixture
def staff_browser(staff: Any) -> Client:
    browser = Client()
    browser.force_login(staff)
    return browser


def alices_key(alice: Any) -> ProviderCredential:
    return services.credential_create(
        user=alice, provider="openai", api_key="sk-alice-openai-0000000000000"
    )


def test_deleting_in_the_admin_forgets_the_owners_cached_providers_once_committed(
    staff_browser: Client, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    credential = alices_key(alice)
    assert "openai" in selectors.usable_providers(user=alice)  # cached now
    with django_capture_on_commit_callbacks() as callbacks:
        answer = staff_browser.post(f"{CREDENTIALS}{credential.pk}/delete/", {"post": "yes"})
        assert answer.status_code == 302
        # Until the admin's transaction commits, the cache keeps its answer: clearing it now
        # would let a reader cache the old rows again before they are gone.
        assert "openai" in selectors.usable_providers(user=alice)
    assert callbacks
    for callback in callbacks:
        callback()
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()
    assert "openai" not in selectors.usable_providers(user=alice)


def test_the_deactivate_action_goes_through_the_service(
    staff_browser: Client, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    credential = alices_key(alice)
    assert "openai" in selectors.usable_providers(user=alice)
    with django_capture_on_commit_callbacks(execute=True):
        staff_browser.post(
            CREDENTIALS, {"action": "deactivate", "_selected_action": [str(credential.pk)]}
        )
    credential.refresh_from_db()
    assert not credential.is_active
    assert "openai" not in selectors.usable_providers(user=alice)


def test_giving_a_credential_to_another_owner_refreshes_both_owners(
    staff_browser: Client, alice: Any, bob: Any, django_capture_on_commit_callbacks: Any
) -> None:
    credential = alices_key(alice)
    assert "openai" in selectors.usable_providers(user=alice)
    assert "openai" not in selectors.usable_providers(user=bob)
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff_browser.post(
            f"{CREDENTIALS}{credential.pk}/change/",
            {"owner": str(bob.pk), "provider": "openai", "label": "", "base_url": "",
             "is_active": "on", "new_api_key": ""},
        )  # fmt: skip
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert "openai" not in selectors.usable_providers(user=alice)
    assert "openai" in selectors.usable_providers(user=bob)


def test_health_shows_latency_in_whole_milliseconds_and_counts_providers(
    staff_browser: Client,
) -> None:
    ProviderHealth.objects.create(provider="anthropic", status="healthy", latency_ms=231.487257)
    ProviderHealth.objects.create(provider="ollama", status="down", latency_ms=None)
    html = staff_browser.get("/admin/providers/providerhealth/").content.decode()
    assert "231 ms" in html
    assert "231.48" not in html
    assert "2 providers" in html
