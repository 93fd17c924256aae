"""Log tiers (M6-005): agent_logs (hot) → agent_logs_archive → deleted; old job runs deleted.

- Rows of ``agent_logs`` older than ``MOSAIC_LOG_HOT_DAYS`` move to ``agent_logs_archive``, in
  batches, each batch one statement (``DELETE … RETURNING`` feeding an ``INSERT``): a row is in
  exactly one tier at every moment, and running the move twice moves nothing twice.
- Archived rows older than ``MOSAIC_LOG_RETENTION_DAYS`` are deleted.
- ``JobRun`` rows older than ``MOSAIC_JOB_RUN_RETENTION_DAYS`` are deleted, except attempts still
  queued or running.
- A ``JobRun`` left ``running`` for longer than the broker's visibility timeout plus the job time
  limit belongs to a worker that died and whose message will not come back (a worker that died
  returns its message within the visibility timeout): it is marked failed, so that it can be
  seen and retried.

Each function returns how many rows it touched; the job reports them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from jobs.models import AgentLog, ArchivedAgentLog, JobRun, JobState

BATCH = 5_000
LOST = "WorkerLost: the run was still marked running long after any worker could hold it."
_COLUMNS = ", ".join(
    f.column
    for f in ArchivedAgentLog._meta.concrete_fields  # same columns in both tiers
)


def archive_old_logs(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOSAIC_LOG_HOT_DAYS)
    hot, archive = AgentLog._meta.db_table, ArchivedAgentLog._meta.db_table
    moved = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"WITH moved AS (DELETE FROM {hot} WHERE id IN ("  # noqa: S608 - our table names
                f"  SELECT id FROM {hot} WHERE created_at < %s ORDER BY id LIMIT %s"
                f") RETURNING {_COLUMNS}) "
                f"INSERT INTO {archive} ({_COLUMNS}) SELECT {_COLUMNS} FROM moved "
                "ON CONFLICT (id) DO NOTHING",
                [cutoff, BATCH],
            )
            count = int(cursor.rowcount)
        moved += count
        if count < BATCH:
            return moved


def _delete_in_batches(rows: QuerySet[Any]) -> int:
    deleted = 0
    while True:
        ids = list(rows.order_by("id").values_list("id", flat=True)[:BATCH])
        if not ids:
            return deleted
        deleted += rows.model.objects.filter(id__in=ids).delete()[0]


def delete_expired_logs(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOSAIC_LOG_RETENTION_DAYS)
    return _delete_in_batches(ArchivedAgentLog.objects.filter(created_at__lt=cutoff))


def delete_expired_runs(*, now: dt.datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOSAIC_JOB_RUN_RETENTION_DAYS)
    finished = [JobState.SUCCEEDED, JobState.RETRYING, JobState.FAILED]
    return _delete_in_batches(JobRun.objects.filter(queued_at__lt=cutoff, state__in=finished))


def fail_lost_runs(*, now: dt.datetime | None = None) -> int:
    visibility = int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])
    hold = dt.timedelta(seconds=visibility + settings.MOSAIC_JOB_TIME_LIMIT)
    current = now or timezone.now()
    lost = JobRun.objects.filter(state=JobState.RUNNING, started_at__lt=current - hold)
    return int(lost.update(state=JobState.FAILED, finished_at=current, error=LOST))
