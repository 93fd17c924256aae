"""daphne as Mosaic runs it: ``python -m mosaic.serve [daphne's options] mosaic.asgi:application``.

Two things differ from plain ``daphne``:

- the WebSocket size limit is ``MOSAIC_WEBSOCKET_MAX_BYTES`` (default 1 MiB; daphne's own option
  still wins when given). A frame up to that size reaches the chat consumer, which answers one
  over ``MOSAIC_MAX_MESSAGE_BYTES`` with a ``too_large`` error and keeps the socket;
- a frame over it is refused the way RFC 6455 says: a close frame with code 1009 ("message too
  big") and a reason. Daphne leaves autobahn's default of dropping the TCP connection, which a
  client sees as a reset with no explanation.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server


class MosaicServer(Server):  # type: ignore[misc]
    def run(self) -> None:
        from twisted.internet import reactor  # daphne installs its reactor before this runs

        # The WebSocket factory is made inside Server.run; no connection is accepted before the
        # reactor runs, which is when this option is set.
        reactor.callWhenRunning(self._close_instead_of_drop)
        super().run()

    def _close_instead_of_drop(self) -> None:
        self.ws_factory.setProtocolOptions(failByDrop=False)


class MosaicCommandLine(CommandLineInterface):  # type: ignore[misc]
    server_class = MosaicServer

    def run(self, args: list[str]) -> Any:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
        from django.conf import settings

        limit = str(settings.MOSAIC_WEBSOCKET_MAX_BYTES)
        extra = []
        if not any(a.startswith("--websocket-max-message-size") for a in args):
            extra += ["--websocket-max-message-size", limit]
        if not any(a.startswith("--websocket-max-frame-size") for a in args):
            extra += ["--websocket-max-frame-size", limit]
        return super().run([*extra, *args])


def main() -> None:
    MosaicCommandLine().run(sys.argv[1:])


if __name__ == "__main__":
    main()
