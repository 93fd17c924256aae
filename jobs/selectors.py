"""Reads of the jobs app: runs and their attempts, schedules, queues. Staff only.

Anyone else gets ``PermissionDenied`` for a list (HTTP 403) and ``NotFound`` for an object
(HTTP 404): the API does not confirm that a given run or schedule exists.

The states a run can be filtered by are BullMQ's, mapped onto the newest attempt's state:
``active`` = running, ``scheduled`` = queued (waiting for a worker, or for a retry's countdown),
``completed`` = succeeded, ``failed`` = failed for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as BrokerError

from core.errors import InvalidInput, NotFound
from jobs.models import AgentLog, JobRun, JobState, PausedQueue

if TYPE_CHECKING:
    import datetime as dt

    from django.contrib.auth.models import User

STATE_FILTERS: dict[str, JobState] = {
    "active": JobState.RUNNING,
    "scheduled": JobState.QUEUED,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
STAFF_ONLY = "Only staff may see and manage background jobs."


def require_staff(user: User, *, objects: bool = False) -> None:
    if user.is_active and user.is_staff:
        return
    if objects:
        raise NotFound("Not found.")
    raise PermissionDenied(STAFF_ONLY)


def job_run_list(
    *, user: User, state: str | None = None, job: str | None = None
) -> QuerySet[JobRun]:
    """Runs (the newest attempt of each task id), newest first."""
    require_staff(user)
    runs = JobRun.objects.filter(is_latest=True)
    if state:
        if state not in STATE_FILTERS:
            raise InvalidInput(f"state: expected one of {', '.join(STATE_FILTERS)}, not {state!r}.")
        runs = runs.filter(state=STATE_FILTERS[state])
    if job:
        runs = runs.filter(job=job)
    return runs.order_by("-queued_at", "-pk")


@dataclass(frozen=True, slots=True)
class JobRunDetail:
    run: JobRun
    attempts: list[JobRun]
    logs: list[AgentLog]


def job_run_detail(*, user: User, task_id: str) -> JobRunDetail:
    """A run with every attempt (oldest first) and its log rows."""
    require_staff(user, objects=True)
    attempts = list(JobRun.objects.filter(task_id=task_id).order_by("attempt"))
    if not attempts:
        raise NotFound("Job run not found.")
    latest = next((a for a in attempts if a.is_latest), attempts[-1])
    logs = list(AgentLog.objects.filter(task_id=task_id).order_by("created_at", "pk"))
    return JobRunDetail(latest, attempts, logs)


def schedule_list(*, user: User) -> QuerySet[PeriodicTask]:
    require_staff(user)
    schedules: QuerySet[PeriodicTask] = PeriodicTask.objects.select_related(
        "interval", "crontab", "solar", "clocked"
    ).order_by("name")
    return schedules


def schedule_get(*, user: User, schedule_id: Any, for_update: bool = False) -> PeriodicTask:
    require_staff(user, objects=True)
    try:
        pk = int(schedule_id)
    except (TypeError, ValueError):
        raise NotFound("Schedule not found.") from None
    query = PeriodicTask.objects.select_for_update() if for_update else PeriodicTask.objects
    schedule = query.filter(pk=pk).first()
    if schedule is None:
        raise NotFound("Schedule not found.")
    return schedule


@dataclass(frozen=True, slots=True)
class QueueStatus:
    name: str
    paused: bool
    paused_at: dt.datetime | None
    pending: int | None  # messages waiting in the broker; None when it cannot be asked
    workers: list[str] = field(default_factory=list)  # workers that confirmed a pause or resume


def queue_names() -> list[str]:
    return list(settings.CELERY_TASK_QUEUES)


def _pending(name: str) -> int | None:
    try:
        with current_app.connection_for_read() as conn:
            channel: Any = conn.default_channel  # kombu's Redis channel (untyped)
            return int(channel.queue_declare(queue=name, passive=True).message_count)
    except ChannelError:
        return 0  # never declared: nothing was ever sent to it
    except (BrokerError, OSError):
        return None


def queue_status(*, user: User, queue: str, workers: list[str] | None = None) -> QueueStatus:
    require_staff(user, objects=True)
    if queue not in queue_names():
        raise NotFound(f"Unknown queue {queue!r}. Queues: {', '.join(queue_names())}.")
    paused = PausedQueue.objects.filter(queue=queue).first()
    return QueueStatus(
        name=queue,
        paused=paused is not None,
        paused_at=paused.paused_at if paused else None,
        pending=_pending(queue),
        workers=workers or [],
    )


def queue_list(*, user: User) -> list[QueueStatus]:
    require_staff(user)
    return [queue_status(user=user, queue=name) for name in queue_names()]
