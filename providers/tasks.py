"""Celery tasks of the providers app: thin wrappers that call the health and refresh services.

The beat entries are in ``beat_schedule()``; ``ProvidersConfig.ready()`` installs them on the
Celery app, and django-celery-beat's ``DatabaseScheduler`` copies them into its tables when beat
starts, so the interval always follows ``MOSAIC_PROVIDER_HEALTH_INTERVAL`` (an edit in the admin
lasts until beat restarts; pausing the entry there sticks).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

PROBE_TASK = "providers.probe_provider_health"
REFRESH_TASK = "providers.refresh_expiring_oauth"
OAUTH_REFRESH_INTERVAL_SECONDS = 300


@shared_task(name=PROBE_TASK, acks_late=True, ignore_result=True)
def probe_provider_health() -> dict[str, str]:
    """Probe every provider the installation can reach and record the outcome."""
    from providers import health

    return {name: status.status for name, status in health.probe_all().items()}


@shared_task(name=REFRESH_TASK, acks_late=True, ignore_result=True)
def refresh_expiring_oauth() -> int:
    """Refresh OAuth tokens that expire soon, so that a chat turn rarely has to wait for one."""
    from providers import services

    return services.refresh_expiring_credentials()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The providers app's periodic tasks, keyed by entry name.

    ``expire_seconds`` (django-celery-beat's spelling of ``expires``) drops a probe that a busy
    worker did not start before the next one is due, so probes never pile up.
    """
    interval = int(settings.MOSAIC_PROVIDER_HEALTH_INTERVAL)
    return {
        "providers: probe provider health": {
            "task": PROBE_TASK,
            "schedule": float(interval),
            "options": {"expire_seconds": interval},
        },
        "providers: refresh expiring OAuth tokens": {
            "task": REFRESH_TASK,
            "schedule": float(OAUTH_REFRESH_INTERVAL_SECONDS),
            "options": {"expire_seconds": OAUTH_REFRESH_INTERVAL_SECONDS},
        },
    }


def install_beat_schedule(app: Any) -> None:
    """Merge this app's entries into ``app.conf.beat_schedule`` (idempotent)."""
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}


@worker_ready.connect
def probe_when_a_worker_starts(sender: Any = None, **kwargs: Any) -> None:
    """Probe once as soon as a worker is up, rather than one interval after beat starts:
    until the first probe every provider reads "unknown"."""
    probe_provider_health.delay()
