"""Database helpers shared by the apps.

``in_database_thread``: how async code (the chat path, the socket) runs database code.

``commit_without_flush``: a transaction whose COMMIT does not wait for PostgreSQL to flush its
write-ahead log to disk (``SET LOCAL synchronous_commit = off``). For records whose loss in a
crash of PostgreSQL itself is harmless (a turn's accounting, agent and job logs, usage marks):
such a crash may forget the last fraction of a second of them (three times
``wal_writer_delay``, 0.6 s by default), never corrupt or half-write them, and a crash of
Mosaic's own processes loses nothing once COMMIT returned. On the shared disks Mosaic often runs
on, a flush costs from one to hundreds of milliseconds, which is why a chat turn keeps only the
user's and the assistant's messages durable (docs/operations.md, "Durability").
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.db import connection, connections, transaction

T = TypeVar("T")

# A database thread hands its connection back (to the pool, or closes it) after this long idle,
# and checks it before a call after this long without one.
IDLE_SECONDS = 30.0
CHECK_AFTER_SECONDS = 1.0


@contextmanager
def commit_without_flush() -> Iterator[None]:
    """A transaction (or the enclosing one) that commits without waiting for the disk."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


async def in_database_thread(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run ``func`` (database code) in one of the process's database threads and return its
    result; cancelling the wait before the call starts skips the call, as an executor does.

    Each of ``MOSAIC_DATABASE_THREADS`` threads keeps its connection between calls, so a call
    costs a hand-off and the queries, not also a connection taken from the pool and given back
    and the bookkeeping of asgiref's ``sync_to_async`` around it (~400 µs of CPU per call with
    those, ~170 µs without, for one trivial query; docs/performance.md, "Turn cost"). Calls run
    side by side, so a turn's bookkeeping does not make the next message wait, and reads that
    can overlap (memory beside history) do. Code run here must be self-contained: its own
    transaction (or autocommit), no state shared with another call. A connection idle for
    over a second is checked before the next call (it may have died meanwhile, as the pool's
    are checked before it hands them out). Under ``async_to_sync`` (sync code calling async
    code) the call runs in the sync caller's thread instead.
    """
    if getattr(AsyncToSync.executors, "current", None) is not None:
        # Called from sync code through async_to_sync (a Celery job, a test): run in that
        # code's thread, on its connection and inside its transaction, as sync_to_async does;
        # another connection could wait forever on the rows that transaction holds.
        return await sync_to_async(func, thread_sensitive=True)(*args, **kwargs)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def call() -> None:
        if future.cancelled():
            return
        try:
            result = context.run(func, *args, **kwargs)
        except BaseException as error:
            _deliver(loop, future.set_exception, future, error)
        else:
            _deliver(loop, future.set_result, future, result)

    _threads.submit(call)
    return await future


def stop_database_threads() -> None:
    """Hand every database thread's connection back and end the threads (they start again on
    the next call): before the database they use goes away (the test suite's end)."""
    _threads.stop()


def _deliver(
    loop: asyncio.AbstractEventLoop,
    setter: Callable[[Any], None],
    future: asyncio.Future[Any],
    value: Any,
) -> None:
    def settle() -> None:
        if not future.done():
            setter(value)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


class _DatabaseThreads:
    """A few threads taking calls from one queue, each keeping its own connection."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pid = 0
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], None]) -> None:
        if self._pid != os.getpid():  # first call, or a forked child (the threads stayed behind)
            self._start()
        self._calls.put(call)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._calls = queue.SimpleQueue()
            self._threads = [
                threading.Thread(target=self._serve, name=f"mosaic-db-{n}", daemon=True)
                for n in range(max(1, int(settings.MOSAIC_DATABASE_THREADS)))
            ]
            for thread in self._threads:
                thread.start()
            self._pid = os.getpid()

    def stop(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                return
            for _ in self._threads:
                self._calls.put(None)
            for thread in self._threads:
                thread.join()
            self._threads, self._pid = [], 0

    def _serve(self) -> None:
        calls = self._calls
        last_call = 0.0
        while True:
            try:
                call = calls.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                connections.close_all()  # idle: back to the pool (or closed, without one)
                continue
            if call is None:
                connections.close_all()
                return
            if time.monotonic() - last_call > CHECK_AFTER_SECONDS:
                _drop_connection_if_broken()
            try:
                call()
            finally:
                _keep_or_drop_connection()
                last_call = time.monotonic()


def _drop_connection_if_broken() -> None:
    """A connection that sat idle may have died meanwhile (PostgreSQL restarted, a proxy or
    firewall dropped it): one query tells, so the call gets a working one (the pool checks each
    connection it hands out the same way)."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _keep_or_drop_connection() -> None:
    """After a call: keep the thread's connection unless it failed and is no longer usable, or
    the call left a transaction open (it would leak into the next call)."""
    if connection.connection is None:
        return
    if connection.in_atomic_block or not connection.get_autocommit():
        connection.close()
    elif connection.errors_occurred:
        if connection.is_usable():
            connection.errors_occurred = False
        else:
            connection.close()


_threads = _DatabaseThreads()
