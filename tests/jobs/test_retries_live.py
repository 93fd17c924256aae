"""Retries through a real worker (M6-008): attempts, growing delays, permanent failures, and a
retry asked for through the admin API. Every attempt is read back from JobRun and agent_logs."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from celery import current_app

from tests.jobs.jobs_for_tests import calls
from tests.jobs.waiting import attempts, events, finished, wait_for

# Live workers (and beat) start slowly on a busy machine: more than the default 120 s per test.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def seconds_between(earlier: dt.datetime | None, later: dt.datetime | None) -> float:
    assert earlier is not None
    assert later is not None
    return (later - earlier).total_seconds()


def test_a_job_that_fails_twice_then_succeeds_shows_three_attempts_with_growing_delays(
    job_worker: Any,
) -> None:
    key = uuid.uuid4().hex
    result = current_app.send_task("tests.fail_times", args=[key, 2])
    wait_for(lambda: finished(result.id), what="the third attempt", timeout=40)

    runs = attempts(result.id)
    assert [(r.attempt, r.state) for r in runs] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "succeeded"),
    ], job_worker.log()
    assert runs[0].error == "TransientJobError: failure 1 of 2"
    assert runs[1].error == "TransientJobError: failure 2 of 2"
    assert runs[2].result == 3
    assert calls(key) == 3
    assert [r.is_latest for r in runs] == [False, False, True]
    # Backoff 1 s: the first countdown is 1-1.5 s, the second 2-3 s. A countdown starts when the
    # attempt raises, a little before its finished_at is written, so the lower bounds are read
    # from the failed attempt's start (the gap from finished_at can be a few ms short of it).
    first_wait = seconds_between(runs[0].finished_at, runs[1].started_at)
    second_wait = seconds_between(runs[1].finished_at, runs[2].started_at)
    assert seconds_between(runs[0].started_at, runs[1].started_at) >= 1.0
    assert seconds_between(runs[1].started_at, runs[2].started_at) >= 2.0
    assert first_wait < 2.0
    assert second_wait > first_wait
    for run in runs[1:]:
        assert seconds_between(run.eta, run.started_at) >= 0  # not started before its time
    assert events(result.id) == [
        ("job.started", 1), ("job.retrying", 1),
        ("job.started", 2), ("job.retrying", 2),
        ("job.started", 3), ("job.succeeded", 3),
    ]  # fmt: skip


def test_a_job_that_always_fails_ends_failed_after_exactly_three_attempts_and_the_api_retries_it(
    job_worker: Any, staff_api: Any
) -> None:
    key = uuid.uuid4().hex
    result = current_app.send_task("tests.fail_times", args=[key, 3])
    wait_for(lambda: finished(result.id), what="the last attempt", timeout=40)

    runs = attempts(result.id)
    assert [(r.attempt, r.state) for r in runs] == [(1, "retrying"), (2, "retrying"), (3, "failed")]
    assert runs[2].error == "TransientJobError: failure 3 of 3"
    assert "TransientJobError" in runs[2].traceback
    time.sleep(3)  # no fourth attempt comes on its own
    assert calls(key) == 3
    assert len(attempts(result.id)) == 3
    assert events(result.id)[-1] == ("job.failed", 3)

    listed = staff_api.get("/api/admin/jobs", {"state": "failed", "job": "tests.fail_times"})
    assert [run["task_id"] for run in listed.json()["results"]] == [result.id]
    assert listed.json()["results"][0]["retryable"] is True

    answer = staff_api.post(f"/api/admin/jobs/{result.id}/retry")
    assert answer.status_code == 202, answer.json()
    assert answer.json()["state"] == "queued"
    assert answer.json()["attempts"] == 4
    wait_for(lambda: finished(result.id), what="the retried run")

    detail = staff_api.get(f"/api/admin/jobs/{result.id}").json()
    assert detail["run"]["state"] == "succeeded"
    assert [(a["attempt"], a["state"]) for a in detail["attempts"]] == [
        (1, "retrying"), (2, "retrying"), (3, "failed"), (4, "succeeded"),
    ]  # fmt: skip
    assert detail["run"]["result"] == 4
    assert ("job.retry_requested", 4) in [(log["event"], log["attempt"]) for log in detail["logs"]]


def test_a_permanent_error_is_not_retried(job_worker: Any) -> None:
    key = uuid.uuid4().hex
    result = current_app.send_task("tests.refuse", args=[key])
    wait_for(lambda: finished(result.id), what="the failure")
    time.sleep(2)
    runs = attempts(result.id)
    assert [(r.attempt, r.state) for r in runs] == [(1, "failed")]
    assert runs[0].error == "InvalidInput: this input can never work"
    assert calls(key) == 1
