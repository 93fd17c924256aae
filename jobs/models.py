"""What background jobs did, attempt by attempt, and the log of agent and job events.

``JobRun`` is one execution attempt of one job message: a run (one Celery task id) that failed
twice and then succeeded is three rows with attempts 1, 2, 3. The newest attempt of a task id has
``is_latest`` set; its state is the run's state. Every row is written by the jobs app's signal
handlers (``jobs.recorder``), never by the jobs themselves.

``AgentLog`` (table ``agent_logs``, the PRD's name) is the hot tier of the event log: recent rows,
small indexes, cheap inserts. ``ArchivedAgentLog`` (``agent_logs_archive``) has the same columns;
the log tier job moves rows there after ``MOSAIC_LOG_HOT_DAYS`` and deletes them after
``MOSAIC_LOG_RETENTION_DAYS``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"  # this attempt failed; another one is queued
    FAILED = "failed"


class JobRun(models.Model):
    task_id = models.CharField(max_length=255)
    job = models.CharField(
        max_length=200, help_text="The job's name, e.g. agents.end_abandoned_sessions."
    )
    attempt = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    is_latest = models.BooleanField(default=True)
    queue = models.CharField(max_length=100, blank=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # False when an argument was redacted or cut short: such a run cannot be re-sent as it was.
    replayable = models.BooleanField(default=True)
    queued_at = models.DateTimeField(default=timezone.now)
    eta = models.DateTimeField(
        null=True, blank=True, help_text="Not before this time (a retry's countdown)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task_id", "attempt"], name="jobrun_unique_attempt"),
            models.UniqueConstraint(
                fields=["task_id"], condition=Q(is_latest=True), name="jobrun_one_latest"
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "-queued_at"],
                condition=Q(is_latest=True),
                name="jobrun_latest_state",
            ),
            models.Index(fields=["job", "-queued_at"], name="jobrun_job_recent"),
            models.Index(fields=["queued_at"], name="jobrun_queued_at"),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.attempt} ({self.state})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000

    @property
    def wait_ms(self) -> float | None:
        """From when the attempt could start (queued, or its countdown elapsed) to its start."""
        if self.started_at is None:
            return None
        ready = max(self.queued_at, self.eta) if self.eta else self.queued_at
        return max(0.0, (self.started_at - ready).total_seconds() * 1000)


class AgentEvent(models.TextChoices):
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    MODEL_SWITCHED = "model.switched"
    AGENT_SWITCHED = "agent.switched"
    ROUTING_DECIDED = "routing.decided"
    PROVIDER_FAILOVER = "provider.failover"
    JOB_STARTED = "job.started"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_RETRYING = "job.retrying"
    JOB_FAILED = "job.failed"
    JOB_RETRY_REQUESTED = "job.retry_requested"
    SCHEDULE_PAUSED = "schedule.paused"
    SCHEDULE_RESUMED = "schedule.resumed"
    QUEUE_PAUSED = "queue.paused"
    QUEUE_RESUMED = "queue.resumed"


class LogLevel(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class AgentLogFields(models.Model):
    """The columns of both tiers, in the order the archive move copies them."""

    created_at = models.DateTimeField(default=timezone.now)
    event = models.CharField(max_length=64)  # an AgentEvent value (checked by the service)
    level = models.CharField(max_length=8, choices=LogLevel.choices, default=LogLevel.INFO)
    # Whose activity this was (null for system work such as scheduled jobs).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Plain ids, not foreign keys: the jobs app sits beside agents and never depends on it.
    session_id = models.UUIDField(null=True, blank=True)
    conversation_id = models.UUIDField(null=True, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    job = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.event}"


class AgentLog(AgentLogFields):
    class Meta:
        db_table = "agent_logs"
        indexes = [
            models.Index(fields=["created_at"], name="agentlog_created"),
            models.Index(fields=["event", "-created_at"], name="agentlog_event_recent"),
            models.Index(fields=["task_id"], name="agentlog_task", condition=~Q(task_id="")),
            models.Index(fields=["session_id"], name="agentlog_session"),
        ]


class ArchivedAgentLog(AgentLogFields):
    # The same id as in the hot tier: a row keeps its identity when it moves.
    id = models.BigIntegerField(primary_key=True)

    class Meta:
        db_table = "agent_logs_archive"
        verbose_name = "archived agent log"
        indexes = [
            models.Index(fields=["created_at"], name="agentlogarch_created"),
            models.Index(fields=["task_id"], name="agentlogarch_task", condition=~Q(task_id="")),
        ]


class PausedQueue(models.Model):
    """A queue no worker consumes from until it is resumed (kept here so that a restarted worker
    still honours it)."""

    queue = models.CharField(max_length=100, primary_key=True)
    paused_at = models.DateTimeField(default=timezone.now)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.queue
