"""The threads that run async code's database calls (core/db.py, ``in_database_thread``): each
keeps its connection between calls, hands it back when it is broken, left in a transaction or
idle, calls run side by side, and a call cancelled before it starts never runs."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from core import db
from core.db import in_database_thread, stop_database_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threads(settings: Any) -> Iterator[Any]:
    """Fresh database threads, as many as the test sets (one unless it says otherwise)."""
    stop_database_threads()
    settings.MOSAIC_DATABASE_THREADS = 1
    yield settings
    stop_database_threads()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid: int = cursor.fetchone()[0]
    return pid


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def test_a_call_returns_its_result_from_a_database_thread(threads: Any) -> None:
    name = await in_database_thread(lambda: threading.current_thread().name)
    assert name.startswith("mosaic-db-")
    assert name != threading.current_thread().name


async def test_an_exception_reaches_the_caller(threads: Any) -> None:
    def fails() -> None:
        raise ValueError("no such row")

    with pytest.raises(ValueError, match="no such row"):
        await in_database_thread(fails)


async def test_the_connection_is_kept_between_calls(threads: Any) -> None:
    first = await in_database_thread(backend_pid)
    assert await in_database_thread(backend_pid) == first


async def test_a_call_that_leaves_a_transaction_open_does_not_leak_it(threads: Any) -> None:
    def leaves_it_open() -> None:
        transaction.set_autocommit(False)
        User.objects.create(username="uncommitted")

    def state() -> tuple[bool, bool]:
        return connection.get_autocommit(), User.objects.filter(username="uncommitted").exists()

    await in_database_thread(leaves_it_open)
    assert await in_database_thread(state) == (True, False)


async def test_a_broken_connection_is_replaced_after_the_call_that_found_it(threads: Any) -> None:
    first = await in_database_thread(backend_pid)
    await asyncio.to_thread(_terminate_in_own_connection, first)
    with pytest.raises(DatabaseError):
        await in_database_thread(backend_pid)
    assert await in_database_thread(backend_pid) not in (first, 0)


async def test_a_connection_that_died_while_idle_is_replaced_before_the_next_call(
    threads: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "CHECK_AFTER_SECONDS", 0.05)
    first = await in_database_thread(backend_pid)
    await asyncio.to_thread(_terminate_in_own_connection, first)
    await asyncio.sleep(0.1)
    assert await in_database_thread(backend_pid) not in (first, 0)


def _terminate_in_own_connection(pid: int) -> None:
    try:
        terminate(pid)
    finally:
        connection.close()


async def test_an_idle_thread_hands_its_connection_back(
    threads: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_SECONDS", 0.05)
    await in_database_thread(backend_pid)
    await asyncio.sleep(0.3)
    assert await in_database_thread(lambda: connection.connection is None)


async def test_calls_run_side_by_side(threads: Any) -> None:
    threads.MOSAIC_DATABASE_THREADS = 2
    both = threading.Barrier(2, timeout=5)  # one thread alone would break it after 5 s

    def meet() -> int:
        return both.wait()

    assert sorted(await asyncio.gather(in_database_thread(meet), in_database_thread(meet))) == [
        0,
        1,
    ]


async def test_a_call_cancelled_before_it_starts_never_runs(threads: Any) -> None:
    release, ran = threading.Event(), list[str]()
    busy = asyncio.ensure_future(in_database_thread(release.wait, 5))
    queued = asyncio.ensure_future(in_database_thread(ran.append, "ran"))
    await asyncio.sleep(0.05)
    queued.cancel()
    release.set()
    assert await busy is True
    await in_database_thread(lambda: None)  # after the cancelled call in the queue
    assert ran == []
    assert queued.cancelled()


@pytest.mark.django_db
def test_sync_code_calling_async_code_keeps_its_thread_and_transaction() -> None:
    """Under async_to_sync (a Celery job, a sync test), the call runs where sync_to_async would
    run it: in the caller's thread, inside the transaction it holds."""

    def inside() -> tuple[threading.Thread, bool]:
        return threading.current_thread(), User.objects.filter(username="uncommitted").exists()

    with transaction.atomic():
        User.objects.create(username="uncommitted")
        thread, seen = async_to_sync(in_database_thread)(inside)
    assert thread is threading.current_thread()
    assert seen
