"""Pausing a queue with real workers: its jobs wait in the broker, even across a worker restart,
while other queues keep running; resuming lets them through."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from celery import current_app

from jobs.models import JobRun
from tests.jobs.conftest import TEST_JOBS
from tests.jobs.jobs_for_tests import calls
from tests.jobs.waiting import wait_for
from tests.live import start_celery_worker

# Live workers (and beat) start slowly on a busy machine: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.mark.django_db(transaction=True)
def test_a_paused_queue_holds_its_jobs_across_a_worker_restart(
    tmp_path: Path, staff_api: Any
) -> None:
    key, other = uuid.uuid4().hex, uuid.uuid4().hex
    worker = start_celery_worker(tmp_path, include=[TEST_JOBS])
    try:
        paused = staff_api.post("/api/admin/jobs/queues/default/pause")
        assert paused.status_code == 200
        assert len(paused.json()["workers"]) == 1  # the running worker confirmed
        held = current_app.send_task("tests.tick", args=[key])
        current_app.send_task("tests.tick", args=[other], queue="housekeeping")
        wait_for(lambda: calls(other) == 1, what="the job on the queue that is not paused")
        time.sleep(2)
        assert calls(key) == 0
        assert JobRun.objects.get(task_id=held.id).state == "queued"
        queues = {q["name"]: q for q in staff_api.get("/api/admin/jobs/queues").json()}
        assert queues["default"]["paused"]
        assert queues["default"]["pending"] >= 1

        worker.stop()  # a worker started now must honour the pause too
        worker = start_celery_worker(tmp_path, include=[TEST_JOBS])
        time.sleep(3)
        assert calls(key) == 0, worker.log()

        assert staff_api.post("/api/admin/jobs/queues/default/resume").status_code == 200
        wait_for(lambda: calls(key) == 1, what="the held job after resuming")
        wait_for(lambda: JobRun.objects.get(task_id=held.id).state == "succeeded")
    finally:
        worker.stop()
