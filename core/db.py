"""Database helpers shared by the apps.

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

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def commit_without_flush() -> Iterator[None]:
    """A transaction (or the enclosing one) that commits without waiting for the disk."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield
