"""The delta relay (agents/fanout.py): a drain never waits out the Redis writer's gathering
interval, even for chunks that arrive while the writer is busy with an earlier batch (the turn's
next event, ``message:done`` among them, waits for the drain)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, ClassVar

import pytest

from agents import channel as ch
from agents import fanout, live
from agents.events import text
from agents.session import ChatSession

pytestmark = pytest.mark.django_db(transaction=True)


class Collecting:
    channel: ClassVar[str] = "test"

    def __init__(self) -> None:
        self.events: list[ch.Outbound] = []

    async def deliver(self, event: ch.Outbound) -> None:
        self.events.append(event)


async def test_a_drain_does_not_wait_for_chunks_that_came_while_the_writer_was_busy(
    alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interval no test could wait out: a drain that waited for it would hang.
    monkeypatch.setattr(fanout.DeltaRelay, "OTHERS_INTERVAL", 3600.0)
    writing, release = asyncio.Event(), asyncio.Event()
    written: list[str] = []
    real_append = live.live_append

    async def slow_append(user_id: int, conversation_id: Any, event: ch.TextStreamed) -> int:
        written.append(event.text)
        writing.set()
        await release.wait()  # the writer is busy with this batch
        return await real_append(user_id, conversation_id, event)

    monkeypatch.setattr(live, "live_append", slow_append)
    adapter = Collecting()
    chat = ChatSession(
        user=alice, channel_name="test.relay", adapter=adapter, conversation_id=uuid.uuid4()
    )
    relay = fanout.DeltaRelay(chat, "turn-1")
    message_id = uuid.uuid4()

    await relay.push(text(message_id, "Hello"))
    drain = asyncio.create_task(relay.drain())  # wakes the writer out of its interval
    await asyncio.wait_for(writing.wait(), 10)
    await relay.push(text(message_id, " world"))  # arrives while "Hello" is being written
    release.set()

    await asyncio.wait_for(drain, 10)
    assert written == ["Hello", " world"]
    assert "".join(e.text for e in adapter.events if isinstance(e, ch.TextStreamed)) == (
        "Hello world"
    )
    await relay.close()
