"""One provider health check under a hard time limit: for the periodic probe
(``providers.health``) and a user's "test this credential" (``providers.services``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from core.redact import redact_secrets
from providers.adapters.base import Health, ProviderAdapter, ResolvedCredential

__all__ = ["PROBE_TIMEOUT_SECONDS", "probe"]

PROBE_TIMEOUT_SECONDS = 10.0


async def probe(
    adapter: ProviderAdapter,
    credential: ResolvedCredential,
    *,
    time_limit: float = PROBE_TIMEOUT_SECONDS,
) -> Health:
    """One health check under a hard time limit; never raises. Its error text has credentials
    redacted (it is stored and shown)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit):
            health = await adapter.health_check(credential)
            return replace(health, error=redact_secrets(health.error))
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
            error=redact_secrets(str(exc)) or exc.__class__.__name__,
        )
