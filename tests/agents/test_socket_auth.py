"""The chat socket authenticates at connect: bearer token or session cookie, else close 4401."""

from __future__ import annotations

from typing import Any

import channels.consumer
import pytest
from channels.sessions import InstanceSessionWrapper
from channels.testing import WebsocketCommunicator
from django.test import Client

from mosaic.asgi import application
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool, Any]:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_bearer_token_connects_and_ping_answers_pong(alice: Any) -> None:
    from asgiref.sync import sync_to_async

    token = await sync_to_async(token_for)(alice)
    communicator, connected, _ = await connect([(b"authorization", f"Bearer {token}".encode())])
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_a_token_socket_takes_no_detour_per_frame(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No session machinery for a token socket, and no hop to asgiref's sync thread to tidy
    connections before each frame (Channels' default dispatch): the consumer's database calls
    run in core.db's threads."""
    from asgiref.sync import sync_to_async

    detours: list[str] = []

    async def close_old_connections() -> None:
        detours.append("aclose_old_connections")

    real_init = InstanceSessionWrapper.__init__

    def session_wrapper(wrapper: Any, *args: Any) -> None:
        detours.append("session")
        real_init(wrapper, *args)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", close_old_connections)
    monkeypatch.setattr(InstanceSessionWrapper, "__init__", session_wrapper)
    token = await sync_to_async(token_for)(alice)
    communicator, connected, _ = await connect([(b"authorization", f"Bearer {token}".encode())])
    assert connected
    for _ in range(3):
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()
    assert detours == []


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Bearer mos_not-a-real-token")],
        [(b"authorization", b"Token abc")],
    ],
)
async def test_unauthenticated_socket_is_closed_with_4401(
    db: None, headers: list[tuple[bytes, bytes]]
) -> None:
    communicator, _, _ = await connect(headers)
    # Accepted then closed, so that the client sees the application's close code.
    output = await communicator.receive_output(timeout=5)
    if output["type"] == "websocket.accept":
        output = await communicator.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}
    await communicator.disconnect()


async def test_session_cookie_connects(alice: Any) -> None:
    from asgiref.sync import sync_to_async

    client = Client()
    await sync_to_async(client.force_login)(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected, _ = await connect(
        [(b"cookie", cookie), (b"origin", b"http://localhost")]
    )
    assert connected
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_foreign_origin_is_refused(alice: Any) -> None:
    from asgiref.sync import sync_to_async

    token = await sync_to_async(token_for)(alice)
    _, connected, _ = await connect(
        [(b"authorization", f"Bearer {token}".encode()), (b"origin", b"https://evil.example")]
    )
    assert not connected
