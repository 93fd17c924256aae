"""Hostile input through a real daphne and the REST API: NUL characters and JSON nested past
Python's recursion limit get a clear refusal (``invalid_frame`` / 400), never an internal error,
and the socket stays usable."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from conversations import services as conversation_services
from conversations.models import Message
from core.untrusted_json import MAX_DEPTH
from tests.conftest import token_for

DEEP = 50_000


def deeply_nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.e2e
async def test_hostile_frames_get_invalid_frame_and_the_socket_keeps_working(
    alice: Any, shared_live_server: Any
) -> None:
    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)()
    async with websockets.connect(
        server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        await ws.send(json.dumps({"type": "conversation:open"}))
        assert json.loads(await ws.recv())["type"] == "session:info"
        assert json.loads(await ws.recv())["type"] == "conversation:history"

        hostile = [
            json.dumps({"type": "message:send", "content": "x\u0000y", "client_id": "nul-1"}),
            '{"type": "command:execute", "command": "/help", "args": ' + deeply_nested(DEEP) + "}",
            deeply_nested(DEEP),
            json.dumps({"type": "ping", "\u0000": 1}),
        ]
        for frame in hostile:
            await ws.send(frame)
            answer = json.loads(await ws.recv())
            assert answer["type"] == "error", answer
            assert answer["code"] == "invalid_frame", answer
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}

    assert "Traceback" not in server.log()
    assert not await sync_to_async(Message.objects.filter(client_id="nul-1").exists)()


def test_search_with_a_nul_character_is_a_400(alice: Any, alice_api: APIClient) -> None:
    conversation_services.conversation_create(user=alice, title="x y")
    response = alice_api.get("/api/conversations/search?q=x%00y")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert alice_api.get("/api/conversations/search?q=xy").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        '{"title": ' + deeply_nested(DEEP) + "}",
        '{"title": ' + deeply_nested(MAX_DEPTH + 1) + "}",
        '{"title": "a\\u0000b"}',
    ],
    ids=["past-the-recursion-limit", "past-the-depth-limit", "nul"],
)
def test_hostile_rest_bodies_are_a_400(alice: Any, alice_api: APIClient, body: str) -> None:
    response = alice_api.post("/api/conversations", data=body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


@pytest.mark.e2e
async def test_hostile_rest_body_over_real_http_is_a_400(
    alice: Any, shared_live_server: Any
) -> None:
    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)()
    async with httpx.AsyncClient(base_url=server.http_url) as client:
        response = await client.post(
            "/api/conversations",
            content='{"title": ' + deeply_nested(DEEP) + "}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert "nest" in response.json()["detail"]
