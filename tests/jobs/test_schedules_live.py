"""Schedules with a real beat and worker (M6-008): a job scheduled every second runs every
second; pausing its schedule through the admin API stops it and resuming starts it again."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.models import AgentLog, JobRun
from tests.jobs.waiting import wait_for
from tests.live import start_celery_beat

# Live workers (and beat) start slowly on a busy machine: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def ticks(key: str) -> list[JobRun]:
    return list(JobRun.objects.filter(job="tests.tick", args=[key]).order_by("queued_at"))


def test_a_job_scheduled_every_second_runs_on_schedule_until_paused(
    job_worker: Any, staff_api: Any, tmp_path: Path
) -> None:
    key = uuid.uuid4().hex
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    schedule = PeriodicTask.objects.create(
        name=f"tests: tick {key}", task="tests.tick", interval=every_second, args=json.dumps([key])
    )
    beat = start_celery_beat(tmp_path)
    try:
        wait_for(
            lambda: sum(r.state == "succeeded" for r in ticks(key)) >= 5,
            timeout=30,
            what="five ticks",
        )
        sent = [r.queued_at for r in ticks(key)]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
        assert all(0.5 <= gap <= 2.0 for gap in gaps), gaps
        assert 0.8 <= sorted(gaps)[len(gaps) // 2] <= 1.2, gaps

        paused = staff_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/pause")
        assert paused.status_code == 200
        assert paused.json()["enabled"] is False
        time.sleep(2.5)  # beat looks for changes every second; a tick already sent may still run
        count = len(ticks(key))
        time.sleep(3)
        assert len(ticks(key)) == count, "a paused schedule still ran"

        resumed = staff_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/resume")
        assert resumed.json()["enabled"] is True
        wait_for(lambda: len(ticks(key)) >= count + 2, timeout=15, what="ticks after resuming")
    finally:
        beat.stop()
    logged = AgentLog.objects.filter(data__schedule_id=schedule.pk).order_by("created_at", "pk")
    assert [row.event for row in logged] == ["schedule.paused", "schedule.resumed"]
