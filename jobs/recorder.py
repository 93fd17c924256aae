"""Every job attempt, recorded from Celery's signals: a ``JobRun`` row and ``agent_logs`` rows.

Connected in ``JobsConfig.ready()`` in every Django process, so the jobs themselves know nothing
of it and the lowest app can declare jobs. What each signal does:

- ``before_task_publish`` (the sender's process: web, beat, or a worker sending a retry): stamps
  the message with its enqueue time and adds a ``queued`` attempt, or, when the newest attempt of
  that task id is still queued (a manual retry prepared it, or the same id was sent twice), updates
  it. The row is written *before* the message exists, so a worker can never start a job whose row
  is not there yet. Inside a transaction or an event loop the row is left to the worker (a row
  that commits after the worker started would clash with the one the worker wrote).
- ``task_prerun`` (worker): the queued attempt becomes ``running``. If the newest attempt is
  already running, the worker that ran it died and the broker handed the message out again: that
  attempt is marked failed ("worker lost") and a new one starts. One ``job.started`` log row.
- ``task_retry``: the attempt is ``retrying`` with its error; one ``job.retrying`` row.
- ``task_failure``: the attempt is ``failed`` with its error and traceback; one ``job.failed`` row.
  (This also fires in a worker's main process for a hard time limit or a lost child.)
- ``task_postrun`` with SUCCESS: ``succeeded`` with a short copy of the result; ``job.succeeded``.

Each handler writes in one transaction (one commit), and a database error there is logged, never
raised: losing a record must not lose the job. Those commits do not wait for the disk
(``synchronous_commit = off``, which halves their cost on these machines' shared disks; a crash of
PostgreSQL itself may forget the last fraction of a second of records, never corrupt them), except
a failure for good, which is kept durably. Celery's own tasks (``celery.*``) are not recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
import time
from typing import Any

from celery import states
from celery.signals import (
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
)
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.db import commit_without_flush
from jobs.models import AgentEvent, AgentLog, JobRun, JobState, LogLevel

logger = logging.getLogger(__name__)

QUEUED_AT_HEADER = "mosaic_queued_at"
RUN_ATTRIBUTE = "mosaic_run"  # the attempt being run, kept on Celery's request context
WORKER_LOST = (
    "WorkerLost: the worker running this attempt died; the broker handed the job out again."
)
MAX_ARGUMENTS_CHARS = 4_000
MAX_RESULT_CHARS = 4_000
MAX_ERROR_CHARS = 2_000
MAX_TRACEBACK_CHARS = 20_000
REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"secret|token|password|passwd|api_?key|credential|authorization", re.I)


def tracked(name: str | None) -> bool:
    return bool(name) and not str(name).startswith("celery.")


def safe_arguments(args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any], bool]:
    """Arguments as recorded: secret-looking keyword arguments redacted, oversized ones cut.
    The flag says whether they are still the arguments the job was sent with."""
    replayable = True
    clean_kwargs: dict[str, Any] = {}
    for key, value in dict(kwargs or {}).items():
        if _SECRET_NAME.search(str(key)):
            clean_kwargs[str(key)] = REDACTED
            replayable = False
        else:
            clean_kwargs[str(key)] = value
    clean_args = list(args or [])
    try:
        text = json.dumps([clean_args, clean_kwargs])
    except (TypeError, ValueError):
        text = json.dumps([clean_args, clean_kwargs], default=repr)
        clean_args, clean_kwargs = json.loads(text)
        replayable = False
    if len(text) > MAX_ARGUMENTS_CHARS:
        return [text[:MAX_ARGUMENTS_CHARS] + "…"], {}, False
    return clean_args, clean_kwargs, replayable


def _short_result(value: Any) -> Any:
    if value is None:
        return None
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    if len(text) > MAX_RESULT_CHARS:
        return {"truncated": text[:MAX_RESULT_CHARS]}
    return json.loads(text)


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _eta(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _log(run: JobRun, event: AgentEvent, level: LogLevel, message: str, **data: Any) -> None:
    AgentLog.objects.create(
        event=event,
        level=level,
        task_id=run.task_id,
        job=run.job,
        attempt=run.attempt,
        message=message,
        data=data,
    )


def _guarded(what: str, task_id: Any, work: Any, *args: Any, durable: bool = False) -> Any:
    try:
        with transaction.atomic() if durable else commit_without_flush():
            return work(*args)
    except DatabaseError:
        logger.warning("Could not record %s of job %s", what, task_id, exc_info=True)
        return None


# --- queued --------------------------------------------------------------------------------------


@before_task_publish.connect(dispatch_uid="jobs.record_queued")
def record_queued(
    sender: str | None = None,
    body: Any = None,
    headers: dict[str, Any] | None = None,
    routing_key: str | None = None,
    **_: Any,
) -> None:
    if headers is None or not tracked(sender):
        return
    headers[QUEUED_AT_HEADER] = time.time()  # each sending, retries included, has its own
    if connection.in_atomic_block or _in_event_loop():
        return
    args, kwargs = (
        (body[0], body[1]) if isinstance(body, tuple | list) and len(body) >= 2 else ([], {})
    )
    _guarded(
        "the queueing",
        headers.get("id"),
        lambda: _queued(
            task_id=str(headers.get("id")),
            name=str(sender),
            queue=routing_key or "",
            args=args,
            kwargs=kwargs,
            eta=_eta(headers.get("eta")),
        ),
    )


def _queued(
    *, task_id: str, name: str, queue: str, args: Any, kwargs: Any, eta: dt.datetime | None
) -> None:
    latest = JobRun.objects.select_for_update().filter(task_id=task_id, is_latest=True).first()
    if latest is not None and latest.state == JobState.QUEUED:
        latest.eta = eta
        latest.queue = queue or latest.queue
        latest.save(update_fields=["eta", "queue"])
        return
    if latest is not None:
        JobRun.objects.filter(pk=latest.pk).update(is_latest=False)
    clean_args, clean_kwargs, replayable = safe_arguments(args, kwargs)
    JobRun.objects.create(
        task_id=task_id,
        job=name,
        attempt=latest.attempt + 1 if latest else 1,
        state=JobState.QUEUED,
        queue=queue,
        args=clean_args,
        kwargs=clean_kwargs,
        replayable=replayable,
        eta=eta,
    )


# --- started -------------------------------------------------------------------------------------


@task_prerun.connect(dispatch_uid="jobs.record_started")
def record_started(
    sender: Any = None, task_id: str | None = None, task: Any = None, **_: Any
) -> None:
    if task is None or not tracked(task.name):
        return
    request = task.request
    run = _guarded("the start", task_id, _started, str(task_id), task.name, request)
    if run is not None:
        setattr(request, RUN_ATTRIBUTE, run)


def _started(task_id: str, name: str, request: Any) -> JobRun:
    now = timezone.now()
    latest = JobRun.objects.select_for_update().filter(task_id=task_id, is_latest=True).first()
    first_attempt = latest is not None and latest.state == JobState.QUEUED and latest.attempt == 1
    if not first_attempt:  # only then can an earlier attempt have been left running
        lost = JobRun.objects.filter(task_id=task_id, state=JobState.RUNNING)
        for stale in lost:
            _log(stale, AgentEvent.JOB_FAILED, LogLevel.ERROR, WORKER_LOST, error=WORKER_LOST)
        lost.update(state=JobState.FAILED, finished_at=now, error=WORKER_LOST)
    worker = str(getattr(request, "hostname", "") or "")
    if latest is not None and latest.state == JobState.QUEUED:
        latest.state = JobState.RUNNING
        latest.started_at = now
        latest.worker = worker
        latest.save(update_fields=["state", "started_at", "worker"])
        run = latest
    else:
        if latest is not None:
            JobRun.objects.filter(pk=latest.pk).update(is_latest=False)
        queued_at = getattr(request, QUEUED_AT_HEADER, None)
        args, kwargs, replayable = safe_arguments(request.args, request.kwargs)
        run = JobRun.objects.create(
            task_id=task_id,
            job=name,
            attempt=latest.attempt + 1 if latest else 1,
            state=JobState.RUNNING,
            queue=str((request.delivery_info or {}).get("routing_key") or ""),
            args=args,
            kwargs=kwargs,
            replayable=replayable,
            queued_at=dt.datetime.fromtimestamp(float(queued_at), dt.UTC) if queued_at else now,
            eta=_eta(request.eta),
            started_at=now,
            worker=worker,
        )
    _log(run, AgentEvent.JOB_STARTED, LogLevel.INFO, f"{name} attempt {run.attempt} started")
    return run


# --- retried, failed, succeeded ------------------------------------------------------------------


def _current_run(task_id: str, request: Any) -> JobRun | None:
    run = getattr(request, RUN_ATTRIBUTE, None) if request is not None else None
    if isinstance(run, JobRun):
        return run  # nobody else changes a running attempt's fields that are saved below
    # A worker's main process (hard time limit, lost child) has no run: the running attempt.
    return (
        JobRun.objects.select_for_update()
        .filter(task_id=task_id, state=JobState.RUNNING)
        .order_by("-attempt")
        .first()
    )


@task_retry.connect(dispatch_uid="jobs.record_retry")
def record_retry(
    sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any
) -> None:
    if sender is None or request is None or not tracked(sender.name):
        return
    exc = getattr(reason, "exc", None) or reason
    when = getattr(reason, "when", None)
    einfo = kwargs.get("einfo")
    _guarded("a retry", request.id, _retrying, str(request.id), request, exc, when, einfo)


def _ended_in_error(
    task_id: str, request: Any, state: JobState, exc: Any, einfo: Any
) -> JobRun | None:
    run = _current_run(task_id, request)
    if run is None:
        return None
    run.state = state
    run.finished_at = timezone.now()
    run.error = describe(exc)
    run.traceback = str(getattr(einfo, "traceback", "") or "")[-MAX_TRACEBACK_CHARS:]
    run.save(update_fields=["state", "finished_at", "error", "traceback"])
    return run


def _retrying(task_id: str, request: Any, exc: Any, when: Any, einfo: Any) -> None:
    run = _ended_in_error(task_id, request, JobState.RETRYING, exc, einfo)
    if run is None:
        return
    delay = when.total_seconds() if isinstance(when, dt.timedelta) else when
    if isinstance(when, dt.datetime):
        delay = (when - timezone.now()).total_seconds()
    _log(
        run,
        AgentEvent.JOB_RETRYING,
        LogLevel.WARNING,
        f"{run.job} attempt {run.attempt} failed; retrying",
        error=run.error,
        retry_in_seconds=float(delay) if isinstance(delay, int | float) else None,
    )


@task_failure.connect(dispatch_uid="jobs.record_failure")
def record_failure(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **kwargs: Any
) -> None:
    if sender is None or not tracked(sender.name):
        return
    einfo = kwargs.get("einfo")
    _guarded(
        "a failure", task_id, _failed, str(task_id), sender.request, exception, einfo, durable=True
    )


def _failed(task_id: str, request: Any, exc: Any, einfo: Any) -> None:
    run = _ended_in_error(task_id, request, JobState.FAILED, exc, einfo)
    if run is None:
        return
    _log(
        run,
        AgentEvent.JOB_FAILED,
        LogLevel.ERROR,
        f"{run.job} failed for good after attempt {run.attempt}",
        error=run.error,
    )


@task_postrun.connect(dispatch_uid="jobs.record_finished")
def record_finished(
    sender: Any = None,
    task_id: str | None = None,
    task: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    if task is None or state != states.SUCCESS or not tracked(task.name):
        return
    _guarded("a success", task_id, _succeeded, str(task_id), task.request, retval)


def _succeeded(task_id: str, request: Any, retval: Any) -> None:
    run = _current_run(task_id, request)
    if run is None:
        return
    run.state = JobState.SUCCEEDED
    run.finished_at = timezone.now()
    run.result = _short_result(retval)
    run.save(update_fields=["state", "finished_at", "result"])
    _log(
        run,
        AgentEvent.JOB_SUCCEEDED,
        LogLevel.INFO,
        f"{run.job} succeeded on attempt {run.attempt}",
        duration_ms=run.duration_ms,
    )
