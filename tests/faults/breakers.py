"""Breaking PostgreSQL and Redis for one server process without breaking them for the tests.

A ``SocketProxy`` stands between a server subprocess and the real PostgreSQL or Redis: the
process is started with a ``DATABASE_URL`` or ``REDIS_URL`` that points at the proxy's socket,
while the test itself (and the rest of the suite) keeps talking to the real server. ``stop()``
makes the service vanish for that process, as a stopped server would: every open connection is
dropped and the socket is gone, so a new connection is refused. ``start()`` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import connection


class SocketProxy:
    """A unix-socket proxy to another unix socket, in a thread with its own event loop."""

    def __init__(self, listen: Path, upstream: Path) -> None:
        self.listen = listen
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted since the start, for tests that wait for a client

    def __enter__(self) -> SocketProxy:
        self.thread.start()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    def start(self) -> None:
        """The service is there (again)."""
        self._call(self._start())

    def stop(self) -> None:
        """The service is gone: connections dropped, new ones refused."""
        self._call(self._stop())

    async def _start(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_unix_server(self._serve, path=str(self.listen))

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.upstream))
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self.writers -= {writer, up_writer}

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


def postgres_proxy(directory: Path) -> tuple[SocketProxy, str]:
    """A proxy to the test database's PostgreSQL and the ``DATABASE_URL`` that goes through it."""
    config = connection.settings_dict
    host = str(config.get("HOST") or "")
    assert host.startswith("/"), "the fault tests need PostgreSQL on a unix socket"
    port = config.get("PORT") or 5432
    name = f".s.PGSQL.{port}"
    directory.mkdir(parents=True, exist_ok=True)
    proxy = SocketProxy(directory / name, Path(host) / name)
    user = quote(config.get("USER") or "postgres")
    url = f"postgresql://{user}@/{config['NAME']}?host={quote(str(directory), safe='')}&port={port}"
    return proxy, url


def redis_proxy(directory: Path) -> tuple[SocketProxy, str]:
    """A proxy to the tests' Redis and the ``REDIS_URL`` that goes through it."""
    parts = urlsplit(settings.REDIS_URL)
    assert parts.scheme == "unix", "the fault tests need Redis on a unix socket"
    directory.mkdir(parents=True, exist_ok=True)
    listen = directory / "redis.sock"
    proxy = SocketProxy(listen, Path(parts.path))
    query = f"?{parts.query}" if parts.query else ""
    return proxy, f"unix://{listen}{query}"
