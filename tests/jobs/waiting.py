"""Polling helpers of the live job tests: wait for a condition, read a run's attempts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jobs.models import AgentLog, JobRun


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


def attempts(task_id: str) -> list[JobRun]:
    return list(JobRun.objects.filter(task_id=task_id).order_by("attempt"))


def finished(task_id: str) -> bool:
    return JobRun.objects.filter(
        task_id=task_id, is_latest=True, state__in=["succeeded", "failed"]
    ).exists()


def events(task_id: str) -> list[tuple[str, int | None]]:
    rows = AgentLog.objects.filter(task_id=task_id).order_by("created_at", "pk")
    return [(row.event, row.attempt) for row in rows]
