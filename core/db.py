"""Database helpers shared by the apps.

``in_worker_thread``: database code run beside, not behind, the chat path's database thread.

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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, connections, transaction

T = TypeVar("T")


@contextmanager
def commit_without_flush() -> Iterator[None]:
    """A transaction (or the enclosing one) that commits without waiting for the disk."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


async def in_worker_thread(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run database code in a worker thread of its own, beside the chat path's database thread.

    Every thread-sensitive call (``database_sync_to_async``, ``sync_to_async``'s default) runs in
    one thread per process, one call after the other: a turn's bookkeeping queued there makes
    the next message wait, and reads that could overlap (memory beside history) do not. Code
    run here must be self-contained (its own transaction, no state shared with another call);
    it takes a connection from the pool and gives it back when it returns.
    """

    def run() -> T:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            connections.close_all()  # back to the pool (or closed, without one)

    return await sync_to_async(run, thread_sensitive=False)()
