from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Make mosaic.celery:app the current app in every Django process (web, tests), so that
        # shared tasks sent from there use its broker settings. Done here rather than in
        # mosaic/__init__.py to keep the terminal client's start-up free of Celery.
        import mosaic.celery  # noqa: F401
