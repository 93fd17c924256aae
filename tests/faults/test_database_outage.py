"""PostgreSQL goes away while a reply streams, for the daphne process that runs the turn
(issue 15, item 1): the reply is retried, or ends failed and waits in Redis, and is never lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type, text_of

# Each test starts real servers, which took minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

SONNET = "anthropic:claude-sonnet-4-6"


def assistant_rows(conversation_id: str) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id, role="assistant"))


async def connect_once_back(connect: Any, server: Any, within: float = 20.0) -> ChatClient:
    """Connect as the terminal client does after an outage (mosaic/tui/client.py retries an
    HTTP 500): a new socket can be refused until the server's connection pool has reconnected,
    which psycopg_pool tries again after a growing delay, not at once."""
    deadline = time.monotonic() + within
    while True:
        try:
            client: ChatClient = await connect(server)
        except InvalidStatus as error:
            if error.response.status_code != 500 or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        else:
            return client


async def start_reply(client: ChatClient, content: str) -> dict[str, Any]:
    """Send a message and return its first text delta."""
    await client.send({"type": "message:send", "content": content, "client_id": "c-1"})
    frames = await client.until("message:delta")
    return frames[-1]


async def test_a_reply_that_ends_while_the_database_is_briefly_down_is_stored(
    start_server: Any, connect: Any, fake_anthropic: Any, database_proxy: Any
) -> None:
    proxy, database_url = database_proxy
    fake_anthropic.script(Script(text="Stored after all.", chunk_size=9, delay=0.3))
    client = await connect(
        await start_server(
            DATABASE_URL=database_url, MOSAIC_SAVE_RETRY_SECONDS="30", DATABASE_POOL_TIMEOUT="1"
        )
    )
    info, _ = await client.open(model=SONNET)
    first = await start_reply(client, "hello")
    await sync_to_async(proxy.stop)()
    await asyncio.sleep(1.5)  # the reply ends (0.3 s) while the database is away
    await sync_to_async(proxy.start)()
    frames = await client.until("message:done", timeout=60)
    assert not of_type(frames, "error")
    done = frames[-1]
    assert (done["status"], done["message_id"]) == ("complete", first["message_id"])
    (row,) = await sync_to_async(assistant_rows)(info["conversation_id"])
    assert (row.status, row.content) == ("complete", "Stored after all.")
    await client.close()


async def test_a_reply_the_database_cannot_take_ends_failed_and_is_stored_once_it_is_back(
    start_server: Any, connect: Any, fake_anthropic: Any, database_proxy: Any
) -> None:
    proxy, database_url = database_proxy
    fake_anthropic.script(Script(text="Kept in Redis meanwhile.", chunk_size=8, delay=0.2))
    # A query waits 1 s for a connection that cannot come, so each write fails quickly.
    server = await start_server(
        DATABASE_URL=database_url, MOSAIC_SAVE_RETRY_SECONDS="1", DATABASE_POOL_TIMEOUT="1"
    )
    client = await connect(server)
    info, _ = await client.open(model=SONNET)
    first = await start_reply(client, "hello")
    await sync_to_async(proxy.stop)()
    frames = await client.until("message:done", timeout=60)  # every write tries and fails first
    assert "".join([first["text"], text_of(frames)]) == "Kept in Redis meanwhile."
    (error,) = of_type(frames, "error")
    assert error["code"] == "unavailable"
    assert "kept" in error["message"]
    done = frames[-1]
    assert (done["status"], done["message_id"]) == ("failed", first["message_id"])
    rows = await sync_to_async(assistant_rows)(info["conversation_id"])
    assert all(r.status == "streaming" for r in rows)  # at most the reply so far
    await client.close()

    await sync_to_async(proxy.start)()
    again = await connect_once_back(connect, server)
    _, history = await again.open(conversation_id=info["conversation_id"])
    replies = [m for m in history["messages"] if m["role"] == "assistant"]
    assert [(m["id"], m["status"], m["content"]) for m in replies] == [
        (first["message_id"], "complete", "Kept in Redis meanwhile.")
    ]
    await again.close()
