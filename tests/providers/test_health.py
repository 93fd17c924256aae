"""Health: a scheduled task probes providers concurrently and records; reads never probe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from mosaic.fakes.anthropic import FakeAnthropic
from mosaic.fakes.base import Fault
from mosaic.fakes.ollama import FakeOllama
from providers import health, selectors, services
from providers.adapters.base import Health
from providers.models import ProviderCredential, ProviderHealth
from providers.tasks import PROBE_TASK, beat_schedule, install_beat_schedule, probe_provider_health
from tests.live import start_celery_worker

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_provider_env")]

SYSTEM_KEY = "sk-ant-system-health-key-000000000"


@pytest.fixture
def upstreams(
    settings: Any, fake_anthropic: FakeAnthropic, fake_ollama: FakeOllama
) -> tuple[FakeAnthropic, FakeOllama]:
    settings.ANTHROPIC_API_KEY = SYSTEM_KEY
    settings.ANTHROPIC_BASE_URL = fake_anthropic.base_url
    settings.OLLAMA_BASE_URL = fake_ollama.base_url
    return fake_anthropic, fake_ollama


def test_the_task_probes_reachable_providers_and_records_them(
    upstreams: tuple[FakeAnthropic, FakeOllama],
) -> None:
    fake_anthropic, fake_ollama = upstreams
    outcome = probe_provider_health()
    assert outcome == {"anthropic": "healthy", "ollama": "healthy"}
    assert fake_anthropic.requests[-1].headers["x-api-key"] == SYSTEM_KEY
    assert any(r.path in ("/api/version", "/api/tags") for r in fake_ollama.requests)

    rows = {row.provider: row for row in ProviderHealth.objects.all()}
    # Nothing to probe the others with: recorded as unknown, with the reason.
    assert {name for name, row in rows.items() if row.status != "unknown"} == {
        "anthropic",
        "ollama",
    }
    assert "no credential" in rows["openai"].last_error
    assert rows["anthropic"].status == "healthy"
    assert rows["anthropic"].latency_ms is not None
    assert rows["anthropic"].checked_at is not None


def test_a_system_credential_row_is_probed_too(
    settings: Any, fake_ollama: FakeOllama, fake_anthropic: FakeAnthropic
) -> None:
    settings.OLLAMA_BASE_URL = fake_ollama.base_url
    ProviderCredential.objects.create(
        owner=None, provider="anthropic", api_key=SYSTEM_KEY, base_url=fake_anthropic.base_url
    )
    assert health.probe_all()["anthropic"].status == "healthy"


def test_users_own_keys_are_never_used_for_probes(
    alice: Any, settings: Any, fake_ollama: FakeOllama
) -> None:
    settings.OLLAMA_BASE_URL = fake_ollama.base_url
    ProviderCredential.objects.create(
        owner=alice, provider="openai", api_key="sk-alice-000000000000000000"
    )
    assert "openai" not in health.probe_all()


def test_a_stalled_provider_times_out_as_down_without_holding_up_the_others(
    upstreams: tuple[FakeAnthropic, FakeOllama],
) -> None:
    _, fake_ollama = upstreams
    fake_ollama.tags_fault = Fault(kind="stall", seconds=5)
    started = time.monotonic()
    results = health.probe_all(time_limit=0.5)
    assert time.monotonic() - started < 3
    assert results["ollama"].status == "down"
    assert "no answer within 0.5 s" in results["ollama"].error
    assert results["anthropic"].status == "healthy"
    assert ProviderHealth.objects.get(provider="ollama").consecutive_failures == 1


def test_failures_are_counted_and_reset_by_a_success(
    upstreams: tuple[FakeAnthropic, FakeOllama],
) -> None:
    _, fake_ollama = upstreams
    for _ in range(2):
        fake_ollama.tags_fault = Fault(kind="status", status=500)
        health.probe_all()
    assert ProviderHealth.objects.get(provider="ollama").consecutive_failures == 2
    health.probe_all()
    row = ProviderHealth.objects.get(provider="ollama")
    assert (row.status, row.consecutive_failures) == ("healthy", 0)


def test_health_endpoint_serves_the_stored_status_without_probing(
    upstreams: tuple[FakeAnthropic, FakeOllama], alice_api: APIClient
) -> None:
    fake_anthropic, fake_ollama = upstreams
    health.probe_all()
    seen = (len(fake_anthropic.requests), len(fake_ollama.requests))

    response = alice_api.get("/api/providers/health")

    assert response.status_code == 200
    assert (len(fake_anthropic.requests), len(fake_ollama.requests)) == seen
    by_provider = {entry["provider"]: entry for entry in response.json()["providers"]}
    assert set(by_provider) == {"anthropic", "openai", "openrouter", "zai", "ollama"}
    assert by_provider["anthropic"]["status"] == "healthy"
    assert by_provider["anthropic"]["checked_at"]
    # No key for OpenAI: recorded as not probed, and why.
    assert by_provider["openai"]["status"] == "unknown"
    assert by_provider["openai"]["latency_ms"] is None
    assert by_provider["openai"]["error"] == health.NOT_PROBED


def test_selectors_read_the_cache_and_fall_back_to_the_table(
    upstreams: tuple[FakeAnthropic, FakeOllama], django_assert_num_queries: Any
) -> None:
    health.probe_all()
    with django_assert_num_queries(0):
        status = selectors.provider_health("anthropic")
    assert status is not None
    assert status.status == "healthy"
    assert status.available

    cache.delete(selectors.HEALTH_CACHE_KEY)
    with django_assert_num_queries(1):
        assert selectors.health_map()["anthropic"].status == "healthy"
    with django_assert_num_queries(0):
        selectors.health_map()


def test_never_probed_is_unknown_and_counts_as_available() -> None:
    status = selectors.provider_health("zai")
    assert status is not None
    assert status.status == "unknown"
    assert status.available
    assert selectors.provider_health("skynet") is None


def test_down_is_not_available() -> None:
    health.record([("openai", Health(status="down", error="401"))])
    status = selectors.provider_health("openai")
    assert status is not None
    assert not status.available
    assert status.error == "401"


def test_beat_schedule_follows_the_interval_setting(settings: Any) -> None:
    settings.MOSAIC_PROVIDER_HEALTH_INTERVAL = 45
    entry = beat_schedule()["providers: probe provider health"]
    assert entry["task"] == PROBE_TASK
    assert entry["schedule"] == 45.0
    assert entry["options"] == {"expire_seconds": 45}


@pytest.mark.django_db(transaction=True)  # the scheduler closes "old" connections
def test_beat_syncs_the_entry_into_django_celery_beat(settings: Any) -> None:
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from mosaic.celery import app

    settings.MOSAIC_PROVIDER_HEALTH_INTERVAL = 90
    install_beat_schedule(app)
    DatabaseScheduler(app=app)  # what `celery beat` builds at start

    task = PeriodicTask.objects.get(name="providers: probe provider health")
    assert task.task == PROBE_TASK
    assert task.interval is not None
    assert (task.interval.every, task.interval.period) == (90, "seconds")
    assert task.expire_seconds == 90
    assert task.enabled


def test_beat_and_workers_get_the_schedule_when_django_starts() -> None:
    """`celery -A mosaic beat` imports the Celery app, then sets Django up: ready() installs."""
    import subprocess
    import sys

    from tests.live import PROJECT_DIR

    script = (
        "import mosaic.celery as c, django; django.setup(); print(sorted(c.app.conf.beat_schedule))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "providers: probe provider health" in result.stdout
    assert "providers: refresh expiring OAuth tokens" in result.stdout


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_the_probe(
    tmp_path: Path, fake_anthropic: FakeAnthropic, fake_ollama: FakeOllama
) -> None:
    from mosaic.celery import app

    worker = start_celery_worker(
        tmp_path,
        {
            "ANTHROPIC_API_KEY": SYSTEM_KEY,
            "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
            "OLLAMA_BASE_URL": fake_ollama.base_url,
            "OPENAI_API_KEY": "",
            "OPENROUTER_API_KEY": "",
            "ZAI_API_KEY": "",
        },
    )
    try:
        app.send_task(PROBE_TASK)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ProviderHealth.objects.count() < 5:
            time.sleep(0.2)
        statuses = dict(ProviderHealth.objects.values_list("provider", "status"))
        assert statuses == {
            "anthropic": "healthy",
            "ollama": "healthy",
            "openai": "unknown",  # no key: not probed, and recorded as such
            "openrouter": "unknown",
            "zai": "unknown",
        }, worker.log()
    finally:
        worker.stop()


@pytest.mark.e2e
def test_a_starting_worker_probes_at_once(celery_worker_process: Any) -> None:
    """No waiting one interval for beat: a worker that comes up probes straight away."""
    import time

    from providers.models import ProviderHealth

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        row = ProviderHealth.objects.filter(provider="ollama").first()
        if row is not None:
            break
        time.sleep(0.2)
    assert row is not None, celery_worker_process.log()
    assert row.checked_at is not None
    assert row.status in {"healthy", "degraded", "down"}


def test_a_provider_that_lost_its_key_reads_unknown_after_the_next_probe(
    upstreams: tuple[FakeAnthropic, FakeOllama],
) -> None:
    """A verdict from a run that had an OpenAI key must not be shown as current once the key is
    gone; when it was last healthy is kept."""
    health.record([("openai", Health(status="healthy", latency_ms=12.0))])
    health.probe_all()
    row = ProviderHealth.objects.get(provider="openai")
    assert row.status == "unknown"
    assert row.last_error == health.NOT_PROBED
    assert row.last_healthy_at is not None
    assert selectors.health_map()["openai"].status == "unknown"


def test_usable_providers_do_not_outlive_a_key_removed_from_the_environment(
    alice: Any, settings: Any
) -> None:
    settings.OPENAI_API_KEY = "sk-openai-from-the-environment-0000"
    assert "openai" in selectors.usable_providers(user=alice)
    settings.OPENAI_API_KEY = ""  # a restart without the key, on the same Redis
    assert "openai" not in selectors.usable_providers(user=alice)


def test_an_ollama_nobody_configured_is_usable_only_once_it_has_answered(
    alice: Any, settings: Any
) -> None:
    settings.OLLAMA_BASE_URL = settings.OLLAMA_DEFAULT_BASE_URL
    settings.OLLAMA_CONFIGURED = False
    assert "ollama" not in selectors.usable_providers(user=alice)
    health.record([("ollama", Health(status="healthy", latency_ms=3.0))])
    services.invalidate_usable(owner_id=None)
    assert "ollama" in selectors.usable_providers(user=alice)
    settings.OLLAMA_BASE_URL = "http://gpu-box:11434"  # configured: tried before any probe
    ProviderHealth.objects.all().delete()
    services.invalidate_usable(owner_id=None)
    from django.core.cache import cache as django_cache

    django_cache.delete(selectors.HEALTH_CACHE_KEY)
    assert "ollama" in selectors.usable_providers(user=alice)
