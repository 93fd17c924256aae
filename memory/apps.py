from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import current_app

        from memory.tasks import install_beat_schedule

        # Only Mosaic's own Celery app (beat, workers); see providers.apps for why.
        if current_app.main == "mosaic":
            install_beat_schedule(current_app)
