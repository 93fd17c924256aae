"""A test-only channel adapter: in process, no network, canonical events only.

It holds a conversation through the same gateway as the WebSocket consumer, with its own
address on the real Redis channel layer (a ``ChannelListener``), the way a Matrix bridge
process would.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, TypeVar

from agents import channel as ch
from agents import gateway
from agents.listener import ChannelListener
from agents.session import ChatSession

E = TypeVar("E")
TIMEOUT = 15.0


class MemoryAdapter:
    channel: ClassVar[str] = "memory"

    def __init__(self) -> None:
        self.received: list[ch.Outbound] = []
        self._queue: asyncio.Queue[ch.Outbound] = asyncio.Queue()
        self.listener = ChannelListener(self)
        self.chat: ChatSession | None = None

    async def deliver(self, event: ch.Outbound) -> None:
        self.received.append(event)
        self._queue.put_nowait(event)

    @classmethod
    async def connect(cls, user: Any) -> MemoryAdapter:
        adapter = cls()
        await adapter.listener.start()
        adapter.chat = await adapter.listener.connect(user)
        return adapter

    async def close(self) -> None:
        await self.listener.stop()

    async def send(self, command: ch.Inbound) -> None:
        assert self.chat is not None
        await gateway.receive(self.chat, command)

    async def next(self, timeout: float = TIMEOUT) -> ch.Outbound:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def until(self, kind: type[E], timeout: float = TIMEOUT) -> list[ch.Outbound]:
        events = []
        while True:
            event = await self.next(timeout)
            events.append(event)
            if isinstance(event, kind):
                return events

    async def open(self, **fields: Any) -> tuple[ch.SessionState, ch.History]:
        await self.send(ch.OpenConversation(**fields))
        state, history = await self.next(), await self.next()
        assert isinstance(state, ch.SessionState), state
        assert isinstance(history, ch.History), history
        return state, history

    async def quiet(self, timeout: float = 1.0) -> bool:
        """True if no event arrives within ``timeout``."""
        try:
            event = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return True
        self._queue.put_nowait(event)
        return False


def streamed_text(events: list[ch.Outbound]) -> str:
    return "".join(e.text for e in events if isinstance(e, ch.TextStreamed) and not e.thinking)
