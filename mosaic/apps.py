"""The project package as a Django app, so that it can do start-up work of its own.

``mosaic`` is the entry-point layer (settings, URLs, ASGI, Celery, the CLI): the apps below it
never import it. Its ``ready()`` makes ``mosaic.celery:app`` the current Celery app in every
Django process (web, tests, management commands), so that jobs sent from there use its broker
settings. It is not done in ``mosaic/__init__.py``, which would put Celery on the terminal
client's start-up path.
"""

from __future__ import annotations

from django.apps import AppConfig


class MosaicConfig(AppConfig):
    name = "mosaic"
    verbose_name = "Mosaic"

    def ready(self) -> None:
        import mosaic.celery  # noqa: F401 - sets the current Celery app
