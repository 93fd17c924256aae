"""Upstream error text never carries a credential onward: the credential test, the stored
``last_error`` and the chat's error frame redact it; users of the installation's own key see
only what kind of failure it was."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from core.redact import redact_secrets
from providers import services as provider_services
from providers.models import ProviderCredential
from tests.agents.chat import ChatClient, of_type
from tests.conftest import token_for

GPT = "openai:gpt-5.4"
WRONG_KEY = "sk-proj-alicesWrongKey0123456789abcdefXYZ"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Incorrect API key provided: sk-abc123XYZdef456.", "sk-abc123XYZdef456"),
        ("invalid x-api-key: sk-ant-api03-AAAAbbbbCCCC", "sk-ant-api03-AAAAbbbbCCCC"),
        ("header was Authorization: Bearer mos_abcdefghijkl", "mos_abcdefghijkl"),
        ("bad api_key=0123456789abcdef0123 given", "0123456789abcdef0123"),
        ('{"token": "hunter2hunter2"}', "hunter2hunter2"),
        ("key 0123456789abcdef0123456789abcdef.AbCdEfGhIjKl refused", "AbCdEfGhIjKl"),
    ],
)
def test_credential_shaped_text_is_redacted(text: str, secret: str) -> None:
    redacted = redact_secrets(text)
    assert secret not in redacted
    assert "[redacted]" in redacted


def test_ordinary_error_text_is_kept() -> None:
    text = "model claude-sonnet-4-6 is overloaded; retry in 20 s (gpt-5.4-mini, org-12345)"
    assert redact_secrets(text) == text


@pytest.mark.django_db
def test_credential_test_and_last_error_do_not_repeat_the_key(
    alice_api: APIClient, upstreams: dict[str, str], fake_openai: Any
) -> None:
    fake_openai.api_keys = {"sk-the-only-right-key"}
    created = alice_api.post(
        "/api/providers", {"provider": "openai", "api_key": WRONG_KEY}, format="json"
    )
    credential_id = created.json()["id"]
    response = alice_api.post(f"/api/providers/{credential_id}/test")
    assert response.status_code == 200
    assert WRONG_KEY not in response.content.decode()
    assert "Incorrect API key provided: [redacted]" in response.json()["error"]
    stored = ProviderCredential.objects.get(pk=credential_id).last_error
    assert "Incorrect API key" in stored
    assert WRONG_KEY not in stored
    assert WRONG_KEY not in alice_api.get("/api/providers").content.decode()


@pytest.mark.django_db(transaction=True)
async def test_a_users_own_key_error_reaches_the_socket_redacted(
    alice: Any, upstreams: dict[str, str], fake_openai: Any
) -> None:
    fake_openai.api_keys = {"sk-the-only-right-key"}
    await sync_to_async(provider_services.credential_create)(
        user=alice, provider="openai", api_key=WRONG_KEY
    )
    chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    try:
        await chat.open(model=GPT)
        frames = await chat.say("hello")
    finally:
        await chat.close()
    errors = of_type(frames, "error")
    assert errors, frames
    assert "Incorrect API key provided: [redacted]" in errors[0]["message"]
    assert all(WRONG_KEY not in str(frame) for frame in frames)


@pytest.mark.django_db(transaction=True)
async def test_a_system_key_error_shows_users_a_generic_message(
    alice: Any, upstreams: dict[str, str], fake_openai: Any
) -> None:
    fake_openai.api_keys = {"sk-the-only-right-key"}
    chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    try:
        await chat.open(model=GPT)
        frames = await chat.say("hello")
    finally:
        await chat.close()
    errors = of_type(frames, "error")
    assert errors, frames
    message = errors[0]["message"]
    assert "refused the server's credentials" in message
    assert "Incorrect API key" not in message
    assert upstreams["OPENAI_API_KEY"] not in message
    assert errors[0]["code"] == "provider_auth"
