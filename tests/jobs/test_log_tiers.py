"""Log tiers (M6-005): agent_logs → agent_logs_archive → deleted, old job runs deleted, runs no
worker can still hold marked failed. Run through the job itself, as beat would run it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from jobs import tiers
from jobs.models import AgentLog, ArchivedAgentLog, JobRun, JobState
from jobs.tasks import manage_log_tiers

pytestmark = pytest.mark.django_db


def log_aged(days: float, **fields: Any) -> AgentLog:
    return AgentLog.objects.create(
        created_at=timezone.now() - dt.timedelta(days=days), event="session.started", **fields
    )


def run_aged(days: float, state: str, **fields: Any) -> JobRun:
    return JobRun.objects.create(
        task_id=f"t-{days}-{state}",
        job="jobs.ping",
        attempt=1,
        state=state,
        queued_at=timezone.now() - dt.timedelta(days=days),
        **fields,
    )


def test_old_logs_move_to_the_archive_keeping_their_identity(settings: Any, alice: Any) -> None:
    settings.MOSAIC_LOG_HOT_DAYS = 7
    fresh = log_aged(1)
    old = log_aged(8, user=alice, message="kept word for word", data={"turns": 3})
    result = manage_log_tiers.apply().get()
    assert result["archived"] == 1
    # (the job's own start and success are logged too: they are fresh)
    assert list(AgentLog.objects.filter(event="session.started").values_list("pk", flat=True)) == [
        fresh.pk
    ]
    archived = ArchivedAgentLog.objects.get()
    assert archived.pk == old.pk
    assert archived.user == alice
    assert (archived.message, archived.data, archived.created_at) == (
        "kept word for word",
        {"turns": 3},
        old.created_at,
    )
    # Running it again moves nothing twice.
    assert manage_log_tiers.apply().get()["archived"] == 0
    assert ArchivedAgentLog.objects.count() == 1


def test_the_move_goes_in_batches(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiers, "BATCH", 2)
    for _ in range(5):
        log_aged(30)
    assert tiers.archive_old_logs() == 5
    assert not AgentLog.objects.exists()
    assert ArchivedAgentLog.objects.count() == 5


def test_archived_logs_are_deleted_after_the_retention(settings: Any) -> None:
    settings.MOSAIC_LOG_HOT_DAYS, settings.MOSAIC_LOG_RETENTION_DAYS = 7, 90
    log_aged(100)
    log_aged(50)
    result = manage_log_tiers.apply().get()
    assert (result["archived"], result["deleted_logs"]) == (2, 1)
    remaining = ArchivedAgentLog.objects.get()
    assert (timezone.now() - remaining.created_at).days == 50


def test_old_finished_runs_are_deleted_but_never_waiting_or_running_ones(settings: Any) -> None:
    settings.MOSAIC_JOB_RUN_RETENTION_DAYS = 30
    run_aged(40, JobState.SUCCEEDED)
    run_aged(40, JobState.FAILED)
    kept = {
        run_aged(40, JobState.QUEUED).pk,
        run_aged(10, JobState.FAILED).pk,
    }
    assert tiers.delete_expired_runs() == 2
    assert set(JobRun.objects.values_list("pk", flat=True)) == kept


def test_a_run_left_running_longer_than_any_worker_can_hold_it_is_failed(settings: Any) -> None:
    hold = (
        settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        + settings.MOSAIC_JOB_TIME_LIMIT
    )
    now = timezone.now()
    lost = run_aged(0, JobState.RUNNING, started_at=now - dt.timedelta(seconds=hold + 60))
    alive = run_aged(0.1, JobState.RUNNING, started_at=now - dt.timedelta(seconds=hold - 60))
    assert tiers.fail_lost_runs(now=now) == 1
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.state == "failed"
    assert lost.error.startswith("WorkerLost")
    assert alive.state == "running"
