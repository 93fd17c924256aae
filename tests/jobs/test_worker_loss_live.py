"""No job lost when a worker dies (M6-008's fault test), with real workers and ``kill -9``.

The slow test job runs for a few seconds and writes its side effect at the end, counting every
write; the tests kill its worker in the middle and prove the job then completes exactly once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from celery import current_app

from jobs.recorder import WORKER_LOST
from tests.jobs.conftest import TEST_JOBS
from tests.jobs.jobs_for_tests import calls, effect_writes, ensure_effects_table
from tests.jobs.waiting import attempts, finished, wait_for
from tests.live import start_celery_worker

# Live workers (and beat) start slowly on a busy machine: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

JOB_SECONDS = 3.0
# Short, so that the test need not wait the production hour for Redis to hand the job out
# again; still longer than the job, as the system check demands.
VISIBILITY = {"MOSAIC_JOBS_VISIBILITY_TIMEOUT": "5"}


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_is_killed_completes_exactly_once_on_a_new_worker(
    tmp_path: Path,
) -> None:
    ensure_effects_table()
    key = uuid.uuid4().hex
    first = start_celery_worker(tmp_path, VISIBILITY, include=[TEST_JOBS])
    try:
        result = current_app.send_task("tests.slow_effect", args=[key, JOB_SECONDS])
        wait_for(lambda: calls(f"{key}:starts") == 1, what="the job to start")
        delivered = time.monotonic()
        first.kill()  # kill -9 in the middle of the job
    finally:
        first.stop()
    assert effect_writes(key) == 0
    assert [(a.attempt, a.state) for a in attempts(result.id)] == [(1, "running")]

    # The dead worker never acknowledged the message; once the visibility timeout has passed,
    # Redis hands it to the next worker that asks.
    time.sleep(max(0.0, 5.5 - (time.monotonic() - delivered)))
    second = start_celery_worker(tmp_path, VISIBILITY, include=[TEST_JOBS])
    try:
        wait_for(lambda: finished(result.id), timeout=60, what="the job on the new worker")
    finally:
        second.stop()

    assert effect_writes(key) == 1  # completed once
    assert calls(f"{key}:starts") == 2  # started twice: the killed run, then the complete one
    runs = attempts(result.id)
    assert [(a.attempt, a.state) for a in runs] == [(1, "failed"), (2, "succeeded")], second.log()
    assert runs[0].error == WORKER_LOST
    assert runs[1].worker != runs[0].worker


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_worker_process_dies_is_retried_as_a_new_attempt(tmp_path: Path) -> None:
    """A pool process killed mid-job: the worker's main process sees it and retries the job
    (it counts as an attempt, so a job that kills its process every time stops after three)."""
    ensure_effects_table()
    key = uuid.uuid4().hex
    worker = start_celery_worker(tmp_path, include=[TEST_JOBS], pool="prefork")
    try:
        result = current_app.send_task("tests.slow_effect", args=[key, JOB_SECONDS])
        wait_for(lambda: calls(f"{key}:starts") == 1, what="the job to start")
        (child,) = _children(worker.proc.pid)
        os.kill(child, signal.SIGKILL)  # the pool process running the job dies
        wait_for(lambda: finished(result.id), timeout=60, what="the retried job")
    finally:
        worker.stop()

    assert effect_writes(key) == 1
    assert calls(f"{key}:starts") == 2
    runs = attempts(result.id)
    assert [(a.attempt, a.state) for a in runs] == [(1, "retrying"), (2, "succeeded")], worker.log()
    assert runs[0].error.startswith("WorkerLostError: Worker exited prematurely: signal 9")
