"""Redis goes away while a reply streams to two sockets (issue 15, item 3): the socket running the
turn ends it cleanly, and the other learns the end from the database."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from mosaic.fakes.base import Script
from tests.agents.chat import of_type, text_of

# Each test starts real servers, which took minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

SONNET = "anthropic:claude-sonnet-4-6"


async def test_when_redis_goes_down_mid_reply_every_socket_still_learns_the_end(
    start_server: Any, connect: Any, fake_anthropic: Any, redis_breaker: Any
) -> None:
    proxy, redis_url = redis_breaker
    server = await start_server(REDIS_URL=redis_url)
    fake_anthropic.script(Script(text="Told through the database.", chunk_size=6, delay=0.3))
    sender, watcher = await connect(server), await connect(server)
    info, _ = await sender.open(model=SONNET)
    await watcher.open(conversation_id=info["conversation_id"], model=SONNET)

    await sender.send({"type": "message:send", "content": "hello", "client_id": "c-1"})
    first = (await watcher.until("message:delta"))[-1]  # through Redis, while it is up
    await sync_to_async(proxy.stop)()

    frames = await sender.until("message:done")
    assert not of_type(frames, "error")
    done = frames[-1]
    assert done["status"] == "complete"
    assert text_of(frames) == "Told through the database."

    seen = await watcher.until("message:done")
    assert not of_type(seen, "error")
    assert seen[-1]["message_id"] == first["message_id"] == done["message_id"]
    assert seen[-1]["status"] == "complete"
    assert (seen[-1]["provider"], seen[-1]["model"]) == ("anthropic", "claude-sonnet-4-6")

    await sync_to_async(proxy.start)()
    await sender.close()
    await watcher.close()
