"""Beat's scheduler (jobs/scheduler.py): every periodic job's default schedule is installed, an
edit made in the admin survives a restart of beat, and a changed default replaces it."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.utils.module_loading import autodiscover_modules
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.scheduler import MosaicScheduler

pytestmark = pytest.mark.django_db(transaction=True)  # the scheduler closes "old" connections

DEFAULTS = {
    "agents: end abandoned sessions": ("agents.end_abandoned_sessions", 600),
    "jobs: manage log tiers": ("jobs.manage_log_tiers", 3600),
    "providers: probe provider health": ("providers.probe_provider_health", 60),
    "providers: refresh expiring OAuth tokens": ("providers.refresh_expiring_oauth", 300),
}


def start_beat() -> MosaicScheduler:
    autodiscover_modules("tasks")  # as beat does before it builds the scheduler
    return MosaicScheduler(app=current_app)  # what `celery beat` builds at start


def installed() -> dict[str, tuple[str, int]]:
    rows = PeriodicTask.objects.filter(description__startswith="Mosaic default")
    return {row.name: (row.task, row.interval.every) for row in rows}


def test_beat_installs_the_default_schedule_of_every_periodic_job(settings: Any) -> None:
    settings.MOSAIC_PROVIDER_HEALTH_INTERVAL = 60
    scheduler = start_beat()
    assert installed() == DEFAULTS
    assert set(DEFAULTS) <= set(scheduler.schedule)
    probe = PeriodicTask.objects.get(name="providers: probe provider health")
    assert probe.expire_seconds == 60
    assert probe.enabled


def test_an_interval_changed_in_the_admin_survives_a_restart_of_beat() -> None:
    start_beat()
    entry = PeriodicTask.objects.get(name="jobs: manage log tiers")
    entry.interval, _ = IntervalSchedule.objects.get_or_create(every=7200, period="seconds")
    entry.enabled = False
    entry.save()

    start_beat()
    entry.refresh_from_db()
    assert entry.interval.every == 7200
    assert entry.enabled is False


def test_a_changed_default_replaces_the_schedule_but_not_its_pause(settings: Any) -> None:
    settings.MOSAIC_PROVIDER_HEALTH_INTERVAL = 60
    start_beat()
    PeriodicTask.objects.filter(name="providers: probe provider health").update(enabled=False)

    settings.MOSAIC_PROVIDER_HEALTH_INTERVAL = 90
    start_beat()
    probe = PeriodicTask.objects.get(name="providers: probe provider health")
    assert probe.interval.every == 90
    assert probe.expire_seconds == 90
    assert "every 90 s" in probe.description
    assert probe.enabled is False
