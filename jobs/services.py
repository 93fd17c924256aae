"""Writes of the jobs app: agent events, and what staff do to jobs (retry, pause, resume).

Everything here takes the acting ``user``. Recording an agent event is open to every app (the
user is whose activity it was, or None for system work); acting on jobs, schedules and queues is
staff only, and anyone else is told the object does not exist (``NotFound``), as for another
user's conversation.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as BrokerError

from core.errors import Conflict, InvalidInput, NotFound
from core.sql import Insert, Statement
from jobs import queues
from jobs.models import AgentEvent, AgentLog, JobRun, JobState, LogLevel, PausedQueue
from jobs.selectors import QueueStatus, queue_status, require_staff, schedule_get

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

MAX_LOG_MESSAGE = 2_000


def _as_uuid(value: Any, field: str) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput(f"{field}: {value!r} is not a UUID.") from None


def _checked(event: AgentEvent | str, level: LogLevel | str) -> None:
    if event not in AgentEvent.values:
        raise InvalidInput(
            f"event: unknown event {event!r}; events are {', '.join(AgentEvent.values)}."
        )
    if level not in LogLevel.values:
        raise InvalidInput(f"level: expected one of {', '.join(LogLevel.values)}, not {level!r}.")


def agent_log_record(
    *,
    user: User | None,
    event: AgentEvent | str,
    message: str = "",
    level: LogLevel | str = LogLevel.INFO,
    session_id: Any = None,
    conversation_id: Any = None,
    data: dict[str, Any] | None = None,
) -> AgentLog:
    """Record one agent event (``session.started``, ``routing.decided``, ``provider.failover``…)
    in ``agent_logs``. ``user`` is whose activity it was; ``data`` holds the details as JSON."""
    _checked(event, level)
    return AgentLog.objects.create(
        user=user,
        event=event,
        level=level,
        message=message[:MAX_LOG_MESSAGE],
        session_id=_as_uuid(session_id, "session_id"),
        conversation_id=_as_uuid(conversation_id, "conversation_id"),
        data=data or {},
    )


@dataclass(frozen=True)
class LogEntry:
    """One agent event of a batch (``agent_logs_record``), stamped when it happened."""

    event: AgentEvent | str
    message: str = ""
    level: LogLevel | str = LogLevel.INFO
    data: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=timezone.now)


# A chat turn's log: one written-out multi-row INSERT (core/sql.py), not compiled per turn.
_INSERT_LOGS = Insert(AgentLog)


def agent_logs_record(
    *,
    user: User | None,
    entries: Sequence[LogEntry],
    session_id: Any = None,
    conversation_id: Any = None,
) -> list[AgentLog]:
    """Record the events of one piece of work (a chat turn) of ``user`` in one INSERT, each with
    the time it happened. Every entry is checked before anything is written."""
    return _INSERT_LOGS.save(_log_rows(user, entries, session_id, conversation_id))


def agent_logs_statement(
    *,
    user: User | None,
    entries: Sequence[LogEntry],
    session_id: Any = None,
    conversation_id: Any = None,
) -> Statement:
    """``agent_logs_record``'s INSERT, to run with other writes (``core.sql.run_together``)."""
    return _INSERT_LOGS.bind(_log_rows(user, entries, session_id, conversation_id))


def _log_rows(
    user: User | None, entries: Sequence[LogEntry], session_id: Any, conversation_id: Any
) -> list[AgentLog]:
    for entry in entries:
        _checked(entry.event, entry.level)
    session, conversation = (
        _as_uuid(session_id, "session_id"),
        _as_uuid(conversation_id, "conversation_id"),
    )
    return [
        AgentLog(
            created_at=entry.at,
            user=user,
            event=entry.event,
            level=entry.level,
            message=entry.message[:MAX_LOG_MESSAGE],
            session_id=session,
            conversation_id=conversation,
            data=entry.data,
        )
        for entry in entries
    ]


# --- runs ----------------------------------------------------------------------------------------


