"""Routes of the jobs API; mounted by the project with ``path("api/", include(...))``."""

from django.urls import path

from jobs import api

app_name = "jobs"

urlpatterns = [
    path("admin/jobs", api.JobRunListApi.as_view(), name="runs"),
    path("admin/jobs/schedules", api.ScheduleListApi.as_view(), name="schedules"),
    path(
        "admin/jobs/schedules/<str:schedule_id>/pause",
        api.SchedulePauseApi.as_view(),
        name="schedule-pause",
    ),
    path(
        "admin/jobs/schedules/<str:schedule_id>/resume",
        api.ScheduleResumeApi.as_view(),
        name="schedule-resume",
    ),
    path("admin/jobs/queues", api.QueueListApi.as_view(), name="queues"),
    path("admin/jobs/queues/<str:queue>/pause", api.QueuePauseApi.as_view(), name="queue-pause"),
    path("admin/jobs/queues/<str:queue>/resume", api.QueueResumeApi.as_view(), name="queue-resume"),
    path("admin/jobs/<str:task_id>", api.JobRunDetailApi.as_view(), name="run-detail"),
    path("admin/jobs/<str:task_id>/retry", api.JobRunRetryApi.as_view(), name="run-retry"),
]
