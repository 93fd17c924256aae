"""``mosaic``: the user's entry point.

Server side (``mosaic.server_commands``): ``init``, ``run`` (everything, in the foreground),
``services`` (just the embedded PostgreSQL and Redis), ``test``, ``createuser``, ``manage``,
``fake-upstream``. Client side (talks to a server over HTTP/WebSocket, never to its internals):
``login``, ``providers`` (``mosaic.client.commands``), ``chat``, ``conversations``, ``search``
(``mosaic.tui.commands``). Each module registers its commands; each command imports what it
needs when it runs, so that ``mosaic --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from mosaic import server_commands
from mosaic.client import commands as client_commands
from mosaic.console import CommandError, print_err
from mosaic.tui import commands as tui_commands

__all__ = ["CommandError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosaic", description="Mosaic, a self-hosted AI harness.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server_commands.register(sub)
    client_commands.register(sub)
    tui_commands.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print_err(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
