"""Provider health: probed on a schedule, read from the cache on the chat path.

``probe_all()`` (run by the Celery beat task ``providers.tasks.probe_provider_health``) calls
every probe-able provider's ``health_check`` concurrently, each under a timeout, and stores the
outcome in ``ProviderHealth`` (one row per provider) and in the cache under one key, so that
routing reads the whole map with a single cache GET. Nothing on a request path ever probes:
``health_map()`` reads the cache, falling back to the table.

A provider is probed when the installation has a usable credential for it (a system-wide
credential row or the ``<PROVIDER>_API_KEY`` environment key); Ollama needs no key and is always
probed. A provider that has never been probed is reported as "unknown", which routing treats as
available: a provider that only users' own keys can reach must not be ruled out for want of a
probe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, cast

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from providers.adapters.base import Health, ProviderAdapter, ProviderError, ResolvedCredential
from providers.models import HealthState, ProviderHealth
from providers.registry import PROVIDERS, get_adapter

HEALTH_CACHE_KEY = "providers:health"
PROBE_TIMEOUT_SECONDS = 10.0

Status = Literal["healthy", "degraded", "down", "unknown"]


@dataclass(frozen=True, slots=True)
class HealthStatus:
    provider: str
    status: Status
    latency_ms: float | None = None
    error: str = ""
    checked_at: dt.datetime | None = None

    @property
    def available(self) -> bool:
        """Whether routing may send a request there ("unknown" counts as available)."""
        return self.status != "down"

    def as_cache(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }

    @classmethod
    def from_cache(cls, provider: str, data: dict[str, Any]) -> HealthStatus:
        checked = data.get("checked_at")
        return cls(
            provider=provider,
            status=data.get("status", "unknown"),
            latency_ms=data.get("latency_ms"),
            error=str(data.get("error") or ""),
            checked_at=dt.datetime.fromisoformat(checked) if checked else None,
        )

    @classmethod
    def from_row(cls, row: ProviderHealth) -> HealthStatus:
        return cls(
            row.provider, cast(Status, row.status), row.latency_ms, row.last_error, row.checked_at
        )


def _cache_timeout() -> int:
    # Long enough to outlive several missed beats; the table is the fallback after that.
    return int(settings.MOSAIC_PROVIDER_HEALTH_INTERVAL) * 10


def _unknown(provider: str) -> HealthStatus:
    return HealthStatus(provider=provider, status="unknown")


# --- selectors (re-exported by providers.selectors) --------------------------------------------


def health_map() -> dict[str, HealthStatus]:
    """The last known health of every registered provider (never probes)."""
    cached = cache.get(HEALTH_CACHE_KEY)
    if isinstance(cached, dict):
        known = {name: HealthStatus.from_cache(name, data) for name, data in cached.items()}
    else:
        known = {row.provider: HealthStatus.from_row(row) for row in ProviderHealth.objects.all()}
        cache.set(
            HEALTH_CACHE_KEY,
            {name: status.as_cache() for name, status in known.items()},
            _cache_timeout(),
        )
    return {name: known.get(name) or _unknown(name) for name in PROVIDERS}


def provider_health(provider: str) -> HealthStatus | None:
    """The last known health of one provider ("unknown" if never probed; None if unregistered)."""
    return health_map().get(provider)


# --- probing -----------------------------------------------------------------------------------


async def probe(
    adapter: ProviderAdapter,
    credential: ResolvedCredential,
    *,
    time_limit: float = PROBE_TIMEOUT_SECONDS,
) -> Health:
    """One health check under a hard time limit; never raises."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            return await adapter.health_check(credential)
    except TimeoutError:
        return Health(
            status="down",
            latency_ms=(time.perf_counter() - started) * 1000,
            error=f"no answer within {time_limit:g} s",
        )
    except Exception as exc:  # an adapter bug must not stop the other probes
        return Health(
            status="down",
            latency_ms=(time.perf_counter() - started) * 1000,
            error=str(exc) or exc.__class__.__name__,
        )


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
    from providers import selectors, services

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
    """Probe every probe-able provider concurrently and record the outcomes."""
    targets = probe_targets()
    results = async_to_sync(_probe_many)(targets, time_limit) if targets else {}
    return record(results.items())


def record(results: Iterable[tuple[str, Health]]) -> dict[str, HealthStatus]:
    """Store probe outcomes in the table and refresh the cached map."""
    now = timezone.now()
    recorded: dict[str, HealthStatus] = {}
    for name, health in results:
        failed = health.status == "down"
        row, _created = ProviderHealth.objects.update_or_create(
            provider=name,
            defaults={
                "status": HealthState(health.status),
                "latency_ms": health.latency_ms,
                "last_error": health.error[:2000],
                "checked_at": now,
            },
        )
        if failed:
            ProviderHealth.objects.filter(pk=row.pk).update(
                consecutive_failures=F("consecutive_failures") + 1
            )
        elif row.consecutive_failures:
            ProviderHealth.objects.filter(pk=row.pk).update(consecutive_failures=0)
        recorded[name] = HealthStatus(name, health.status, health.latency_ms, health.error, now)
    everything = {row.provider: HealthStatus.from_row(row) for row in ProviderHealth.objects.all()}
    cache.set(
        HEALTH_CACHE_KEY,
        {name: status.as_cache() for name, status in everything.items()},
        _cache_timeout(),
    )
    return recorded
