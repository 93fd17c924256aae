from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs and agent logs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Importing them connects the signal handlers (every attempt recorded), the worker-side
        # queue pausing and its control command, and the visibility-timeout check.
        from jobs import checks, queues, recorder  # noqa: F401
