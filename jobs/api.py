"""``/api/admin/jobs`` (AC-6, M6-006): runs, their attempts, retry; schedules and queues.

Staff only: anonymous requests answer 401, other users 403 for a list and 404 for an object
(the selectors and services decide; these views parse, delegate and shape the answer).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import acting_user
from conversations.api import Pagination
from jobs import selectors, services
from jobs.models import AgentLog, JobRun, JobState
from jobs.selectors import STATE_FILTERS, JobRunDetail


class AttemptOutput(serializers.ModelSerializer[JobRun]):
    duration_ms = serializers.FloatField(read_only=True, allow_null=True)
    wait_ms = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="From ready (queued, or countdown over) to start.",
    )

    class Meta:
        model = JobRun
        fields = [
            "attempt", "state", "queued_at", "eta", "started_at", "finished_at", "duration_ms",
            "wait_ms", "worker", "error", "result",
        ]  # fmt: skip


class RunOutput(serializers.ModelSerializer[JobRun]):
    """A run is one task id; its state and timings are those of its newest attempt."""

    attempts = serializers.IntegerField(source="attempt")
    retryable = serializers.SerializerMethodField()
    duration_ms = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = JobRun
        fields = [
            "task_id", "job", "state", "attempts", "queue", "args", "kwargs", "queued_at", "eta",
            "started_at", "finished_at", "duration_ms", "worker", "error", "result", "retryable",
        ]  # fmt: skip

    def get_retryable(self, run: JobRun) -> bool:
        return run.state == JobState.FAILED and run.replayable


class LogOutput(serializers.ModelSerializer[AgentLog]):
    class Meta:
        model = AgentLog
        fields = ["created_at", "event", "level", "attempt", "message", "data"]


class AttemptDetailOutput(AttemptOutput):
    class Meta(AttemptOutput.Meta):
        fields = [*AttemptOutput.Meta.fields, "traceback"]


class RunDetailOutput(serializers.Serializer[JobRunDetail]):
    run = RunOutput()
    attempts = AttemptDetailOutput(many=True)
    logs = LogOutput(many=True)


class JobRunListApi(APIView):
    class FilterInput(serializers.Serializer[Any]):
        state = serializers.ChoiceField(choices=list(STATE_FILTERS), required=False)
        job = serializers.CharField(max_length=200, required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "state", str, enum=list(STATE_FILTERS), description=selectors.__doc__ or ""
            ),
            OpenApiParameter("job", str, description="a job's name, e.g. jobs.manage_log_tiers"),
        ],
        responses=RunOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        query = self.FilterInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = selectors.job_run_list(user=acting_user(request), **query.validated_data)
        paginator = Pagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response(RunOutput(page, many=True).data)


class JobRunDetailApi(APIView):
    @extend_schema(responses=RunDetailOutput)
    def get(self, request: Request, task_id: str) -> Response:
        detail = selectors.job_run_detail(user=acting_user(request), task_id=task_id)
        return Response(RunDetailOutput(detail).data)


class JobRunRetryApi(APIView):
    @extend_schema(request=None, responses={202: RunOutput})
    def post(self, request: Request, task_id: str) -> Response:
        run = services.job_run_retry(user=acting_user(request), task_id=task_id)
        return Response(RunOutput(run).data, status=status.HTTP_202_ACCEPTED)


class ScheduleOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    job = serializers.CharField(source="task")
    enabled = serializers.BooleanField()
    schedule = serializers.SerializerMethodField(help_text='e.g. "every 60.0 seconds"')
    queue = serializers.CharField(allow_null=True)
    expire_seconds = serializers.IntegerField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    total_run_count = serializers.IntegerField()
    description = serializers.CharField()

    def get_schedule(self, task: Any) -> str:
        return str(task.interval or task.crontab or task.solar or task.clocked or "")


class ScheduleListApi(APIView):
    @extend_schema(responses=ScheduleOutput(many=True))
    def get(self, request: Request) -> Response:
        schedules = selectors.schedule_list(user=acting_user(request))
        return Response(ScheduleOutput(schedules, many=True).data)


class SchedulePauseApi(APIView):
    enabled = False

    @extend_schema(request=None, responses=ScheduleOutput)
    def post(self, request: Request, schedule_id: str) -> Response:
        schedule = services.schedule_set_enabled(
            user=acting_user(request), schedule_id=schedule_id, enabled=self.enabled
        )
        return Response(ScheduleOutput(schedule).data)


class ScheduleResumeApi(SchedulePauseApi):
    enabled = True


class QueueOutput(serializers.Serializer[Any]):
    name = serializers.CharField()
    paused = serializers.BooleanField()
    paused_at = serializers.DateTimeField(allow_null=True)
    pending = serializers.IntegerField(allow_null=True, help_text="jobs waiting in the broker")
    workers = serializers.ListField(
        child=serializers.CharField(), help_text="workers that confirmed a pause or resume"
    )


class QueueListApi(APIView):
    @extend_schema(responses=QueueOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(
            QueueOutput(selectors.queue_list(user=acting_user(request)), many=True).data
        )


class QueuePauseApi(APIView):
    @extend_schema(request=None, responses=QueueOutput)
    def post(self, request: Request, queue: str) -> Response:
        return Response(
            QueueOutput(services.queue_pause(user=acting_user(request), queue=queue)).data
        )


class QueueResumeApi(APIView):
    @extend_schema(request=None, responses=QueueOutput)
    def post(self, request: Request, queue: str) -> Response:
        return Response(
            QueueOutput(services.queue_resume(user=acting_user(request), queue=queue)).data
        )
