"""/api/admin/jobs (AC-6): staff list, inspect and retry runs and pause schedules and queues;
nobody else learns anything; bad input is a clear 4xx and changes nothing.

The runs here are recorded by the jobs app's signal handlers from jobs run in process
(``task.apply()``); the live tests do the same through a real worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import current_app
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from jobs.models import AgentLog, JobRun, JobState, PausedQueue
from jobs.tasks import ping

pytestmark = pytest.mark.django_db


def record_run(job: str = "jobs.ping", state: str = JobState.FAILED, **fields: Any) -> JobRun:
    return JobRun.objects.create(
        task_id=str(uuid.uuid4()), job=job, attempt=3, state=state, queue="default", **fields
    )


@pytest.fixture
def schedule() -> PeriodicTask:
    every, _ = IntervalSchedule.objects.get_or_create(every=30, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="tests: ping", task="jobs.ping", interval=every)


def test_anonymous_requests_are_unauthorised(schedule: PeriodicTask) -> None:
    client = APIClient()
    run = record_run()
    for url in ("/api/admin/jobs", f"/api/admin/jobs/{run.task_id}", "/api/admin/jobs/queues"):
        assert client.get(url).status_code == 401
    assert client.post(f"/api/admin/jobs/{run.task_id}/retry").status_code == 401
    assert client.post("/api/admin/jobs/queues/default/pause").status_code == 401


def test_other_users_get_403_for_lists_and_404_for_objects(
    alice_api: APIClient, schedule: PeriodicTask
) -> None:
    run = record_run()
    for url in ("/api/admin/jobs", "/api/admin/jobs/schedules", "/api/admin/jobs/queues"):
        assert alice_api.get(url).status_code == 403, url
    assert alice_api.get(f"/api/admin/jobs/{run.task_id}").status_code == 404
    assert alice_api.post(f"/api/admin/jobs/{run.task_id}/retry").status_code == 404
    assert alice_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/pause").status_code == 404
    assert alice_api.post("/api/admin/jobs/queues/default/pause").status_code == 404
    # Nothing changed.
    assert JobRun.objects.get(pk=run.pk).state == "failed"
    schedule.refresh_from_db()
    assert schedule.enabled
    assert not PausedQueue.objects.exists()


def test_a_run_is_recorded_with_its_result_and_log_rows(staff_api: APIClient) -> None:
    result = ping.apply(args=("hello",))
    detail = staff_api.get(f"/api/admin/jobs/{result.id}").json()
    assert detail["run"]["job"] == "jobs.ping"
    assert detail["run"]["state"] == "succeeded"
    assert detail["run"]["args"] == ["hello"]
    assert detail["run"]["result"]["echo"] == "hello"
    assert detail["run"]["duration_ms"] >= 0
    assert [a["attempt"] for a in detail["attempts"]] == [1]
    assert [log["event"] for log in detail["logs"]] == ["job.started", "job.succeeded"]


def test_runs_are_listed_newest_first_filtered_by_state_and_job_and_paged(
    staff_api: APIClient,
) -> None:
    failed = record_run(state=JobState.FAILED)
    running = record_run(state=JobState.RUNNING)
    queued = record_run(job="jobs.manage_log_tiers", state=JobState.QUEUED)
    done = record_run(job="jobs.manage_log_tiers", state=JobState.SUCCEEDED)
    # An older attempt of a run is not a run of its own.
    JobRun.objects.create(
        task_id=failed.task_id, job="jobs.ping", attempt=2, state="retrying", is_latest=False
    )

    def ids(**query: str) -> list[str]:
        answer = staff_api.get("/api/admin/jobs", query)
        assert answer.status_code == 200, answer.json()
        return [run["task_id"] for run in answer.json()["results"]]

    assert ids() == [done.task_id, queued.task_id, running.task_id, failed.task_id]
    assert ids(state="failed") == [failed.task_id]
    assert ids(state="active") == [running.task_id]
    assert ids(state="scheduled") == [queued.task_id]
    assert ids(state="completed") == [done.task_id]
    assert ids(job="jobs.manage_log_tiers") == [done.task_id, queued.task_id]
    page = staff_api.get("/api/admin/jobs", {"page_size": 2}).json()
    assert page["count"] == 4
    assert len(page["results"]) == 2
    assert page["next"]


def test_an_unknown_state_filter_is_a_400(staff_api: APIClient) -> None:
    answer = staff_api.get("/api/admin/jobs", {"state": "exploded"})
    assert answer.status_code == 400
    assert "state" in answer.json()


def test_an_unknown_run_is_a_404(staff_api: APIClient) -> None:
    assert staff_api.get(f"/api/admin/jobs/{uuid.uuid4()}").status_code == 404
    assert staff_api.post(f"/api/admin/jobs/{uuid.uuid4()}/retry").status_code == 404


@pytest.mark.parametrize("state", [JobState.RUNNING, JobState.QUEUED, JobState.SUCCEEDED])
def test_only_a_failed_run_can_be_retried(staff_api: APIClient, state: str) -> None:
    run = record_run(state=state)
    answer = staff_api.post(f"/api/admin/jobs/{run.task_id}/retry")
    assert answer.status_code == 409
    assert f"this one is {state}" in answer.json()["detail"]
    assert list(JobRun.objects.filter(task_id=run.task_id).values_list("attempt", "state")) == [
        (3, state)
    ]


def test_a_run_with_redacted_arguments_cannot_be_retried(staff_api: APIClient) -> None:
    run = record_run(kwargs={"api_key": "[redacted]"}, replayable=False)
    answer = staff_api.post(f"/api/admin/jobs/{run.task_id}/retry")
    assert answer.status_code == 409
    assert "redacted" in answer.json()["detail"]


def test_retrying_a_failed_run_queues_a_fourth_attempt_under_the_same_id(
    staff_api: APIClient, staff: Any
) -> None:
    run = record_run(args=["again"])
    answer = staff_api.post(f"/api/admin/jobs/{run.task_id}/retry")
    assert answer.status_code == 202
    assert answer.json()["state"] == "queued"
    assert answer.json()["attempts"] == 4
    rows = list(JobRun.objects.filter(task_id=run.task_id).order_by("attempt"))
    assert [(r.attempt, r.state, r.is_latest) for r in rows] == [
        (3, "failed", False),
        (4, "queued", True),
    ]
    assert rows[1].args == ["again"]
    log = AgentLog.objects.get(event="job.retry_requested")
    assert log.user == staff
    assert log.task_id == run.task_id
    # The message is in the broker, on the run's queue, under the run's id.
    with current_app.connection_for_read() as conn:
        message = conn.SimpleQueue("default", no_ack=True).get(timeout=5)
    assert message.headers["id"] == run.task_id
    assert message.headers["task"] == "jobs.ping"
    # A second request finds the run queued, not failed: one retry only.
    assert staff_api.post(f"/api/admin/jobs/{run.task_id}/retry").status_code == 409


def test_schedules_are_listed_and_paused_and_resumed(
    staff_api: APIClient, schedule: PeriodicTask
) -> None:
    listed = staff_api.get("/api/admin/jobs/schedules").json()
    entry = next(s for s in listed if s["id"] == schedule.pk)
    assert entry["job"] == "jobs.ping"
    assert entry["enabled"] is True
    assert entry["schedule"] == "every 30 seconds"

    assert (
        staff_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/pause").json()["enabled"] is False
    )
    schedule.refresh_from_db()
    assert schedule.enabled is False
    # Pausing twice changes nothing and logs nothing more.
    assert staff_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/pause").status_code == 200
    assert (
        staff_api.post(f"/api/admin/jobs/schedules/{schedule.pk}/resume").json()["enabled"] is True
    )
    events = AgentLog.objects.order_by("pk").values_list("event", flat=True)
    assert list(events) == ["schedule.paused", "schedule.resumed"]


@pytest.mark.parametrize("schedule_id", ["999999", "not-a-number"])
def test_pausing_an_unknown_schedule_is_a_404(staff_api: APIClient, schedule_id: str) -> None:
    assert staff_api.post(f"/api/admin/jobs/schedules/{schedule_id}/pause").status_code == 404


def test_pausing_an_unknown_queue_is_a_404_naming_the_queues(staff_api: APIClient) -> None:
    answer = staff_api.post("/api/admin/jobs/queues/fast/pause")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "Unknown queue 'fast'. Queues: default, housekeeping."
    assert not PausedQueue.objects.exists()
    assert not AgentLog.objects.exists()


def test_a_queue_is_paused_and_resumed(staff_api: APIClient, staff: Any) -> None:
    paused = staff_api.post("/api/admin/jobs/queues/housekeeping/pause")
    assert paused.status_code == 200
    assert paused.json()["paused"] is True
    assert paused.json()["name"] == "housekeeping"
    assert PausedQueue.objects.get().paused_by == staff
    queues = {q["name"]: q for q in staff_api.get("/api/admin/jobs/queues").json()}
    assert queues["housekeeping"]["paused"]
    assert not queues["default"]["paused"]
    resumed = staff_api.post("/api/admin/jobs/queues/housekeeping/resume")
    assert resumed.json()["paused"] is False
    assert not PausedQueue.objects.exists()
