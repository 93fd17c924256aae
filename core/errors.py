"""Domain errors shared by every app, each mapped to an HTTP status and a socket error frame
in exactly one place (``core/http_errors.py`` for REST, ``core/socket_errors.py`` for socket frames)."""

from __future__ import annotations


class MosaicError(Exception):
    code = "error"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(MosaicError):
    """The object does not exist, or belongs to someone else: the same answer for both."""

    code = "not_found"


class InvalidInput(MosaicError):
    """The request is malformed or names something that cannot be used; the message says what."""

    code = "invalid"


class Conflict(MosaicError):
    """The request clashes with the current state (e.g. a turn is already running)."""

    code = "conflict"
    retryable = True


class Unavailable(MosaicError):
    """A part the request needs cannot serve it now (e.g. the embedder is down); retry later."""

    code = "unavailable"
    retryable = True
