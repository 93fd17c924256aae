"""End to end: a real daphne process, a real WebSocket client (websockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.conftest import token_for

pytestmark = pytest.mark.e2e


async def test_daphne_socket_authenticates_with_bearer_and_rejects_without(
    alice: Any, shared_live_server: Any
) -> None:
    from asgiref.sync import sync_to_async

    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)()

    async with websockets.connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}

    async with websockets.connect(server.ws_url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_token_endpoint_over_real_http(alice: Any, shared_live_server: Any) -> None:
    import httpx
    from asgiref.sync import sync_to_async

    server = await sync_to_async(shared_live_server)()
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        issued = await client.post(
            "/api/auth/token", json={"username": "alice", "password": "alice-Secret-pw-1"}
        )
        assert issued.status_code == 201
        me = await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {issued.json()['token']}"}
        )
    assert me.json()["username"] == "alice"


async def test_an_oversized_frame_gets_too_large_and_the_socket_stays_open(
    alice: Any, shared_live_server: Any
) -> None:
    """Over MOSAIC_MAX_MESSAGE_BYTES (256 KB) but under the hard limit (1 MiB): an error frame
    that names the real limit, and the socket goes on."""
    from asgiref.sync import sync_to_async

    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)()
    frame = json.dumps({"type": "message:send", "content": "x" * 600_000, "client_id": "big"})
    async with websockets.connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(frame)
        error = json.loads(await ws.recv())
        assert error["type"] == "error"
        assert error["code"] == "too_large"
        assert "256 KB" in error["message"]
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}


async def test_a_frame_over_the_hard_limit_closes_with_1009_and_a_reason(
    alice: Any, shared_live_server: Any
) -> None:
    from asgiref.sync import sync_to_async

    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)()
    frame = json.dumps({"type": "message:send", "content": "x" * 2_000_000, "client_id": "huge"})
    async with websockets.connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None, "the server dropped the connection without a close frame"
    assert closed.value.rcvd.code == 1009
    assert "1048576" in closed.value.rcvd.reason
