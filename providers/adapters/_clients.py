"""A small cache of HTTP/SDK clients, so a chat turn does not build a new connection pool.

Building an SDK client costs a few milliseconds (an httpx client, SSL context, header set) and
throws away the pooled keep-alive connection, which costs a TCP + TLS handshake on the next
request. Adapters therefore keep one client per (event loop, base URL, credential).

Why per event loop: an async httpx client's pooled connections belong to the loop that opened
them; reusing them from another loop fails ("Event loop is closed", or a hang). Daphne runs one
loop for its lifetime, but Celery tasks and tests start a fresh loop each time (``asyncio.run``),
so the cache is keyed weakly by the running loop and a finished loop's clients go with it.

Why bounded: per-user credentials make the key space open-ended. Evicted clients are not closed
explicitly because a stream may still be reading from one; they are released when the last
reference goes.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from providers.adapters.base import ResolvedCredential

ClientT = TypeVar("ClientT")

DEFAULT_MAX_CLIENTS_PER_LOOP = 32


def credential_fingerprint(credential: ResolvedCredential) -> str:
    """A digest that changes when anything that authenticates a request changes.

    The cache key holds this digest rather than the secrets themselves.
    """
    parts = [
        credential.api_key,
        credential.access_token,
        *(f"{name.lower()}:{value}" for name, value in sorted(credential.extra_headers.items())),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class ClientCache(Generic[ClientT]):
    """LRU of clients built by ``factory(credential, base_url)``, one set per event loop.

    The key is the base URL and ``credential_fingerprint``; whatever is fixed for an adapter
    (OpenRouter's attribution headers, say) belongs in the factory, not the key.
    """

    def __init__(
        self,
        factory: Callable[[ResolvedCredential, str], ClientT],
        *,
        maxsize: int = DEFAULT_MAX_CLIENTS_PER_LOOP,
    ) -> None:
        self._factory = factory
        self._maxsize = maxsize
        self._by_loop: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, collections.OrderedDict[tuple[str, str], ClientT]
        ] = weakref.WeakKeyDictionary()

    def get(self, credential: ResolvedCredential, base_url: str) -> ClientT:
        """The cached client for this credential and base URL on the running loop."""
        loop = asyncio.get_running_loop()
        clients = self._by_loop.get(loop)
        if clients is None:
            clients = collections.OrderedDict()
            self._by_loop[loop] = clients
        key = (base_url, credential_fingerprint(credential))
        client = clients.get(key)
        if client is not None:
            clients.move_to_end(key)
            return client
        client = self._factory(credential, base_url)
        clients[key] = client
        while len(clients) > self._maxsize:
            clients.popitem(last=False)
        return client

    def clear(self) -> None:
        """Forget every client (tests use it to start from a clean slate)."""
        self._by_loop.clear()
