"""The web sign-in: Django's session login behind the per-account and per-address limit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.MOSAIC_LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.MOSAIC_LOGIN_FAILURES_PER_ADDRESS = 20


def post_login(client: Client, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_the_right_password_signs_in_and_lands_on_the_conversation_list(alice: Any) -> None:
    client = Client()
    response = post_login(client, "alice", "alice-Secret-pw-1")
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert b"Conversations" in page.content


def test_a_wrong_password_says_so_and_signs_nobody_in(alice: Any) -> None:
    client = Client()
    response = post_login(client, "alice", "wrong")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert client.get("/").status_code == 302


def test_after_too_many_failures_even_the_right_password_is_refused_with_429(
    alice: Any,
) -> None:
    client = Client()
    for _ in range(3):
        post_login(client, "alice", "wrong", ip="10.1.1.1")
    refused = post_login(client, "alice", "alice-Secret-pw-1", ip="10.1.1.2")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert b"Too many failed sign-in attempts" in refused.content
    assert b'value="alice"' in refused.content  # what was typed is kept
    assert client.get("/").status_code == 302


def test_a_locked_account_does_not_lock_another(alice: Any, bob: Any) -> None:
    client = Client()
    for _ in range(3):
        post_login(client, "alice", "wrong")
    assert post_login(client, "bob", "bob-Secret-pw-1").status_code == 302


def test_pages_ask_for_sign_in_and_come_back_after(alice: Any) -> None:
    client = Client()
    response = client.get("/chat/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/chat/"
    signed_in = client.post(
        "/login/?next=/chat/",
        {"username": "alice", "password": "alice-Secret-pw-1", "next": "/chat/"},
    )
    assert signed_in["Location"] == "/chat/"


def test_sign_out_is_a_post_and_ends_the_session(alice: Any) -> None:
    client = Client()
    client.force_login(alice)
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302
