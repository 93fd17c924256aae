"""What chat turns learn about a provider's health, between two probes.

The periodic probe (``providers.health``) checks only the installation's own keys, once a
minute. A provider whose chat calls keep timing out, failing to connect or being overloaded is
counted here: after MOSAIC_CHAT_FAILURES_DOWN such failures in a row (within
MOSAIC_CHAT_FAILURE_COOLDOWN seconds of each other), ``selectors.health_map`` reports it "down"
for routing until the cooldown passes or a chat call succeeds again. A pinned model is still
tried (routing says so). Only calls made with the installation's key count: a user's own key or
base URL failing says nothing about the provider for everyone else.

Counters live in the shared cache (Redis), one key per provider, so every process sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import cache

from providers.adapters.base import ErrorKind, ProviderError, ResolvedCredential

logger = logging.getLogger("mosaic.providers")

# Failures that say the endpoint is in trouble (not the request, not the credential).
ENDPOINT_FAILURES = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE, ErrorKind.OVERLOADED})

# Providers this process counted a failure for since their last success: only those need the
# counter cleared on success (no cache write on the hot path otherwise).
_failing: set[str] = set()


def failures_key(provider: str) -> str:
    return f"providers:chat-failures:{provider}"


def counts(credential: ResolvedCredential) -> bool:
    return credential.source == "system"


async def chat_failed(provider: str, credential: ResolvedCredential, error: ProviderError) -> int:
    """Count a chat failure of ``provider``; returns the failures in a row (0: not counted)."""
    if error.kind not in ENDPOINT_FAILURES or not counts(credential):
        return 0
    if settings.MOSAIC_CHAT_FAILURES_DOWN <= 0:
        return 0
    key, ttl = failures_key(provider), int(settings.MOSAIC_CHAT_FAILURE_COOLDOWN)
    _failing.add(provider)
    try:
        await cache.aadd(key, 0, ttl)
        try:
            count = int(await cache.aincr(key))
        except ValueError:  # expired between the two calls
            await cache.aset(key, 1, ttl)
            count = 1
        await cache.atouch(key, ttl)
    except Exception:  # the cache (Redis) is down: the count is lost, not the turn
        logger.warning("counting a chat failure of %s failed", provider, exc_info=True)
        return 0
    return count


async def chat_succeeded(provider: str, credential: ResolvedCredential) -> None:
    if provider in _failing and counts(credential):
        _failing.discard(provider)
        try:
            await cache.adelete(failures_key(provider))
        except Exception:
            logger.warning("clearing the chat failures of %s failed", provider, exc_info=True)


def failing(found: Mapping[str, Any], providers: Iterable[str]) -> dict[str, int]:
    """Of ``providers``, those with at least MOSAIC_CHAT_FAILURES_DOWN chat failures in a row,
    and how many, from ``found`` (the cache's answer for their ``failures_key``)."""
    threshold = settings.MOSAIC_CHAT_FAILURES_DOWN
    if threshold <= 0:
        return {}
    counted = {name: int(found.get(failures_key(name)) or 0) for name in providers}
    return {name: count for name, count in counted.items() if count >= threshold}
