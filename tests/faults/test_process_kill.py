"""``kill -9`` of the daphne process that streams a reply (issue 15, item 2): the reply so far is
in the database, the turn is found orphaned as soon as its lock lapses, its message ends failed,
and a resend of the unanswered message is answered by another process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings

from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.chat import of_type, text_of

# Each test starts real servers, which took minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

SONNET = "anthropic:claude-sonnet-4-6"
LONG_REPLY = "word " * 80  # 80 chunks 0.1 s apart: still streaming when the process dies


def reply_row(message_id: str) -> Message | None:
    return Message.objects.filter(pk=message_id).first()


async def wait_for(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_reply_cut_by_kill_9_is_kept_failed_and_the_resend_is_answered(
    alice: Any, start_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    doomed, survivor = await start_server(), await start_server()
    fake_anthropic.script(Script(text=LONG_REPLY, chunk_size=5, delay=0.1))
    client = await connect(doomed)
    info, _ = await client.open(model=SONNET)
    await client.send({"type": "message:send", "content": "talk", "client_id": "c-1"})
    first = (await client.until("message:delta"))[-1]
    message_id = first["message_id"]

    async def saved_so_far() -> bool:
        row = await sync_to_async(reply_row)(message_id)
        return row is not None and len(row.content) >= 10

    await wait_for(saved_so_far, "the reply to be saved while it streams")
    await sync_to_async(doomed.kill)()
    await client.close()
    row = await sync_to_async(reply_row)(message_id)
    assert row is not None
    assert row.status == "streaming"
    assert LONG_REPLY.startswith(row.content)

    # The dead process renews its lock no more: it lapses within MOSAIC_TURN_LOCK_SECONDS.
    lock = f"mosaic:u{alice.pk}:c{info['conversation_id']}:turn"
    store = redis.Redis.from_url(settings.REDIS_URL)

    async def lock_lapsed() -> bool:
        return not await sync_to_async(store.exists)(lock)

    await wait_for(lock_lapsed, "the dead turn's lock to lapse", timeout=10)

    fake_anthropic.script(Script(text="Answered now."))
    again = await connect(survivor)
    _, history = await again.open(conversation_id=info["conversation_id"], model=SONNET)
    kept = next(m for m in history["messages"] if m["id"] == message_id)
    assert kept["status"] == "failed"
    assert kept["content"] == row.content
    assert await again.nothing(0.5), "nothing streams for a turn no process runs"

    await again.send({"type": "message:send", "content": "talk", "client_id": "c-1"})
    frames = await again.until("message:done")
    (ack,) = of_type(frames, "message:ack")
    assert ack["duplicate"] is True
    assert text_of(frames) == "Answered now."
    assert frames[-1]["status"] == "complete"
    await again.close()
