"""OAuth logins end to end against a fake authorization server: PKCE code (pasted or through
the callback), device code, refresh before expiry, revoked refresh tokens, bad or stale state."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from providers import oauth, selectors, services
from providers.adapters.base import ErrorKind, ProviderError
from providers.models import CredentialKind, ProviderCredential
from tests.fakes.oauth_server import DEVICE_GRANT, FakeOAuthServer, s256

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("clean_provider_env"),
]

CALLBACK = "http://testserver/api/providers/oauth/callback"


def start(api: APIClient, provider: str = "anthropic") -> dict[str, Any]:
    response = api.post(f"/api/providers/oauth/{provider}/start")
    assert response.status_code == 201, response.content
    return dict(response.json())


def authorize(url: str) -> tuple[str, str]:
    """The user approves at the fake server: follow its redirect back, return (code, state)."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    return query["code"][0], query["state"][0]


def oauth_credential(
    owner: Any, *, expires_in: float, refresh_token: str, access_token: str = "at-old"
) -> ProviderCredential:
    return ProviderCredential.objects.create(
        owner=owner,
        provider="anthropic",
        kind=CredentialKind.OAUTH,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=timezone.now() + dt.timedelta(seconds=expires_in),
    )


def issue_refresh_token(server: FakeOAuthServer) -> str:
    """A refresh token the fake server knows, as if from an earlier login."""
    token = "rt-earlier-login"
    server.state.refresh_tokens[token] = "user:inference"
    return token


# --- the authorization-code flow with PKCE -----------------------------------------------------


