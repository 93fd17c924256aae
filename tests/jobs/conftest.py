"""Fixtures of the jobs tests: an empty broker around every test, a staff API client, and a
worker that also knows the test-only jobs (tests/jobs/jobs_for_tests.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import current_app
from django.conf import settings
from rest_framework.test import APIClient

from tests.conftest import api_client_for
from tests.live import LiveProcess, start_celery_worker

TEST_JOBS = "tests.jobs.jobs_for_tests"


def empty_broker() -> None:
    """No message of one test may reach another test's worker, waiting or unacknowledged."""
    current_app.control.purge()
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.delete("unacked", "unacked_index")
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _empty_broker() -> Iterator[None]:
    empty_broker()
    yield
    empty_broker()


@pytest.fixture
def staff_api(staff: Any) -> APIClient:
    return api_client_for(staff)


@pytest.fixture(scope="module")
def _module_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveProcess]:
    # One worker per module: starting one takes seconds on a busy machine. It keeps no state
    # between tests (each test flushes the database and empties the broker).
    worker = start_celery_worker(tmp_path_factory.mktemp("worker"), include=[TEST_JOBS])
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def job_worker(transactional_db: None, _module_worker: LiveProcess) -> LiveProcess:
    """A running worker that knows the test-only jobs, on the test database."""
    assert _module_worker.proc.poll() is None, _module_worker.log()
    return _module_worker
