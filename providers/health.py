"""Provider health probing: on a schedule, never on a request path.

``probe_all()`` (run by the Celery beat task ``providers.tasks.probe_provider_health``) calls
every probe-able provider's ``health_check`` concurrently, each under a timeout, and stores the
outcome in ``ProviderHealth`` (one row per provider) and in the cache under one key, so that
routing reads the whole map with a single cache GET (``selectors.health_map``).

A provider is probed when the installation has a usable credential for it (a system-wide
credential row or the ``<PROVIDER>_API_KEY`` environment key); Ollama needs no key and is
probed at its URL. A provider that has never been probed is reported as "unknown", which
routing treats as available: a provider that only users' own keys can reach must not be ruled
out for want of a probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from providers import selectors, services
from providers.adapters.base import Health, ProviderError, ResolvedCredential
from providers.models import HealthState, ProviderHealth
from providers.registry import PROVIDERS, get_adapter
from providers.selectors import HEALTH_CACHE_KEY, HealthStatus, health_cache_timeout
from providers.services import PROBE_TIMEOUT_SECONDS, probe

NOT_PROBED = "not probed: the installation has no credential for it"

__all__ = ["PROBE_TIMEOUT_SECONDS", "probe", "probe_all", "probe_targets", "record"]


async def _probe_many(
    targets: dict[str, ResolvedCredential], time_limit: float
) -> dict[str, Health]:
    names = list(targets)
    results = await asyncio.gather(
        *(probe(get_adapter(name), targets[name], time_limit=time_limit) for name in names)
    )
    return dict(zip(names, results, strict=True))


def probe_targets() -> dict[str, ResolvedCredential]:
    """The providers the installation can probe, with the system credential of each."""
    targets: dict[str, ResolvedCredential] = {}
    for name in PROVIDERS:
        try:
            credential = services.resolve_credential(user=None, provider=name)
        except ProviderError:  # e.g. a revoked system OAuth login: nothing to probe with
            continue
        if selectors.credential_usable(name, credential):
            targets[name] = credential
    return targets


def probe_all(*, time_limit: float = PROBE_TIMEOUT_SECONDS) -> dict[str, HealthStatus]:
    """Probe every probe-able provider concurrently and record the outcomes.

    A provider the installation can no longer probe (its key was removed) is recorded as
    "unknown" with the reason, so that no one reads an earlier run's verdict as current.
    """
    targets = probe_targets()
    results = async_to_sync(_probe_many)(targets, time_limit) if targets else {}
    unprobed = [
        (name, Health(status="unknown", error=NOT_PROBED))
        for name in PROVIDERS
        if name not in targets
    ]
    recorded = record([*results.items(), *unprobed])
    return {name: status for name, status in recorded.items() if name in targets}


def record(results: Iterable[tuple[str, Health]]) -> dict[str, HealthStatus]:
    """Store probe outcomes in the table and refresh the cached map."""
    now = timezone.now()
    recorded: dict[str, HealthStatus] = {}
    for name, health in results:
        failed = health.status == "down"
        healthy = health.status in ("healthy", "degraded")
        defaults = {
            "status": HealthState(health.status),
            "latency_ms": health.latency_ms,
            "last_error": health.error[:2000],
            "checked_at": now,
        }
        if healthy:
            defaults["last_healthy_at"] = now
        row, _created = ProviderHealth.objects.update_or_create(provider=name, defaults=defaults)
        if failed:
            ProviderHealth.objects.filter(pk=row.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
        elif row.consecutive_failures:
            ProviderHealth.objects.filter(pk=row.pk).update(consecutive_failures=0)
        recorded[name] = HealthStatus.from_row(row)
    everything = {row.provider: HealthStatus.from_row(row) for row in ProviderHealth.objects.all()}
    cache.set(
        HEALTH_CACHE_KEY,
        {name: status.as_cache() for name, status in everything.items()},
        health_cache_timeout(),
    )
    return recorded
