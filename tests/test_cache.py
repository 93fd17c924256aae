"""The cache shares one Redis connection pool per process."""

from __future__ import annotations

import contextvars

from django.core.cache import cache, caches


def _cache_and_pool() -> tuple[object, object]:
    default = caches["default"]
    return default, default._cache._get_connection_pool(write=True)  # type: ignore[attr-defined]


def test_every_context_uses_the_same_pool(db: None) -> None:
    # Django keeps a cache object per context (each sync_to_async call runs in a copy of the
    # caller's): each chat turn used to make its own pool, and so its own connection.
    first = contextvars.Context().run(_cache_and_pool)
    second = contextvars.Context().run(_cache_and_pool)
    assert first[0] is not second[0]  # two cache objects …
    assert first[1] is second[1]  # … one pool


def test_the_shared_pool_reads_and_writes(db: None) -> None:
    cache.set("shared-pool-test", {"a": 1}, 30)
    assert contextvars.Context().run(cache.get, "shared-pool-test") == {"a": 1}
    assert cache.add("shared-pool-test", 2, 30) is False
