from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "providers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery import current_app

        from providers.tasks import install_beat_schedule

        # Only Mosaic's own Celery app (beat, workers, anything that imported mosaic.celery);
        # configuring Celery's fallback app in a plain web process would be pointless.
        if current_app.main == "mosaic":
            install_beat_schedule(current_app)
