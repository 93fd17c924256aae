"""What every ``mosaic`` subcommand shares: the one failure type and how it reaches the user.

Server commands (``mosaic.cli``) and client commands (``mosaic.client``, ``mosaic.tui``) raise
``CommandError``; ``mosaic.cli.main`` prints its message as one line and exits with status 2.
"""

from __future__ import annotations

import sys


class CommandError(Exception):
    """A command cannot go on; the message is one sentence for the user."""


def print_err(message: str) -> None:
    sys.stderr.write(f"mosaic: {message}\n")
