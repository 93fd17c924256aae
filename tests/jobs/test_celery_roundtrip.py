"""A job travels through the real Redis broker to a real worker process, and its run records
what the worker answered (JobRun is Mosaic's result store: there is no Celery result backend)."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import JobRun
from jobs.tasks import ping
from tests.jobs.waiting import finished, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_job_round_trips_through_the_redis_broker(celery_worker_process: Any) -> None:
    result = ping.delay("hello")
    wait_for(lambda: finished(result.id), what="the ping", timeout=60)
    run = JobRun.objects.get(task_id=result.id)
    assert run.state == "succeeded", celery_worker_process.log()
    assert run.result is not None
    assert run.result["echo"] == "hello"
    assert run.result["worker_host"]
    assert run.worker.startswith("test-")
    assert run.wait_ms is not None
    assert run.duration_ms is not None
