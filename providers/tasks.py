"""Jobs of the providers app: thin wrappers that call the health and refresh services.

Both are periodic: their default schedules (``every=``) are copied into django-celery-beat's
tables when beat starts (``jobs.scheduler``), where the admin can pause or change them; the
probe's interval follows ``MOSAIC_PROVIDER_HEALTH_INTERVAL``, and a probe that no worker started
before the next one was due is dropped, so probes never pile up.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready
from django.conf import settings

from core.jobs import Every, beat_entries, job

PROBE_TASK = "providers.probe_provider_health"
REFRESH_TASK = "providers.refresh_expiring_oauth"
OAUTH_REFRESH_INTERVAL_SECONDS = 300


def _probe_interval() -> float:
    return float(settings.MOSAIC_PROVIDER_HEALTH_INTERVAL)


@job(name=PROBE_TASK, every=Every(_probe_interval, entry="providers: probe provider health"))
def probe_provider_health() -> dict[str, str]:
    """Probe every provider the installation can reach and record the outcome."""
    # Imported when the job runs: every process imports this module at start (ready()), and
    # the health and service modules pull in every provider SDK.
    from providers import health

    return {name: status.status for name, status in health.probe_all().items()}


@job(
    name=REFRESH_TASK,
    every=Every(OAUTH_REFRESH_INTERVAL_SECONDS, entry="providers: refresh expiring OAuth tokens"),
)
def refresh_expiring_oauth() -> int:
    """Refresh OAuth tokens that expire soon, so that a chat turn rarely has to wait for one."""
    from providers import services

    return services.refresh_expiring_credentials()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The providers app's periodic jobs, keyed by entry name, in Celery's beat_schedule form."""
    return beat_entries(prefix="providers.")


def install_beat_schedule(app: Any) -> None:
    """Merge this app's entries into ``app.conf.beat_schedule`` (idempotent)."""
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}


@worker_ready.connect
def probe_when_a_worker_starts(sender: Any = None, **kwargs: Any) -> None:
    """Probe once as soon as a worker is up, rather than one interval after beat starts:
    until the first probe every provider reads "unknown"."""
    probe_provider_health.delay()
