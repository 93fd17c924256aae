"""One Redis connection pool per process for Django's cache.

Django keeps a cache object per thread and per async context, and each makes its own
connection pool, so a chat turn (a fresh async context) opened a new Redis connection for its
first cache call: a socket, a handshake, and redis-py reading its own package metadata from
disk to name itself. ``SharedConnectionPool`` (``CACHES["default"]["OPTIONS"]["pool_class"]``)
hands every cache object of the process the same pool for the same server and options; redis-py
pools are thread-safe and start afresh in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _pools: ClassVar[dict[str, redis.ConnectionPool]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Any:
        key = f"{url} {sorted(kwargs.items(), key=lambda item: item[0])!r}"
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = redis.ConnectionPool.from_url(url, **kwargs)
            return pool
