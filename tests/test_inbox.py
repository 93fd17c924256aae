"""core.inbox.Inbox, the queue a connection's application reads its events from under
``mosaic.serve`` (every live-server test also runs through it)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from core.inbox import Inbox
from mosaic.serve import MosaicServer


async def test_events_come_out_in_order_and_a_waiting_reader_is_woken() -> None:
    inbox: Inbox[int] = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert (inbox.qsize(), inbox.empty()) == (2, False)
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()

    reading = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    assert not reading.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reading, 1) == 3


async def test_a_cancelled_read_loses_nothing() -> None:
    inbox: Inbox[str] = Inbox()
    reading = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("connect")  # wakes the reader, which is cancelled before it runs
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await asyncio.wait_for(inbox.get(), 1) == "connect"


async def test_readers_waiting_together_each_get_one_event_in_turn() -> None:
    inbox: Inbox[str] = Inbox()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("a")
    assert await asyncio.wait_for(first, 1) == "a"
    assert not second.done()
    inbox.put_nowait("b")
    assert await asyncio.wait_for(second, 1) == "b"


async def test_an_event_woken_for_a_cancelled_reader_goes_to_the_next() -> None:
    inbox: Inbox[str] = Inbox()
    first = asyncio.ensure_future(inbox.get())
    second = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("only")  # wakes the first, which is cancelled before it runs
    first.cancel()
    assert await asyncio.wait_for(second, 1) == "only"
    assert first.cancelled()


async def test_the_server_gives_each_connection_an_inbox_its_application_reads() -> None:
    received: list[dict[str, Any]] = []

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received.append(await receive())

    server = MosaicServer(application=application, endpoints=["tcp:port=0"], signal_handlers=False)
    protocol = object()
    server.connections = {protocol: {}}
    inbox = server.create_application(protocol, {"type": "websocket"})
    assert isinstance(inbox, Inbox)
    inbox.put_nowait({"type": "websocket.connect"})
    await asyncio.wait_for(server.connections[protocol]["application_instance"], 1)
    assert received == [{"type": "websocket.connect"}]


def test_an_empty_inbox_is_smaller_than_an_asyncio_queue() -> None:
    inbox: Inbox[int] = Inbox()
    queue: asyncio.Queue[int] = asyncio.Queue()
    own = sys.getsizeof(inbox) + sys.getsizeof(inbox._items)
    parts: list[object] = [queue, queue.__dict__, *vars(queue).values()]
    theirs = sum(sys.getsizeof(part) for part in parts)
    assert own * 10 < theirs
