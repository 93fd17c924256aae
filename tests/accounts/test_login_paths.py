"""Every way to sign in is limited per account and per client address: the API's token
endpoint, the admin's login and the browsable API's login (the web page has its own tests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.MOSAIC_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.MOSAIC_LOGIN_FAILURES_PER_ADDRESS = 5


RIGHT = "alice-Secret-pw-1"


def token_attempt(password: str, username: str = "alice", forwarded: str = "") -> Any:
    extra: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return APIClient().post(
        "/api/auth/token", {"username": username, "password": password}, format="json", **extra
    )


def test_the_token_endpoint_refuses_even_the_right_password_after_an_accounts_failures(
    alice: Any,
) -> None:
    assert [token_attempt("wrong").status_code for _ in range(3)] == [401] * 3
    refused = token_attempt(RIGHT)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert "Try again in" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0


def test_a_right_password_clears_the_accounts_failures(alice: Any) -> None:
    for _ in range(2):
        token_attempt("wrong")
    assert token_attempt(RIGHT).status_code == 201
    assert [token_attempt("wrong").status_code for _ in range(3)] == [401] * 3


def test_a_different_forwarded_for_each_time_still_counts_against_one_address(
    db: None,
) -> None:
    statuses = [
        token_attempt("wrong", username=f"guess-{n}", forwarded=f"198.51.100.{n}").status_code
        for n in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2


@pytest.mark.parametrize(
    ("path", "success_status"), [("/admin/login/", 302), ("/api-auth/login/", 302)]
)
def test_djangos_login_pages_are_limited_too(
    alice: Any, staff: Any, path: str, success_status: int
) -> None:
    client = Client()
    for _ in range(3):
        response = client.post(path, {"username": "alice", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    refused = client.post(path, {"username": "alice", "password": RIGHT})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    # Another account from the same address is still let in.
    signed_in = Client().post(path, {"username": "sam", "password": "sam-Secret-pw-1"})
    assert signed_in.status_code == success_status
