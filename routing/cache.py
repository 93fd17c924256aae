"""What the engine keeps in process: parsed rules, provider health and users' usable providers.

``resolve()`` runs on every chat message and must not wait on I/O, so the rules are parsed
once per rules version and kept here, and the health map and each user's usable providers (from
the providers app, which keeps them in Redis) are re-read at most once per ``REFRESH_SECONDS``
(``MOSAIC_ROUTING_REFRESH_SECONDS``, default 1 s). A Redis GET costs 0.1-0.3 ms, several times a
whole resolve from this cache (~11 µs), so a warm resolve does no I/O at all.

Invalidation: every write goes through ``routing.services``, which clears this process's cache
at once (``invalidate_local_cache``) and, after commit, increments the Redis key
``routing:rules-version`` (``bump_rules_version``); other processes notice within
``REFRESH_SECONDS`` and reload.

A lookup that would need I/O while called from the event loop (``allow_io=False``) raises
``NeedsIO`` instead; ``engine.aresolve`` then runs the whole resolve in a thread.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache

from providers import selectors as provider_selectors
from routing import selectors
from routing.rules import ParsedRule, parse_rows

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.routing")

RULES_VERSION_KEY = "routing:rules-version"
# How long this process trusts what it read from Redis (the rules version, provider health, a
# user's usable providers) before reading again, in seconds; 0 reads on every call.
REFRESH_SECONDS: float = float(getattr(settings, "MOSAIC_ROUTING_REFRESH_SECONDS", 1.0))
# Per-user rule lists kept in process (least recently used dropped first).
MAX_CACHED_USERS = 10_000

_UNSET: Any = object()


@dataclass
class _RuleCache:
    version: Any = _UNSET
    checked_at: float = -math.inf
    system: tuple[ParsedRule, ...] | None = None
    users: OrderedDict[int, tuple[ParsedRule, ...]] = field(default_factory=OrderedDict)


@dataclass
class _LookupCache:
    """Provider health and users' usable providers as last read, with when they were read."""

    health: Mapping[str, str] | None = None
    health_at: float = -math.inf
    usable: OrderedDict[Any, tuple[frozenset[str] | None, float]] = field(
        default_factory=OrderedDict
    )


class _CacheHolder:
    # The state is replaced wholesale on invalidation, so a reader that loaded rules for an old
    # version writes them into an orphaned state, never into the new one.
    state = _RuleCache()
    lookups = _LookupCache()


_cache_lock = threading.Lock()
clock = time.monotonic  # a module attribute, so that tests can move time


def invalidate_local_cache() -> None:
    """Forget this process's parsed rules and lookups; the next resolve reads them again."""
    with _cache_lock:
        _CacheHolder.state = _RuleCache()
        _CacheHolder.lookups = _LookupCache()


def bump_rules_version() -> None:
    """Tell every process that the rules changed (call after the change is committed)."""
    try:
        cache.add(RULES_VERSION_KEY, 0, timeout=None)
        cache.incr(RULES_VERSION_KEY)
    except Exception:
        logger.exception(
            "could not bump %s; other processes see rule changes late", RULES_VERSION_KEY
        )


def rules_version() -> Any:
    return cache.get(RULES_VERSION_KEY)


class NeedsIO(Exception):
    """Raised instead of doing I/O when resolving inside the event loop; aresolve then hops to a
    thread."""


def rules_for(
    user_id: Any, now: float, *, allow_io: bool = True
) -> tuple[tuple[ParsedRule, ...], tuple[ParsedRule, ...]]:
    """(system rules, the user's rules), enabled only, by priority; loaded once per version."""
    state = _CacheHolder.state
    if now - state.checked_at >= REFRESH_SECONDS:
        if not allow_io:
            raise NeedsIO
        # Read the version before the rules: a writer bumps after commit, so rules loaded after
        # this read are at least as new as the version they are filed under.
        try:
            version = rules_version()
        except Exception:
            logger.warning(
                "could not read %s; keeping cached rules", RULES_VERSION_KEY, exc_info=True
            )
            version = state.version
        with _cache_lock:
            if version != state.version:
                state = _CacheHolder.state = _RuleCache(version=version, checked_at=now)
            else:
                state.checked_at = now
    system = state.system
    if system is None:
        if not allow_io:
            raise NeedsIO
        system = state.system = parse_rows(selectors.system_rules_for_routing())
    if user_id is None:
        return system, ()
    with _cache_lock:
        mine = state.users.get(user_id)
        if mine is not None:
            state.users.move_to_end(user_id)
    if mine is None:
        if not allow_io:
            raise NeedsIO
        mine = parse_rows(selectors.user_rules_for_routing(user_id=user_id))
        with _cache_lock:
            state.users[user_id] = mine
            while len(state.users) > MAX_CACHED_USERS:
                state.users.popitem(last=False)
    return system, mine


# --- credentials and health, from the providers app ------------------------------------------------


def default_usable_providers(user: User) -> set[str] | None:
    """Providers the user has a usable credential for (None: unknown, do not filter)."""
    try:
        return provider_selectors.usable_providers(user=user)
    except Exception:
        logger.warning("usable_providers failed; not filtering by credential", exc_info=True)
        return None


def default_health() -> dict[str, str]:
    """Provider -> "healthy" | "degraded" | "down" | "unknown" from the stored probes."""
    try:
        return {name: state.status for name, state in provider_selectors.health_map().items()}
    except Exception:
        logger.warning("health_map failed; treating providers as available", exc_info=True)
        return {}


def health_cached(now: float, *, allow_io: bool = True) -> Mapping[str, str]:
    lookups = _CacheHolder.lookups
    if lookups.health is None or now - lookups.health_at >= REFRESH_SECONDS:
        if not allow_io:
            raise NeedsIO
        lookups.health, lookups.health_at = default_health(), now
    return lookups.health


def usable_cached(
    user: User, user_id: Any, now: float, *, allow_io: bool = True
) -> frozenset[str] | None:
    lookups = _CacheHolder.lookups
    with _cache_lock:
        hit = lookups.usable.get(user_id)
    if hit is not None and now - hit[1] < REFRESH_SECONDS:
        return hit[0]
    if not allow_io:
        raise NeedsIO
    found = default_usable_providers(user)
    usable = frozenset(found) if found is not None else None
    with _cache_lock:
        lookups.usable[user_id] = (usable, now)
        lookups.usable.move_to_end(user_id)
        while len(lookups.usable) > MAX_CACHED_USERS:
            lookups.usable.popitem(last=False)
    return usable
