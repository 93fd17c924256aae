"""The job base (core/jobs.py): what every job gets from being declared with ``@job``."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils.module_loading import autodiscover_modules

from core.errors import InvalidInput
from core.jobs import (
    MAX_ATTEMPTS,
    TRANSIENT_ERRORS,
    MosaicJob,
    TransientJobError,
    is_transient,
    job,
    longest_hold_seconds,
    registered_jobs,
    retry_delay,
)
from providers.adapters.base import ErrorKind, ProviderError

PRODUCTION_JOBS = {
    "jobs.ping",
    "jobs.manage_log_tiers",
    "agents.end_abandoned_sessions",
    "providers.probe_provider_health",
    "providers.refresh_expiring_oauth",
}


def _all_tasks() -> dict[str, object]:
    from celery import current_app

    autodiscover_modules("tasks")  # what a worker does at start
    return dict(current_app.tasks)


def test_every_production_job_is_declared_on_the_base() -> None:
    tasks = _all_tasks()
    for name in PRODUCTION_JOBS:
        task = tasks[name]
        assert isinstance(task, MosaicJob), name
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.retry_on_worker_lost
        assert task.max_retries == MAX_ATTEMPTS - 1 == 2


def test_test_only_jobs_are_not_registered_in_production() -> None:
    """A worker started as in production (a fresh process) knows no test job."""
    import subprocess
    import sys

    from tests.live import PROJECT_DIR

    script = (
        "import mosaic.celery as c, django; django.setup(); c.app.loader.import_default_modules();"
        "print(' '.join(sorted(c.app.tasks)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    names = set(result.stdout.split())
    assert names >= PRODUCTION_JOBS
    assert not [name for name in names if name.startswith("tests.")]


def test_jobs_go_to_their_declared_queue_even_when_sent_by_name() -> None:
    from celery import current_app

    _all_tasks()
    route = current_app.amqp.router.route
    assert route({}, "jobs.manage_log_tiers")["queue"].name == "housekeeping"
    assert route({}, "agents.end_abandoned_sessions")["queue"].name == "housekeeping"
    assert route({}, "providers.probe_provider_health")["queue"].name == "default"
    assert route({}, "some.plain_task")["queue"].name == "default"
    assert route({"queue": "default"}, "jobs.manage_log_tiers")["queue"].name == "default"


def test_retry_delays_grow_exponentially_with_bounded_jitter() -> None:
    for backoff in (1.0, 10.0):
        lowest = [retry_delay(n, backoff, jitter=0.0) for n in (1, 2)]
        highest = [retry_delay(n, backoff, jitter=0.999) for n in (1, 2)]
        assert lowest == [backoff, 2 * backoff]
        # Whatever the jitter, the second delay is longer than the first could ever be.
        assert highest[0] < lowest[1]
        assert highest[1] < 3 * backoff


def test_only_named_errors_that_do_not_refuse_retries_are_transient() -> None:
    assert is_transient(TransientJobError("busy"), TRANSIENT_ERRORS)
    assert is_transient(ConnectionError("reset"), TRANSIENT_ERRORS)
    assert not is_transient(ValueError("bad"), TRANSIENT_ERRORS)
    assert not is_transient(InvalidInput("bad"), TRANSIENT_ERRORS)
    # A listed type whose instance says it cannot succeed next time is permanent.
    retry_on = (ProviderError,)
    assert is_transient(ProviderError(ErrorKind.OVERLOADED, "try later"), retry_on)
    assert not is_transient(ProviderError(ErrorKind.AUTH, "bad key"), retry_on)


@pytest.mark.parametrize("kind", [Exception, BaseException])
def test_a_job_cannot_retry_every_exception(kind: type[BaseException]) -> None:
    with pytest.raises(ImproperlyConfigured, match="name the transient errors"):
        job(name="tests.too_broad", retry_on=(kind,))


def test_a_job_names_a_configured_queue() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown queue 'fast'"):
        job(name="tests.nowhere", queue="fast")


def test_a_retry_waits_at_least_a_second() -> None:
    with pytest.raises(ImproperlyConfigured, match="backoff must be at least 1 second"):
        job(name="tests.hasty", backoff=0.1)


def test_every_job_fits_inside_the_visibility_timeout(settings) -> None:
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert all(longest_hold_seconds(spec) < timeout for spec in registered_jobs().values())
    call_command("check", tags=["jobs"])


def test_a_visibility_timeout_shorter_than_a_job_is_refused(settings) -> None:
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    with pytest.raises(SystemCheckError, match=r"jobs\.E001.*visibility timeout"):
        call_command("check", tags=["jobs"])


def test_the_countdown_a_job_is_sent_with_counts_towards_the_visibility_timeout(settings) -> None:
    # Memory extraction is sent to wait for the conversation to go idle; a worker holds the
    # message unacknowledged all that time, so an idle wait near the timeout is refused too.
    autodiscover_modules("tasks")
    spec = registered_jobs()["memory.extract_insights"]
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 300
    assert longest_hold_seconds(spec) == 300 + spec.time_limit
    call_command("check", tags=["jobs"])
    settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS = 3600
    with pytest.raises(SystemCheckError, match=r"memory\.extract_insights may be held"):
        call_command("check", tags=["jobs"])
