from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, hash_token
from accounts.services import token_revoke
from tests.conftest import token_for


def test_token_is_issued_for_valid_credentials(alice: Any) -> None:
    response = APIClient().post(
        "/api/auth/token", {"username": "alice", "password": "alice-Secret-pw-1"}, format="json"
    )
    assert response.status_code == 201
    token = response.json()["token"]
    assert token.startswith("mos_")
    assert len(token) > 40
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


def test_wrong_password_is_rejected_without_a_token(alice: Any) -> None:
    response = APIClient().post(
        "/api/auth/token", {"username": "alice", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


def test_missing_fields_are_a_400_naming_them(db: None) -> None:
    response = APIClient().post("/api/auth/token", {"username": "alice"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_only_the_hash_of_a_token_is_stored(alice: Any) -> None:
    raw = token_for(alice)
    stored = ApiToken.objects.get(user=alice)
    assert stored.token_hash == hash_token(raw)
    assert raw not in {stored.token_hash, stored.prefix}


@pytest.mark.parametrize(
    "header", ["Bearer mos_forged", "Bearer ", "Token abc", "Basic YWxpY2U6eA=="]
)
def test_bad_or_foreign_authorization_is_unauthenticated(alice: Any, header: str) -> None:
    response = APIClient(HTTP_AUTHORIZATION=header).get("/api/auth/me")
    assert response.status_code in (401, 403)
    assert "username" not in response.json()


def test_expired_and_revoked_tokens_are_rejected(alice: Any) -> None:
    expired, revoked = token_for(alice), token_for(alice)
    ApiToken.objects.filter(token_hash=hash_token(expired)).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    ApiToken.objects.filter(token_hash=hash_token(revoked)).update(revoked=True)
    for raw in (expired, revoked):
        assert APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/auth/me").status_code == 401


def test_inactive_user_token_is_rejected(alice: Any) -> None:
    raw = token_for(alice)
    alice.is_active = False
    alice.save()
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/auth/me").status_code == 401


def test_api_requires_authentication(db: None) -> None:
    assert APIClient().get("/api/auth/me").status_code in (401, 403)


def test_openapi_schema_is_served(alice_api: APIClient) -> None:
    response = alice_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/auth/token" in response.json()["paths"]


def test_api_root_lists_the_entry_points(alice_api: APIClient) -> None:
    body = alice_api.get("/api/").json()
    assert body["conversations"].endswith("/api/conversations")
    assert body["routing_rules"].endswith("/api/routing/rules")
    assert body["chat_socket"].startswith("ws://")
    for url in (body["conversations"], body["agents"], body["providers"]):
        assert alice_api.get(url).status_code == 200


# --- the per-process memory of checked tokens ----------------------------------------------------


def test_a_burst_of_calls_looks_the_token_up_once(alice: Any) -> None:
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {token_for(alice)}")
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert api.get("/api/auth/me").status_code == 200
    lookups = [
        q["sql"] for q in queries if q["sql"].startswith("SELECT") and "api_tokens" in q["sql"]
    ]
    assert len(lookups) == 1, lookups


def test_a_token_revoked_by_its_owner_is_refused_at_once(alice: Any) -> None:
    raw = token_for(alice)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/auth/me").status_code == 200
    assert token_revoke(user=alice, raw=raw)
    assert api.get("/api/auth/me").status_code == 401


@pytest.mark.parametrize("change", ["revoke the token", "deactivate the user"])
def test_a_change_made_elsewhere_is_refused_within_the_cache_time(
    alice: Any, settings: Any, change: str
) -> None:
    settings.MOSAIC_TOKEN_CACHE_SECONDS = 0.3
    raw = token_for(alice)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/auth/me").status_code == 200
    # As the admin or another process would: straight to the database, not through this
    # process's services.
    if change == "revoke the token":
        ApiToken.objects.filter(token_hash=hash_token(raw)).update(revoked=True)
    else:
        type(alice).objects.filter(pk=alice.pk).update(is_active=False)
    time.sleep(0.35)
    assert api.get("/api/auth/me").status_code == 401


def test_without_the_cache_every_call_checks_the_token(alice: Any, settings: Any) -> None:
    settings.MOSAIC_TOKEN_CACHE_SECONDS = 0
    raw = token_for(alice)
    api = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/auth/me").status_code == 200
    ApiToken.objects.filter(token_hash=hash_token(raw)).update(revoked=True)
    assert api.get("/api/auth/me").status_code == 401
