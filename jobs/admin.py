"""Admin pages: job runs (with a retry action), agent logs (hot and archived), paused queues.

The schedules are django-celery-beat's own pages (Periodic tasks), whose "Enable" and "Disable"
actions pause and resume them. Everything here is read-only: rows are written by the jobs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.auth import acting_user
from core.errors import MosaicError
from jobs import services
from jobs.models import AgentLog, ArchivedAgentLog, JobRun, PausedQueue


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Rows written by jobs and services only; the tier job deletes old ones."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = [
        "job", "attempt", "state", "is_latest", "queue", "queued_at", "started_at", "duration",
        "worker", "short_error", "task_id",
    ]  # fmt: skip
    list_filter = ["state", "is_latest", "job", "queue"]
    search_fields = ["task_id", "job", "error"]
    date_hierarchy = "queued_at"
    ordering = ["-queued_at", "-attempt"]
    actions = ["retry_runs"]

    @admin.display(description="duration (ms)")
    def duration(self, run: JobRun) -> str:
        value = run.duration_ms
        return "—" if value is None else f"{value:.0f}"

    @admin.display(description="error")
    def short_error(self, run: JobRun) -> str:
        return run.error[:80]

    @admin.action(description="Retry selected failed runs")
    def retry_runs(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> None:
        user = acting_user(request)
        retried, refused = 0, []
        for task_id in sorted(set(queryset.values_list("task_id", flat=True))):
            try:
                services.job_run_retry(user=user, task_id=task_id)
                retried += 1
            except MosaicError as exc:
                refused.append(f"{task_id}: {exc.message}")
        if retried:
            self.message_user(request, f"Sent {retried} run(s) again.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


class AgentLogAdminBase(ReadOnlyAdmin):
    list_display = ["created_at", "event", "level", "user", "job", "attempt", "message"]
    list_filter = ["event", "level"]
    list_select_related = ["user"]
    search_fields = ["message", "task_id", "job", "user__username"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]


@admin.register(AgentLog)
class AgentLogAdmin(AgentLogAdminBase):
    pass


@admin.register(ArchivedAgentLog)
class ArchivedAgentLogAdmin(AgentLogAdminBase):
    pass


@admin.register(PausedQueue)
class PausedQueueAdmin(ReadOnlyAdmin):
    """Pause a queue with ``POST /api/admin/jobs/queues/<name>/pause``; resume it here too (a
    bare delete would not tell the workers, the action does)."""

    list_display = ["queue", "paused_at", "paused_by"]
    actions = ["resume_queues"]

    @admin.action(description="Resume selected queues")
    def resume_queues(self, request: HttpRequest, queryset: QuerySet[PausedQueue]) -> None:
        user = acting_user(request)
        names = list(queryset.values_list("queue", flat=True))
        for name in names:
            services.queue_resume(user=user, queue=name)
        self.message_user(request, f"Resumed {', '.join(names)}.", messages.SUCCESS)
