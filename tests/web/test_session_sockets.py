"""The page's socket: the session cookie authenticates it, the Origin must be ours, and signing
out closes it (every socket of that browser session, on any server process)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import token_for
from tests.web.conftest import SERVER_START_SECONDS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    # The first test also waits for the module's daphne processes to start.
    pytest.mark.timeout(2 * SERVER_START_SECONDS + 60),
]


def browser_session(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def cookie_socket(server: Any, client: Client | str, origin: str | None = None) -> Any:
    session_key = client if isinstance(client, str) else client.cookies["sessionid"].value
    headers = {
        "Cookie": f"sessionid={session_key}",
        "Origin": origin or server.http_url,
    }
    return await websockets.connect(server.ws_url, additional_headers=headers)


async def opened(ws: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "conversation:open"}))
    frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
    assert frame["type"] == "session:info", frame
    await asyncio.wait_for(ws.recv(), 15)  # conversation:history
    return dict(frame)


async def still_open(ws: Any) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    return bool(json.loads(await asyncio.wait_for(ws.recv(), 15)) == {"type": "pong"})


async def closed_with(ws: Any) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 15)
    except ConnectionClosed:
        code: int | None = ws.close_code
        return code


async def test_the_session_cookie_opens_the_socket_from_our_own_origin(
    alice: Any, live_web: Any
) -> None:
    server = live_web
    session = await sync_to_async(browser_session)(alice)
    ws = await cookie_socket(server, session)
    info = await opened(ws)
    assert info["conversation_id"]
    await ws.close()


async def test_a_page_from_another_origin_cannot_use_the_cookie(alice: Any, live_web: Any) -> None:
    server = live_web
    session = await sync_to_async(browser_session)(alice)
    with pytest.raises(InvalidStatus) as refused:
        await cookie_socket(server, session, origin="http://evil.example")
    assert refused.value.response.status_code == 403


async def test_signing_out_closes_that_session_s_sockets_and_no_others(
    alice: Any, live_web: Any, other_live_web: Any
) -> None:
    server_a, server_b = live_web, other_live_web
    leaving = await sync_to_async(browser_session)(alice)
    staying = await sync_to_async(browser_session)(alice)  # alice in another browser
    tab_1 = await cookie_socket(server_a, leaving)
    tab_2 = await cookie_socket(server_b, leaving)  # another tab, on another server process
    other_browser = await cookie_socket(server_a, staying)
    terminal = await websockets.connect(
        server_a.ws_url,
        additional_headers={"Authorization": f"Bearer {await sync_to_async(token_for)(alice)}"},
    )
    for ws in (tab_1, tab_2, other_browser, terminal):
        await opened(ws)

    session_key = leaving.cookies["sessionid"].value
    response = await sync_to_async(leaving.post)("/logout/")
    assert response.status_code == 302

    assert await closed_with(tab_1) == 4401
    assert await closed_with(tab_2) == 4401
    assert await still_open(other_browser)
    assert await still_open(terminal)
    # The ended session's cookie cannot open a new socket either.
    late = await cookie_socket(server_a, session_key)
    assert await closed_with(late) == 4401
    for ws in (other_browser, terminal):
        await ws.close()
