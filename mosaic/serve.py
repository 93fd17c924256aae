"""daphne as Mosaic runs it: ``python -m mosaic.serve [daphne's options] mosaic.asgi:application``.

Six things differ from plain ``daphne``:

- the WebSocket size limit is ``MOSAIC_WEBSOCKET_MAX_BYTES`` (default 1 MiB; daphne's own option
  still wins when given). A frame up to that size reaches the chat consumer, which answers one
  over ``MOSAIC_MAX_MESSAGE_BYTES`` with a ``too_large`` error and keeps the socket;
- a frame over it is refused the way RFC 6455 says: a close frame with code 1009 ("message too
  big") and a reason. Daphne leaves autobahn's default of dropping the TCP connection, which a
  client sees as a reset with no explanation;
- ``--proxy-headers`` (the client's address from ``X-Forwarded-For``) is on exactly when
  ``MOSAIC_BEHIND_PROXY`` is;
- the access log has credentials in query strings redacted (``core.redact``);
- the objects start-up made are frozen out of the garbage collector's scans (``gc.freeze``);
- a connection's application reads its events from a ``core.inbox.Inbox``, not an
  ``asyncio.Queue`` (about 3 KB less for each idle socket).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from functools import partial
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server

from core.inbox import Inbox
from core.redact import redact_secrets


def freeze_startup_objects() -> None:
    """Keep what start-up created (Django, the app registry, the provider SDKs: a few hundred
    thousand objects that live as long as the process) out of the garbage collector's scans, so
    that a full collection during a chat turn looks only at what was made since."""
    gc.collect()
    gc.freeze()


class MosaicServer(Server):  # type: ignore[misc]
    def run(self) -> None:
        from twisted.internet import reactor  # daphne installs its reactor before this runs

        # The WebSocket factory is made inside Server.run; no connection is accepted before the
        # reactor runs, which is when this option is set.
        reactor.callWhenRunning(self._close_instead_of_drop)
        reactor.callWhenRunning(freeze_startup_objects)
        super().run()

    def _close_instead_of_drop(self) -> None:
        self.ws_factory.setProtocolOptions(failByDrop=False)

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Inbox[Any] | None:
        """daphne's, with an ``Inbox`` for the application's events instead of an
        ``asyncio.Queue`` (about 3 KB less for every idle socket; core/inbox.py)."""
        assert "application_instance" not in self.connections[protocol]
        inbox: Inbox[Any] = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        application_instance = self.application(
            scope=scope, receive=inbox.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance, loop=asyncio.get_event_loop()
        )
        return inbox

    def log_action(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        # A client may put a token in the query string (refused: only the Authorization header
        # authenticates), but the access log would keep it: it is written with it redacted.
        path = details.get("path")
        if isinstance(path, str):
            details = {**details, "path": redact_secrets(path)}
        super().log_action(protocol, action, details)


class MosaicCommandLine(CommandLineInterface):  # type: ignore[misc]
    server_class = MosaicServer

    def run(self, args: list[str]) -> Any:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
        from django.conf import settings

        return super().run(
            daphne_arguments(
                args,
                max_bytes=settings.MOSAIC_WEBSOCKET_MAX_BYTES,
                behind_proxy=settings.MOSAIC_BEHIND_PROXY,
            )
        )


def daphne_arguments(args: list[str], *, max_bytes: int, behind_proxy: bool) -> list[str]:
    """daphne's arguments with Mosaic's defaults added where ``args`` does not set them."""
    limit = str(max_bytes)
    extra = []
    if not any(a.startswith("--websocket-max-message-size") for a in args):
        extra += ["--websocket-max-message-size", limit]
    if not any(a.startswith("--websocket-max-frame-size") for a in args):
        extra += ["--websocket-max-frame-size", limit]
    # The client's address from X-Forwarded-For only behind a proxy that sets it
    # (MOSAIC_BEHIND_PROXY); otherwise every client could name its own address.
    if behind_proxy and "--proxy-headers" not in args:
        extra.append("--proxy-headers")
    return [*extra, *args]


def main() -> None:
    MosaicCommandLine().run(sys.argv[1:])


if __name__ == "__main__":
    main()