def test_start_builds_a_pkce_authorize_url_and_keeps_state_in_redis(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    started = start(alice_api)
    url = urlparse(started["authorize_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == oauth_anthropic.authorize_url
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == oauth_anthropic.client_id
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "user:inference"
    assert query["state"] == started["state"]
    assert query["code_challenge_method"] == "S256"

    key = oauth.state_key(alice.pk, started["state"])
    assert key == f"mosaic:oauth:{alice.pk}:{started['state']}"
    flow = oauth.load_flow(key)
    assert flow is not None
    assert s256(flow["verifier"]) == query["code_challenge"]
    assert 0 < oauth.redis_client().ttl(key) <= 600
    assert started["expires_in"] == 600


def test_pasted_code_with_state_completes_the_login(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    response = alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "oauth"
    assert body["expires_at"]
    assert "access_token" not in body
    assert "refresh_token" not in body

    # The server verified PKCE and got a form-encoded authorization_code grant.
    [exchange] = oauth_anthropic.token_requests("authorization_code")
    assert exchange.headers["content-type"].startswith("application/x-www-form-urlencoded")

    credential = ProviderCredential.objects.get(pk=body["id"])
    assert credential.owner == alice
    assert credential.access_token == oauth_anthropic.state.access_tokens[-1]
    assert credential.refresh_token.startswith("rt-")
    assert credential.scopes == "user:inference"
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert (resolved.access_token, resolved.api_key, resolved.source) == (
        credential.access_token,
        "",
        "user",
    )
    for token in (credential.access_token, credential.refresh_token):
        assert token not in response.content.decode()


def test_bare_code_and_state_complete_the_login(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    response = alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": code, "state": state}, format="json"
    )
    assert response.status_code == 201, response.content


def test_the_callback_completes_the_login_for_the_signed_in_user(
    alice: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    browser = Client()
    browser.force_login(alice)
    started = browser.post("/api/providers/oauth/anthropic/start").json()
    code, state = authorize(started["authorize_url"])
    page = browser.get(
        "/api/providers/oauth/callback", {"code": code, "state": state}, HTTP_ACCEPT="text/html"
    )
    assert page.status_code == 200
    assert "Logged in to anthropic" in page.content.decode()
    assert ProviderCredential.objects.filter(owner=alice, kind="oauth", is_active=True).count() == 1


def test_an_anonymous_callback_only_shows_the_code_to_paste(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    page = Client().get("/api/providers/oauth/callback", {"code": code, "state": state})
    assert page.status_code == 200
    assert page.json()["status"] == "paste"
    assert page.json()["pasted"] == f"{code}#{state}"
    assert not ProviderCredential.objects.exists()
    assert not oauth_anthropic.token_requests()

    pasted = alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": page.json()["pasted"]}, format="json"
    )
    assert pasted.status_code == 201


def test_the_callback_reports_a_refusal(alice: Any) -> None:
    page = Client().get("/api/providers/oauth/callback", {"error": "access_denied"})
    assert page.status_code == 400
    assert "access_denied" in page.json()["detail"]


def test_a_wrong_code_verifier_is_rejected_by_pkce(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    started = start(alice_api)
    code, state = authorize(started["authorize_url"])
    key = oauth.state_key(alice.pk, state)
    flow = oauth.load_flow(key)
    assert flow is not None
    oauth.save_flow(key, {**flow, "verifier": oauth.new_code_verifier()})
    response = alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": code, "state": state}, format="json"
    )
    assert response.status_code == 400
    assert "PKCE" in response.json()["detail"]
    assert not ProviderCredential.objects.exists()


def test_state_mismatch_is_refused(alice_api: APIClient, oauth_anthropic: FakeOAuthServer) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    other = start(alice_api)["state"]
    response = alice_api.post(
        "/api/providers/oauth/anthropic/complete",
        {"code": f"{code}#{state}", "state": other},
        format="json",
    )
    assert response.status_code == 400
    assert "state mismatch" in response.json()["detail"]
    unknown = alice_api.post(
        "/api/providers/oauth/anthropic/complete",
        {"code": code, "state": "made-up-state"},
        format="json",
    )
    assert unknown.status_code == 400
    assert not oauth_anthropic.token_requests()


def test_another_users_state_cannot_be_redeemed(
    alice_api: APIClient, bob_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    response = bob_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
    )
    assert response.status_code == 400
    assert not ProviderCredential.objects.exists()
    # alice's login is untouched by bob's attempt.
    assert (
        alice_api.post(
            "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
        ).status_code
        == 201
    )


def test_a_state_for_another_provider_is_refused(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in oauth_anthropic.env("openai").items():
        monkeypatch.setenv(key, value)
    code, state = authorize(start(alice_api, "anthropic")["authorize_url"])
    response = alice_api.post(
        "/api/providers/oauth/openai/complete", {"code": f"{code}#{state}"}, format="json"
    )
    assert response.status_code == 400
    assert "state mismatch" in response.json()["detail"]


def test_an_expired_state_is_refused(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    oauth.delete_flow(oauth.state_key(alice.pk, state))  # what the 10-minute TTL does
    response = alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
    )
    assert response.status_code == 400
    assert "expired" in response.json()["detail"]


def test_a_state_is_single_use(alice_api: APIClient, oauth_anthropic: FakeOAuthServer) -> None:
    code, state = authorize(start(alice_api)["authorize_url"])
    body = {"code": f"{code}#{state}"}
    assert (
        alice_api.post("/api/providers/oauth/anthropic/complete", body, format="json").status_code
        == 201
    )
    assert (
        alice_api.post("/api/providers/oauth/anthropic/complete", body, format="json").status_code
        == 400
    )


def test_a_configured_client_secret_is_sent(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth_anthropic.client_secret = "s3cr3t"
    monkeypatch.setenv("MOSAIC_OAUTH_ANTHROPIC_CLIENT_SECRET", "s3cr3t")
    code, state = authorize(start(alice_api)["authorize_url"])
    assert (
        alice_api.post(
            "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
        ).status_code
        == 201
    )


def test_login_replaces_the_users_previous_credential(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    key = services.credential_create(
        user=alice, provider="anthropic", api_key="sk-ant-old-key-000000000000"
    )
    code, state = authorize(start(alice_api)["authorize_url"])
    alice_api.post(
        "/api/providers/oauth/anthropic/complete", {"code": f"{code}#{state}"}, format="json"
    )
    key.refresh_from_db()
    assert not key.is_active
    assert services.resolve_credential(user=alice, provider="anthropic").access_token


# --- not configured ----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["start", "device"])
def test_unconfigured_oauth_answers_with_one_sentence(alice_api: APIClient, route: str) -> None:
    response = alice_api.post(f"/api/providers/oauth/anthropic/{route}")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail.startswith("OAuth for anthropic is not configured on this server")
    assert "MOSAIC_OAUTH_ANTHROPIC_CLIENT_ID" in detail
    assert "`mosaic providers add anthropic`" in detail


def test_oauth_is_not_offered_for_other_providers(alice_api: APIClient) -> None:
    response = alice_api.post("/api/providers/oauth/zai/start")
    assert response.status_code == 409
    assert "mosaic providers add zai" in response.json()["detail"]


# --- the device-code flow ----------------------------------------------------------------------


def test_device_flow_polls_until_approved(
    alice: Any, alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    response = alice_api.post("/api/providers/oauth/anthropic/device")
    assert response.status_code == 201, response.content
    started = response.json()
    assert started["user_code"]
    assert started["verification_uri"] == f"{oauth_anthropic.base_url}/device"
    assert "device_code" not in started  # stays on the server

    poll_url = "/api/providers/oauth/anthropic/device/poll"
    pending = alice_api.post(poll_url, {"device_id": started["device_id"]}, format="json").json()
    assert pending["status"] == "pending"
    assert pending["credential"] is None

    oauth_anthropic.approve_device(started["user_code"])
    done = alice_api.post(poll_url, {"device_id": started["device_id"]}, format="json").json()
    assert done["status"] == "complete"
    assert done["credential"]["kind"] == "oauth"
    assert len(oauth_anthropic.token_requests(DEVICE_GRANT)) == 2
    credential = ProviderCredential.objects.get(pk=done["credential"]["id"])
    assert credential.owner == alice
    assert credential.access_token == oauth_anthropic.state.access_tokens[-1]

    # The device login is finished: polling again is an expired flow.
    again = alice_api.post(poll_url, {"device_id": started["device_id"]}, format="json")
    assert again.status_code == 400


def test_device_flow_respects_the_polling_interval(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    oauth_anthropic.device_interval = 30
    started = alice_api.post("/api/providers/oauth/anthropic/device").json()
    assert started["interval"] == 30
    poll_url = "/api/providers/oauth/anthropic/device/poll"
    for _ in range(3):
        assert (
            alice_api.post(poll_url, {"device_id": started["device_id"]}, format="json").json()[
                "status"
            ]
            == "pending"
        )
    assert len(oauth_anthropic.token_requests(DEVICE_GRANT)) == 1


def test_a_denied_device_login_says_so(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    started = alice_api.post("/api/providers/oauth/anthropic/device").json()
    oauth_anthropic.deny_device(started["user_code"])
    response = alice_api.post(
        "/api/providers/oauth/anthropic/device/poll",
        {"device_id": started["device_id"]},
        format="json",
    )
    assert response.status_code == 400
    assert "denied" in response.json()["detail"]


def test_another_user_cannot_poll_a_device_login(
    alice_api: APIClient, bob_api: APIClient, oauth_anthropic: FakeOAuthServer
) -> None:
    started = alice_api.post("/api/providers/oauth/anthropic/device").json()
    oauth_anthropic.approve_device(started["user_code"])
    response = bob_api.post(
        "/api/providers/oauth/anthropic/device/poll",
        {"device_id": started["device_id"]},
        format="json",
    )
    assert response.status_code == 400
    assert not ProviderCredential.objects.exists()


def test_device_flow_needs_a_device_endpoint(
    alice_api: APIClient, oauth_anthropic: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MOSAIC_OAUTH_ANTHROPIC_DEVICE_URL")
    response = alice_api.post("/api/providers/oauth/anthropic/device")
    assert response.status_code == 409
    assert "DEVICE_URL" in response.json()["detail"]


# --- refresh -----------------------------------------------------------------------------------


def test_resolve_refreshes_an_expired_token(alice: Any, oauth_anthropic: FakeOAuthServer) -> None:
    refresh_token = issue_refresh_token(oauth_anthropic)
    credential = oauth_credential(alice, expires_in=-30, refresh_token=refresh_token)

    resolved = services.resolve_credential(user=alice, provider="anthropic")

    [request] = oauth_anthropic.token_requests("refresh_token")
    assert "refresh_token=rt-earlier-login" in request.body
    assert resolved.access_token == oauth_anthropic.state.access_tokens[-1]
    credential.refresh_from_db()
    assert credential.access_token == resolved.access_token
    assert credential.refresh_token != refresh_token  # rotated
    assert credential.expires_at is not None
    assert credential.expires_at > timezone.now()


def test_resolve_refreshes_a_token_expiring_within_a_minute(
    alice: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    oauth_credential(alice, expires_in=45, refresh_token=issue_refresh_token(oauth_anthropic))
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert resolved.access_token != "at-old"
    assert len(oauth_anthropic.token_requests("refresh_token")) == 1


def test_a_token_far_from_expiry_is_not_refreshed(
    alice: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    oauth_credential(alice, expires_in=3000, refresh_token=issue_refresh_token(oauth_anthropic))
    assert services.resolve_credential(user=alice, provider="anthropic").access_token == "at-old"
    assert not oauth_anthropic.token_requests()


def test_force_refresh_after_an_auth_error(alice: Any, oauth_anthropic: FakeOAuthServer) -> None:
    oauth_credential(alice, expires_in=3000, refresh_token=issue_refresh_token(oauth_anthropic))
    resolved = services.resolve_credential(user=alice, provider="anthropic", force_refresh=True)
    assert resolved.access_token != "at-old"
    assert len(oauth_anthropic.token_requests("refresh_token")) == 1


def test_refresh_credential_refreshes_the_users_own_only(
    alice: Any, bob: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    credential = oauth_credential(
        alice, expires_in=3000, refresh_token=issue_refresh_token(oauth_anthropic)
    )
    with pytest.raises(selectors.CredentialNotFound):
        services.refresh_credential(user=bob, credential_id=credential.pk)
    refreshed = services.refresh_credential(user=alice, credential_id=credential.pk)
    assert refreshed.access_token != "at-old"


def test_a_revoked_refresh_token_deactivates_the_login_with_a_clear_message(
    alice: Any, oauth_anthropic: FakeOAuthServer, settings: Any
) -> None:
    refresh_token = issue_refresh_token(oauth_anthropic)
    oauth_anthropic.revoke(refresh_token)
    credential = oauth_credential(alice, expires_in=-5, refresh_token=refresh_token)

    with pytest.raises(ProviderError) as excinfo:
        services.resolve_credential(user=alice, provider="anthropic")
    assert excinfo.value.kind is ErrorKind.AUTH
    assert not excinfo.value.retryable
    expected = "the refresh token was revoked; log in again with `mosaic providers login anthropic`"
    assert excinfo.value.message == expected
    credential.refresh_from_db()
    assert not credential.is_active
    assert credential.last_error == expected

    # The next request falls back to what the installation offers.
    settings.ANTHROPIC_API_KEY = "sk-ant-env-fallback-000000000000"
    assert services.resolve_credential(user=alice, provider="anthropic").source == "system"


def test_the_authorization_server_being_down_keeps_a_still_valid_token(
    alice: Any, oauth_anthropic: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.live import free_port

    monkeypatch.setenv("MOSAIC_OAUTH_ANTHROPIC_TOKEN_URL", f"http://127.0.0.1:{free_port()}/token")
    oauth_credential(alice, expires_in=30, refresh_token="rt-whatever")
    assert services.resolve_credential(user=alice, provider="anthropic").access_token == "at-old"

    ProviderCredential.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ProviderError) as excinfo:
        services.resolve_credential(user=alice, provider="anthropic")
    assert excinfo.value.kind is ErrorKind.UNAVAILABLE
    assert ProviderCredential.objects.get().is_active


def test_extra_headers_go_with_oauth_tokens(
    alice: Any, oauth_anthropic: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSAIC_OAUTH_ANTHROPIC_EXTRA_HEADERS", "anthropic-beta: oauth-2025-04-20")
    oauth_credential(alice, expires_in=3000, refresh_token="rt-x")
    resolved = services.resolve_credential(user=alice, provider="anthropic")
    assert resolved.extra_headers == {"anthropic-beta": "oauth-2025-04-20"}


@pytest.mark.django_db(transaction=True)
def test_two_processes_expiring_together_refresh_once(
    alice: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    oauth_credential(alice, expires_in=-1, refresh_token=issue_refresh_token(oauth_anthropic))
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            results.append(
                services.resolve_credential(user=alice, provider="anthropic").access_token
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(oauth_anthropic.token_requests("refresh_token")) == 1
    assert len(set(results)) == 1
    assert results[0] == oauth_anthropic.state.access_tokens[-1]


def test_the_beat_job_refreshes_credentials_expiring_soon(
    alice: Any, bob: Any, oauth_anthropic: FakeOAuthServer
) -> None:
    soon = oauth_credential(
        alice, expires_in=120, refresh_token=issue_refresh_token(oauth_anthropic)
    )
    later = oauth_credential(bob, expires_in=7200, refresh_token="rt-later")
    assert services.refresh_expiring_credentials() == 1
    soon.refresh_from_db()
    later.refresh_from_db()
    assert soon.access_token != "at-old"
    assert later.access_token == "at-old"
