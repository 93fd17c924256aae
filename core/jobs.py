"""One way to declare a background job, importable by every app: ``@job(name=...)``.

A job is a Celery task with Mosaic's guarantees built in, so that no app has to remember them:

- **Exactly three attempts.** The first run and at most two retries (``MAX_ATTEMPTS``).
- **Retry only what can succeed next time.** A job names the error types it treats as transient
  (``retry_on``, default ``TRANSIENT_ERRORS``); anything else fails at once. An error that carries
  its own decision (``ProviderError.retryable``, ``MosaicError.retryable``) is retried only when it
  says so, even if its type is listed. A bare ``Exception`` is refused at declaration.
- **Exponential backoff with bounded jitter.** Attempt n + 1 starts ``backoff · 2^(n-1) · U[1, 1.5)``
  seconds after attempt n failed: the jitter spreads retries of many jobs apart, and because each
  delay's range starts where the previous one's ends, delays always grow.
- **No job lost when a worker dies.** ``acks_late``: the broker forgets a message only after its
  job returned. A worker *process* that dies mid-job (prefork child killed, out of memory) counts as
  a failed attempt and is retried (``retry_on_worker_lost``; ``reject_on_worker_lost`` requeues it
  if even that fails). A whole worker that dies leaves its message unacknowledged in Redis, which
  hands it to another worker after the broker's ``visibility_timeout``; that timeout must exceed
  the longest job plus its retry countdown (``longest_hold_seconds``, checked by the jobs app), or
  Redis would hand a job that is still running to a second worker.
- **Idempotent bodies keyed by ids.** A job takes ids and plain values (JSON), re-reads the state
  it needs, and may run more than once for one message (a redelivery after a worker died): its
  body must have the same effect the second time (``UPDATE … WHERE ended_at IS NULL``, ``INSERT …
  ON CONFLICT DO NOTHING``). Never pass model instances, and never secrets: arguments travel
  through Redis and are recorded for the admin.
- **A default schedule,** when the job runs periodically: ``every=Every(seconds, entry=...)``.
  The jobs app copies it into django-celery-beat's tables, where the admin can change it.

The jobs app observes every job through Celery's signals (queued, started, retried, succeeded,
failed) and records each attempt; nothing here imports it, so the lowest app can declare jobs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from celery import Task, shared_task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError

from core.errors import Unavailable

P = ParamSpec("P")
R = TypeVar("R")

MAX_ATTEMPTS = 3
# The queues are CELERY_TASK_QUEUES; a worker consumes all of them unless started with -Q.
DEFAULT_QUEUE = "default"
HOUSEKEEPING_QUEUE = "housekeeping"
DEFAULT_BACKOFF_SECONDS = 10.0
JITTER = 0.5


class TransientJobError(Unavailable):
    """Raise from a job body to ask for another attempt (e.g. a lock is held elsewhere).

    An ``Unavailable``: what the job needs cannot be had right now, and the same attempt may
    succeed later, so it carries that error's documented code rather than a new one.
    """


# Errors worth another attempt: the database or a network peer was briefly unreachable.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    TransientJobError,
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class Every:
    """A job's default schedule: every ``seconds`` (a number, or a callable read when beat starts,
    so that an env-driven interval follows its setting). ``expires`` drops a run that no worker
    started before the next one was due, so runs never pile up behind a busy worker."""

    seconds: float | Callable[[], float]
    entry: str
    expires: bool = True

    def interval(self) -> float:
        return float(self.seconds() if callable(self.seconds) else self.seconds)


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    queue: str
    retry_on: tuple[type[BaseException], ...]
    backoff: float
    time_limit: int
    every: Every | None
    # The longest countdown the job is sent with (read when checked: settings may change it).
    countdown: Callable[[], float] | None = None


_registry: dict[str, JobSpec] = {}


def registered_jobs() -> dict[str, JobSpec]:
    """Every job declared so far (a module's jobs are declared when it is imported)."""
    return dict(_registry)


def beat_entries(*, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Default schedules of the jobs declared so far (whose name starts with ``prefix``), in
    Celery's ``beat_schedule`` form. ``expire_seconds`` is django-celery-beat's ``expires``."""
    entries: dict[str, dict[str, Any]] = {}
    for spec in _registry.values():
        if spec.every is None or not spec.name.startswith(prefix):
            continue
        interval = spec.every.interval()
        options: dict[str, Any] = {}  # the queue comes from route_to_declared_queue
        if spec.every.expires:
            options["expire_seconds"] = int(interval)
        entries[spec.every.entry] = {"task": spec.name, "schedule": interval, "options": options}
    return entries


def retry_delay(attempt: int, backoff: float, *, jitter: float | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one.

    ``jitter`` in [0, 1) fixes the random part (tests); by default it is drawn uniformly.
    """
    share = random.random() if jitter is None else jitter  # noqa: S311 - spreading, not secrecy
    return float(backoff * 2 ** (attempt - 1) * (1 + JITTER * share))


def longest_retry_delay(backoff: float) -> float:
    """The upper bound of the last retry's countdown."""
    return float(backoff * 2 ** (MAX_ATTEMPTS - 2) * (1 + JITTER))


def longest_hold_seconds(spec: JobSpec) -> float:
    """How long a worker may hold one message unacknowledged: the countdown it waits first (the
    one it was sent with, or a retry's) plus the run itself. The broker's visibility timeout
    must be longer."""
    sent_with = float(spec.countdown()) if spec.countdown is not None else 0.0
    return max(sent_with, longest_retry_delay(spec.backoff)) + spec.time_limit


def is_transient(exc: BaseException, retry_on: tuple[type[BaseException], ...]) -> bool:
    """Whether another attempt can help: a listed type whose own ``retryable`` flag (if it has
    one) does not say otherwise."""
    return isinstance(exc, retry_on) and bool(getattr(exc, "retryable", True))


class MosaicJob(Task):  # type: ignore[type-arg]
    """The Celery task class behind ``@job``; its attributes are the guarantees above."""

    acks_late = True
    reject_on_worker_lost = True
    retry_on_worker_lost = True
    max_retries = MAX_ATTEMPTS - 1
    ignore_result = True
    mosaic: JobSpec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except self.mosaic.retry_on as exc:
            attempt = int(self.request.retries or 0) + 1
            if (
                not isinstance(exc, Exception)
                or not is_transient(exc, self.mosaic.retry_on)
                or attempt >= MAX_ATTEMPTS
            ):
                raise
            raise self.retry(  # noqa: B904 - Celery chains the original error itself
                exc=exc, countdown=retry_delay(attempt, self.mosaic.backoff)
            )


def route_to_declared_queue(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any
) -> dict[str, str] | None:
    """Celery router (``CELERY_TASK_ROUTES``): every job goes to the queue it was declared with,
    whether sent through the task or by name alone (``send_task``, beat); others go to the
    default queue. An explicit ``queue=`` when sending wins."""
    spec = _registry.get(name)
    return {"queue": spec.queue} if spec is not None else None


def _check_retry_on(name: str, retry_on: tuple[type[BaseException], ...]) -> None:
    for kind in retry_on:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise ImproperlyConfigured(
                f"job {name}: retry_on must list exception types, not {kind!r}."
            )
        if kind in (Exception, BaseException):
            raise ImproperlyConfigured(
                f"job {name}: retry_on may not be {kind.__name__}; name the transient errors."
            )


def job(
    *,
    name: str,
    queue: str = DEFAULT_QUEUE,
    retry_on: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
    backoff: float = DEFAULT_BACKOFF_SECONDS,
    time_limit: int | None = None,
    every: Every | None = None,
    countdown: Callable[[], float] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Declare ``fn`` as a job named ``name`` (``"<app>.<verb_object>"``), on ``queue``.

    A mistake in the declaration (a bare ``Exception`` to retry, an unknown queue) raises
    ``ImproperlyConfigured`` when the module is imported. ``time_limit`` (seconds, default ``MOSAIC_JOB_TIME_LIMIT``) is a hard limit: the run is
    stopped and counts as failed for good. ``countdown`` returns the longest countdown the job
    is sent with, so that the visibility-timeout check counts the wait before its run too.
    """
    queues = list(settings.CELERY_TASK_QUEUES)
    if queue not in queues:
        raise ImproperlyConfigured(
            f"job {name}: unknown queue {queue!r}; queues are {', '.join(queues)}."
        )
    if backoff < 1:
        # Shorter, and a retry could start before the failed attempt was recorded as failed.
        raise ImproperlyConfigured(f"job {name}: backoff must be at least 1 second.")
    _check_retry_on(name, retry_on)
    limit = int(time_limit if time_limit is not None else settings.MOSAIC_JOB_TIME_LIMIT)
    spec = JobSpec(name, queue, tuple(retry_on), float(backoff), limit, every, countdown)

    def declare(fn: Callable[P, R]) -> Task[P, R]:
        _registry[name] = spec
        task = shared_task(
            name=name,
            base=MosaicJob,
            time_limit=limit,
            default_retry_delay=int(backoff),
            mosaic=spec,
        )(fn)
        return cast("Task[P, R]", task)

    return declare
