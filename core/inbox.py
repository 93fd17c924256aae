"""A queue for one reader: what a connection's application reads its events from.

daphne gives every connection an ``asyncio.Queue`` for the events its application reads
(``receive``). That queue is made for many readers and writers, with a bound and ``join``: four
``collections.deque`` (its items, the waiting getters and putters, the waiters of its
``join`` event), about 3 KB before anything is put in it, for every idle socket. An
application reads its events one at a time, without a bound or ``join``: ``Inbox`` keeps a
list, and a list of waiting readers only while one waits (docs/performance.md, "Turn cost",
idle sockets).
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """``put_nowait`` and ``get`` as ``asyncio.Queue`` has them (unbounded): nothing is held
    but the items and, while someone waits, the waiting readers."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake()

    async def get(self) -> T:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
                if not self._waiters:
                    self._waiters = None
                if self._items:  # woken but cancelled: another reader takes the item
                    self._wake()
        return self._items.pop(0)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def _wake(self) -> None:
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)
                return