def job_run_retry(*, user: User, task_id: str) -> JobRun:
    """Send a run that failed for good once more, under the same task id, as a new attempt with
    a fresh budget of three. Only a failed run can be retried (a queued or running one is
    ``Conflict``); its history keeps every earlier attempt."""
    require_staff(user, objects=True)
    with transaction.atomic():
        latest = JobRun.objects.select_for_update().filter(task_id=task_id, is_latest=True).first()
        if latest is None:
            raise NotFound("Job run not found.")
        if latest.state != JobState.FAILED:
            raise Conflict(f"Only a failed run can be retried; this one is {latest.state}.")
        if not latest.replayable:
            raise Conflict(
                "This run's arguments were redacted or cut short when it was recorded, so it "
                "cannot be sent again as it was; enqueue the job afresh."
            )
        JobRun.objects.filter(pk=latest.pk).update(is_latest=False)
        run = JobRun.objects.create(
            task_id=latest.task_id,
            job=latest.job,
            attempt=latest.attempt + 1,
            state=JobState.QUEUED,
            queue=latest.queue,
            args=latest.args,
            kwargs=latest.kwargs,
        )
        AgentLog.objects.create(
            user=user,
            event=AgentEvent.JOB_RETRY_REQUESTED,
            task_id=run.task_id,
            job=run.job,
            attempt=run.attempt,
            message=f"{user} asked for {run.job} to run again",
        )
    # Sent after the commit: a worker that starts it at once must find the queued attempt.
    try:
        current_app.send_task(
            run.job,
            args=run.args,
            kwargs=run.kwargs,
            task_id=run.task_id,
            queue=run.queue or None,
        )
    except BrokerError as exc:
        # Nothing was sent: put the run back as it was, so that the retry can be asked again.
        with transaction.atomic():
            run.delete()
            JobRun.objects.filter(pk=latest.pk).update(is_latest=True)
        raise Conflict(
            f"The job could not be sent (broker unreachable: {exc}); try again."
        ) from exc
    return run


# --- schedules -----------------------------------------------------------------------------------


def schedule_set_enabled(*, user: User, schedule_id: Any, enabled: bool) -> PeriodicTask:
    """Pause (``enabled=False``) or resume a periodic schedule. Beat notices within its
    ``max_interval`` (5 s by default). Asking for the state it is already in changes nothing."""
    require_staff(user, objects=True)
    with transaction.atomic():
        schedule = schedule_get(user=user, schedule_id=schedule_id, for_update=True)
        if schedule.enabled == enabled:
            return schedule
        schedule.enabled = enabled
        schedule.save()  # save(), not update(): beat watches the change stamp that save() sets
        AgentLog.objects.create(
            user=user,
            event=AgentEvent.SCHEDULE_RESUMED if enabled else AgentEvent.SCHEDULE_PAUSED,
            job=schedule.task,
            message=f"{user} {'resumed' if enabled else 'paused'} the schedule {schedule.name!r}",
            data={"schedule_id": schedule.pk},
        )
    return schedule


# --- queues --------------------------------------------------------------------------------------


def queue_pause(*, user: User, queue: str) -> QueueStatus:
    """Stop every worker taking jobs from ``queue``; jobs sent to it wait in the broker.

    The pause is a row, so a worker that starts later honours it too; running workers are told
    at once. Jobs a worker already holds (running, or waiting for a retry's countdown) finish.
    """
    require_staff(user, objects=True)
    queue_status(user=user, queue=queue)  # NotFound for an unknown queue, before any change
    with transaction.atomic():
        _, created = PausedQueue.objects.get_or_create(
            queue=queue, defaults={"paused_at": timezone.now(), "paused_by": user}
        )
        if created:
            AgentLog.objects.create(
                user=user, event=AgentEvent.QUEUE_PAUSED, message=f"{user} paused queue {queue!r}"
            )
    workers = queues.notify_workers()
    return queue_status(user=user, queue=queue, workers=workers)


def queue_resume(*, user: User, queue: str) -> QueueStatus:
    """Let workers take jobs from ``queue`` again (those started with it, see ``jobs.queues``)."""
    require_staff(user, objects=True)
    queue_status(user=user, queue=queue)
    with transaction.atomic():
        deleted, _ = PausedQueue.objects.filter(queue=queue).delete()
        if deleted:
            AgentLog.objects.create(
                user=user, event=AgentEvent.QUEUE_RESUMED, message=f"{user} resumed queue {queue!r}"
            )
    workers = queues.notify_workers()
    return queue_status(user=user, queue=queue, workers=workers)
