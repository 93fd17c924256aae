"""/api/providers: users manage and test their own credentials; secrets are write-only."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from mosaic.fakes.anthropic import FakeAnthropic
from providers.adapters import anthropic as anthropic_adapter
from providers.models import ProviderCredential
from tests.live import free_port

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("clean_provider_env"),
]

ALICE_KEY = "sk-ant-api03-alice-very-secret-key-9876"
SYSTEM_KEY = "sk-ant-api03-system-very-secret-key-5555"


@pytest.fixture
def loopback_allowed(settings: Any) -> None:
    """Staff allow users' base URLs on loopback, where the fake upstreams listen."""
    settings.MOSAIC_USER_BASE_URL_HOSTS = ["127.0.0.1"]


def create(api: APIClient, **body: Any) -> Any:
    payload = {"provider": "anthropic", "api_key": ALICE_KEY, **body}
    return api.post("/api/providers", payload, format="json")


def test_add_list_and_read_back_a_masked_credential(alice_api: APIClient) -> None:
    response = create(alice_api, label="work")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret_hint"] == "sk-…9876"
    assert created["provider"] == "anthropic"
    assert created["kind"] == "api_key"
    assert created["is_active"] is True
    assert "api_key" not in created

    listing = alice_api.get("/api/providers").json()
    assert [c["id"] for c in listing["credentials"]] == [created["id"]]
    summary = {entry["provider"]: entry for entry in listing["providers"]}
    assert summary["anthropic"]["in_use"] == "user"
    assert summary["anthropic"]["credential_id"] == created["id"]
    assert summary["anthropic"]["secret_hint"] == "sk-…9876"
    assert summary["openai"]["in_use"] == "none"
    # An Ollama at the default URL that no probe has found is not offered as usable.
    assert summary["ollama"]["in_use"] == "none"

    detail = alice_api.get(f"/api/providers/{created['id']}")
    assert detail.status_code == 200
    assert detail.json()["label"] == "work"


@pytest.mark.usefixtures("loopback_allowed")
def test_secrets_never_appear_in_any_response(
    alice_api: APIClient, fake_anthropic: FakeAnthropic
) -> None:
    bodies = []
    response = create(alice_api, base_url=fake_anthropic.base_url)
    bodies.append(response.content)
    credential_id = response.json()["id"]
    bodies.append(alice_api.get("/api/providers").content)
    bodies.append(alice_api.get(f"/api/providers/{credential_id}").content)
    new_key = "sk-ant-api03-rotated-secret-value-4321"
    bodies.append(
        alice_api.patch(
            f"/api/providers/{credential_id}", {"api_key": new_key}, format="json"
        ).content
    )
    bodies.append(alice_api.post(f"/api/providers/{credential_id}/test").content)
    bodies.append(alice_api.get("/api/providers/models").content)
    for body in bodies:
        text = body.decode()
        assert ALICE_KEY not in text
        assert new_key not in text
    assert ProviderCredential.objects.get(pk=credential_id).api_key == new_key


def test_short_secrets_are_masked_completely(alice_api: APIClient) -> None:
    response = create(alice_api, api_key="sk-short-1234")
    assert response.json()["secret_hint"] == "…"


def test_another_users_credential_is_404_on_every_route(
    alice_api: APIClient, bob_api: APIClient
) -> None:
    credential_id = create(alice_api).json()["id"]
    url = f"/api/providers/{credential_id}"
    assert bob_api.get(url).status_code == 404
    assert bob_api.patch(url, {"label": "mine now"}, format="json").status_code == 404
    assert bob_api.put(url, {"label": "mine now"}, format="json").status_code == 404
    assert bob_api.delete(url).status_code == 404
    assert bob_api.post(f"{url}/test").status_code == 404
    assert bob_api.get("/api/providers").json()["credentials"] == []
    credential = ProviderCredential.objects.get(pk=credential_id)
    assert credential.label == ""
    assert credential.is_active


def test_a_missing_credential_is_404(alice_api: APIClient) -> None:
    response = alice_api.get("/api/providers/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such credential.", "code": "not_found"}


def test_update_label_key_base_url_and_active(alice_api: APIClient) -> None:
    credential_id = create(alice_api).json()["id"]
    response = alice_api.patch(
        f"/api/providers/{credential_id}",
        {"label": "personal", "base_url": "https://proxy.example/v1", "is_active": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["label"], data["base_url"], data["is_active"]) == (
        "personal",
        "https://proxy.example/v1",
        False,
    )


def test_delete_removes_the_credential(alice_api: APIClient) -> None:
    credential_id = create(alice_api).json()["id"]
    assert alice_api.delete(f"/api/providers/{credential_id}").status_code == 204
    assert not ProviderCredential.objects.filter(pk=credential_id).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "skynet"}, "provider"),
        ({"api_key": ""}, "detail"),
        ({"base_url": "ftp://example.com"}, "base_url"),
    ],
)
def test_invalid_input_is_400(alice_api: APIClient, body: dict[str, str], field: str) -> None:
    response = create(alice_api, **body)
    assert response.status_code == 400
    assert field in response.json()


