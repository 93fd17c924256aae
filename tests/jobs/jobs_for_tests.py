"""Jobs that exist only in tests: test workers load this module with ``--include``; production
never imports it, so these names are not registered there.

Each job counts its calls in Redis under a key the test chooses, so that a test can tell how many
times a body actually ran, and the slow job writes a side effect to a table of its own, so that a
test can tell how many times it completed.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import connection

from core.errors import InvalidInput
from core.jobs import TransientJobError, job

EFFECTS_TABLE = "test_job_effects"


def calls(key: str) -> int:
    """How many times the jobs counted ``key`` so far."""
    return int(cache.get(f"test-job-calls:{key}") or 0)


def _count(key: str) -> int:
    cache.add(f"test-job-calls:{key}", 0, timeout=3600)
    return int(cache.incr(f"test-job-calls:{key}"))


def ensure_effects_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} "
            "(key text PRIMARY KEY, writes integer NOT NULL, written_at timestamptz NOT NULL)"
        )


def effect_writes(key: str) -> int:
    ensure_effects_table()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT writes FROM {EFFECTS_TABLE} WHERE key = %s", [key])  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _write_effect(key: str) -> None:
    # Counts every write, so that a test sees a second completion instead of hiding it.
    ensure_effects_table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {EFFECTS_TABLE} (key, writes, written_at) VALUES (%s, 1, now()) "  # noqa: S608
            f"ON CONFLICT (key) DO UPDATE SET writes = {EFFECTS_TABLE}.writes + 1",
            [key],
        )


@job(name="tests.tick")
def tick(key: str) -> int:
    return _count(key)


@job(name="tests.fail_times", backoff=1.0)
def fail_times(key: str, failures: int) -> int:
    """Fails with a transient error on its first ``failures`` calls, then succeeds."""
    count = _count(key)
    if count <= failures:
        raise TransientJobError(f"failure {count} of {failures}")
    return count


@job(name="tests.refuse", backoff=1.0)
def refuse(key: str) -> None:
    """Fails with a permanent error: never retried."""
    _count(key)
    raise InvalidInput("this input can never work")


@job(name="tests.slow_effect", backoff=1.0, time_limit=60)
def slow_effect(key: str, seconds: float) -> str:
    """Runs for ``seconds``, then writes its side effect."""
    _count(f"{key}:starts")
    time.sleep(seconds)
    _write_effect(key)
    return key


@job(name="tests.noop")
def noop() -> None:
    return None


@job(name="tests.write_row")
def write_row(key: str) -> None:
    _write_effect(key)
