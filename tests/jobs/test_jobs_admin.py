"""The Django admin shows the same runs as the API, with a retry action, and the schedules with
enable and disable (django-celery-beat's pages)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.models import AgentLog, JobRun, PausedQueue

pytestmark = pytest.mark.django_db

RUNS = "/admin/jobs/jobrun/"


@pytest.fixture
def staff_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def failed_run(**fields: Any) -> JobRun:
    return JobRun.objects.create(
        task_id=str(uuid.uuid4()), job="jobs.ping", attempt=3, state="failed", queue="default",
        args=["admin"], error="TransientJobError: still down", **fields,
    )  # fmt: skip


def test_runs_and_logs_are_listed_for_staff(staff_client: Client) -> None:
    run = failed_run()
    AgentLog.objects.create(event="job.failed", task_id=run.task_id, job="jobs.ping", attempt=3)
    page = staff_client.get(RUNS).content.decode()
    assert run.task_id in page
    assert "TransientJobError: still down" in page
    assert staff_client.get(f"{RUNS}{run.pk}/change/").status_code == 200
    assert "job.failed" in staff_client.get("/admin/jobs/agentlog/").content.decode()
    assert staff_client.get("/admin/jobs/archivedagentlog/").status_code == 200


def test_the_retry_action_sends_failed_runs_again_and_refuses_the_others(
    staff_client: Client,
) -> None:
    failed = failed_run()
    running = JobRun.objects.create(task_id="busy", job="jobs.ping", attempt=1, state="running")
    response = staff_client.post(
        RUNS, {"action": "retry_runs", "_selected_action": [failed.pk, running.pk]}, follow=True
    )
    page = response.content.decode()
    assert "Sent 1 run(s) again." in page
    assert "Only a failed run can be retried; this one is running." in page
    latest = JobRun.objects.get(task_id=failed.task_id, is_latest=True)
    assert (latest.attempt, latest.state) == (4, "queued")
    assert JobRun.objects.get(pk=running.pk).state == "running"


def test_runs_cannot_be_added_changed_or_deleted_by_hand(staff_client: Client) -> None:
    run = failed_run()
    assert staff_client.get(f"{RUNS}add/").status_code == 403
    assert staff_client.post(f"{RUNS}{run.pk}/delete/").status_code == 403


def test_schedules_have_enable_and_disable_actions(staff_client: Client) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="tests: admin", task="jobs.ping", interval=every)
    page = staff_client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "disable_tasks" in page
    assert "enable_tasks" in page
    staff_client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "disable_tasks", "_selected_action": [task.pk]},
    )
    task.refresh_from_db()
    assert task.enabled is False


def test_a_paused_queue_is_resumed_from_the_admin(staff_client: Client, staff: Any) -> None:
    PausedQueue.objects.create(queue="housekeeping", paused_by=staff)
    response = staff_client.post(
        "/admin/jobs/pausedqueue/",
        {"action": "resume_queues", "_selected_action": ["housekeeping"]},
        follow=True,
    )
    assert "Resumed housekeeping." in response.content.decode()
    assert not PausedQueue.objects.exists()
