"""Logging out and revoking: ``DELETE /api/auth/token``, the list of one's own tokens, and chat
sockets closed (4401) when their token is revoked or their user deactivated, checked again
before every turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken, hash_token
from conversations.models import Message
from mosaic.asgi import application
from tests.conftest import token_for
from tests.test_cli import mosaic


def bearer(raw: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_delete_token_revokes_only_the_token_it_is_sent_with(alice: Any) -> None:
    first, second = token_for(alice), token_for(alice)
    assert bearer(first).delete("/api/auth/token").status_code == 204
    assert bearer(first).get("/api/auth/me").status_code == 401
    assert bearer(second).get("/api/auth/me").status_code == 200
    assert ApiToken.objects.get(token_hash=hash_token(first)).revoked


def test_delete_token_without_a_token_is_refused(alice: Any) -> None:
    assert APIClient().delete("/api/auth/token").status_code == 401
    client = APIClient()
    client.force_login(alice)
    response = client.delete("/api/auth/token")
    assert response.status_code == 400
    assert "Bearer" in response.json()["detail"]


def test_token_list_is_ones_own_marks_the_current_one_and_shows_no_secret(
    alice: Any, bob: Any
) -> None:
    current, other = token_for(alice), token_for(alice)
    bobs = token_for(bob)
    bearer(other).delete("/api/auth/token")
    response = bearer(current).get("/api/auth/tokens")
    assert response.status_code == 200
    listed = response.json()
    assert len(listed) == 2
    by_prefix = {t["prefix"]: t for t in listed}
    assert by_prefix[current[:10]]["current"] is True
    assert by_prefix[current[:10]]["state"] == "active"
    assert by_prefix[other[:10]]["state"] == "revoked"
    body = response.content.decode()
    for secret in (current, other, bobs, hash_token(current)):
        assert secret not in body
    assert bobs[:10] not in body


def test_revoking_another_users_token_by_id_is_404(alice: Any, bob: Any) -> None:
    token_for(alice)
    bobs = ApiToken.objects.get(pk=services.token_create(user=bob)[0].pk)
    alice_api = bearer(token_for(alice))
    assert alice_api.delete(f"/api/auth/tokens/{bobs.pk}").status_code == 404
    bobs.refresh_from_db()
    assert not bobs.revoked
    own = ApiToken.objects.filter(user=alice).first()
    assert own is not None
    assert alice_api.delete(f"/api/auth/tokens/{own.pk}").status_code == 204
    own.refresh_from_db()
    assert own.revoked


# --- sockets ---------------------------------------------------------------------------------------

pytestmark_sockets = pytest.mark.django_db(transaction=True)


async def open_socket(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def bearer_socket(raw: str) -> WebsocketCommunicator:
    return await open_socket([(b"authorization", f"Bearer {raw}".encode())])


async def closed_with(communicator: WebsocketCommunicator) -> int | None:
    output = await communicator.receive_output(timeout=5)
    return output.get("code") if output["type"] == "websocket.close" else None


async def still_open(communicator: WebsocketCommunicator) -> bool:
    await communicator.send_json_to({"type": "ping"})
    return bool(await communicator.receive_json_from(timeout=5) == {"type": "pong"})


@pytestmark_sockets
async def test_logging_out_closes_that_tokens_sockets_and_no_others(alice: Any) -> None:
    doomed, kept = await sync_to_async(token_for)(alice), await sync_to_async(token_for)(alice)
    doomed_socket, kept_socket = await bearer_socket(doomed), await bearer_socket(kept)
    response = await sync_to_async(bearer(doomed).delete)("/api/auth/token")
    assert response.status_code == 204
    assert await closed_with(doomed_socket) == 4401
    assert await still_open(kept_socket)
    await kept_socket.disconnect()


@pytestmark_sockets
async def test_revoking_in_the_admin_closes_the_sockets(alice: Any) -> None:
    raw = await sync_to_async(token_for)(alice)
    socket = await bearer_socket(raw)
    await sync_to_async(
        lambda: services.tokens_revoke_selected(tokens=ApiToken.objects.filter(user=alice))
    )()
    assert await closed_with(socket) == 4401


@pytestmark_sockets
async def test_deactivating_a_user_closes_their_token_and_cookie_sockets(
    alice: Any, bob: Any
) -> None:
    token_socket = await bearer_socket(await sync_to_async(token_for)(alice))
    browser = Client()
    await sync_to_async(browser.force_login)(alice)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    cookie_socket = await open_socket([(b"cookie", cookie), (b"origin", b"http://localhost")])
    bobs_socket = await bearer_socket(await sync_to_async(token_for)(bob))

    def deactivate() -> None:
        user = get_user_model().objects.get(pk=alice.pk)
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()
    assert await closed_with(token_socket) == 4401
    assert await closed_with(cookie_socket) == 4401
    assert await still_open(bobs_socket)
    await bobs_socket.disconnect()


@pytestmark_sockets
async def test_a_turn_is_refused_once_the_token_is_revoked_even_if_the_close_was_missed(
    alice: Any, upstreams: dict[str, str]
) -> None:
    raw = await sync_to_async(token_for)(alice)
    socket = await bearer_socket(raw)
    await socket.send_json_to({"type": "conversation:open"})
    assert (await socket.receive_json_from(timeout=5))["type"] == "session:info"
    assert (await socket.receive_json_from(timeout=5))["type"] == "conversation:history"
    # Revoked behind the services' back: no close message is published.
    await sync_to_async(
        lambda: ApiToken.objects.filter(token_hash=hash_token(raw)).update(revoked=True)
    )()
    await socket.send_json_to({"type": "message:send", "content": "hi", "client_id": "late"})
    assert await closed_with(socket) == 4401
    assert not await sync_to_async(Message.objects.filter(client_id="late").exists)()


@pytestmark_sockets
async def test_a_session_cookie_without_an_origin_is_not_accepted(alice: Any) -> None:
    browser = Client()
    await sync_to_async(browser.force_login)(alice)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"cookie", cookie)])
    await communicator.connect()
    output = await communicator.receive_output(timeout=5)
    if output["type"] == "websocket.accept":
        output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}


# --- the terminal client -----------------------------------------------------------------------


@pytest.mark.e2e
def test_mosaic_logout_revokes_the_token_and_forgets_it(
    alice: Any, live_server_factory: Any, tmp_path: Path
) -> None:
    server = live_server_factory()
    config = tmp_path / "client.json"
    env = {"MOSAIC_CLIENT_CONFIG": str(config)}
    login = mosaic(
        "login", "--server", server.http_url, "--username", "alice", "--password-stdin",
        stdin="alice-Secret-pw-1\n", env=env,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    token = json.loads(config.read_text())["token"]
    listed = mosaic("tokens", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "(this one)" in listed.stdout

    result = mosaic("logout", env=env)
    assert result.returncode == 0, result.stderr
    assert "revoked" in result.stdout
    assert json.loads(config.read_text())["token"] == ""
    me = httpx.get(f"{server.http_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    again = mosaic("logout", env=env)
    assert again.returncode == 0
    assert "not logged in" in again.stdout
