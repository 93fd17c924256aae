"""A task travels through the real Redis broker to a real worker process and back."""

from __future__ import annotations

from typing import Any

import pytest
from django_celery_results.models import TaskResult

from jobs.tasks import ping

pytestmark = pytest.mark.e2e


def test_task_round_trip_through_redis_broker(celery_worker_process: Any) -> None:
    result = ping.delay("hello")
    value = result.get(timeout=30)
    assert value["echo"] == "hello"
    assert value["worker_host"]
    # The result backend is the database: the worker wrote the row to the test database.
    row = TaskResult.objects.get(task_id=result.id)
    assert row.status == "SUCCESS"
    assert "hello" in row.result