def test_ollama_needs_no_key(alice_api: APIClient) -> None:
    response = alice_api.post(
        "/api/providers",
        {"provider": "ollama", "base_url": "http://gpu-box:11434"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["secret_hint"] == ""


def test_system_credentials_are_used_but_not_listed(alice_api: APIClient) -> None:
    ProviderCredential.objects.create(owner=None, provider="openai", api_key=SYSTEM_KEY)
    listing = alice_api.get("/api/providers").json()
    assert listing["credentials"] == []
    summary = {entry["provider"]: entry for entry in listing["providers"]}
    assert summary["openai"] == {
        "provider": "openai",
        "in_use": "system",
        "credential_id": None,
        "secret_hint": "",
    }
    assert SYSTEM_KEY not in json.dumps(listing)


@pytest.mark.usefixtures("loopback_allowed")
def test_test_runs_the_health_check_with_that_credential(
    alice_api: APIClient, fake_anthropic: FakeAnthropic
) -> None:
    credential_id = create(alice_api, base_url=fake_anthropic.base_url).json()["id"]
    response = alice_api.post(f"/api/providers/{credential_id}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["provider"] == "anthropic"
    assert result["status"] == "healthy"
    assert result["latency_ms"] is not None
    sent = [r for r in fake_anthropic.requests if r.path.startswith("/v1/models")]
    assert sent
    assert sent[-1].headers["x-api-key"] == ALICE_KEY


@pytest.mark.usefixtures("loopback_allowed")
def test_test_reports_an_unreachable_provider_and_remembers_the_error(alice_api: APIClient) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    credential_id = create(alice_api, base_url=dead).json()["id"]
    result = alice_api.post(f"/api/providers/{credential_id}/test").json()
    assert result["status"] == "down"
    assert result["error"]
    assert ProviderCredential.objects.get(pk=credential_id).last_error == result["error"]


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:6379",
        "http://localhost:5432/v1",
        "http://10.0.0.7:8080",
        "http://169.254.169.254/latest",
        "http://[::1]:11434",
        "http://0.0.0.0:80",
    ],
)
def test_users_cannot_point_a_base_url_at_private_or_loopback_addresses(
    alice_api: APIClient, base_url: str
) -> None:
    response = create(alice_api, base_url=base_url)
    assert response.status_code == 400
    assert "not allowed" in response.json()["detail"]
    assert not ProviderCredential.objects.exists()
    credential_id = create(alice_api).json()["id"]
    patched = alice_api.patch(
        f"/api/providers/{credential_id}", {"base_url": base_url}, format="json"
    )
    assert patched.status_code == 400
    assert ProviderCredential.objects.get(pk=credential_id).base_url == ""


@pytest.mark.usefixtures("loopback_allowed")
def test_closed_open_and_http_ports_give_one_answer_through_a_users_base_url(
    alice_api: APIClient, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed port, a port that speaks no HTTP, and an HTTP server that is no provider."""
    # The silent port answers nothing: the check ends at its timeout (10 s), shortened here.
    monkeypatch.setattr(anthropic_adapter, "HEALTH_TIMEOUT", 2.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        targets = [
            f"http://127.0.0.1:{free_port()}",
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            f"{fake_anthropic.base_url}/not-an-api",
        ]
        errors = set()
        for target in targets:
            credential_id = create(alice_api, base_url=target).json()["id"]
            result = alice_api.post(f"/api/providers/{credential_id}/test").json()
            assert result["status"] == "down"
            errors.add(result["error"])
    finally:
        silent.close()
    assert errors == {"anthropic could not be used through this credential's base URL."}


def test_a_base_url_allowed_once_is_checked_again_when_used(
    alice: Any, alice_api: APIClient, settings: Any
) -> None:
    settings.MOSAIC_USER_BASE_URL_HOSTS = ["127.0.0.1"]
    credential_id = create(alice_api, base_url="http://127.0.0.1:9").json()["id"]
    settings.MOSAIC_USER_BASE_URL_HOSTS = []
    result = alice_api.post(f"/api/providers/{credential_id}/test").json()
    assert result["status"] == "down"
    assert "not allowed" in result["error"]


def test_anonymous_requests_are_refused() -> None:
    assert APIClient().get("/api/providers").status_code == 401


def test_admin_pages_never_show_the_secret(staff: Any, alice: Any) -> None:
    ProviderCredential.objects.create(owner=alice, provider="anthropic", api_key=ALICE_KEY)
    system = ProviderCredential.objects.create(owner=None, provider="openai", api_key=SYSTEM_KEY)
    browser = Client()
    browser.force_login(staff)
    changelist = browser.get("/admin/providers/providercredential/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert ALICE_KEY not in html
    assert SYSTEM_KEY not in html
    assert "sk-…9876" in html
    assert "system-wide" in html
    change = browser.get(f"/admin/providers/providercredential/{system.pk}/change/")
    assert change.status_code == 200
    assert SYSTEM_KEY not in change.content.decode()
    assert 'type="password"' in change.content.decode()


def test_admin_adds_a_system_credential_with_a_write_only_key(staff: Any) -> None:
    browser = Client()
    browser.force_login(staff)
    response = browser.post(
        "/admin/providers/providercredential/add/",
        {
            "provider": "zai",
            "label": "company",
            "base_url": "",
            "is_active": "on",
            "new_api_key": "zai-company-key-0000000000000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    credential = ProviderCredential.objects.get(provider="zai")
    assert credential.owner is None
    assert credential.api_key == "zai-company-key-0000000000000"

    # Saving without a new key keeps the stored one.
    browser.post(
        f"/admin/providers/providercredential/{credential.pk}/change/",
        {
            "provider": "zai",
            "label": "renamed",
            "base_url": "",
            "is_active": "on",
            "new_api_key": "",
        },
    )
    credential.refresh_from_db()
    assert (credential.label, credential.api_key) == ("renamed", "zai-company-key-0000000000000")


def test_admin_health_page_lists_probes(staff: Any) -> None:
    from providers.models import ProviderHealth

    ProviderHealth.objects.create(provider="anthropic", status="down", last_error="boom")
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/providers/providerhealth/")
    assert page.status_code == 200
    assert "boom" in page.content.decode()
