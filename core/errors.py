"""The one error hierarchy of Mosaic. Every app raises these (or a subclass of its own), and each
is mapped to an answer in exactly one place per door: ``core/http_errors.py`` for REST (status
and ``{"detail", "code"}`` body) and ``agents/events.py`` for channel ``Failure`` events (a socket
``error`` frame).

An error carries what the caller needs to decide: ``code`` (stable, documented in
docs/websocket-protocol.md and docs/architecture.md; a test checks that every code is there),
``message`` (one sentence for the user) and ``retryable`` (whether the same request may succeed
later). A subclass may refine ``code`` per instance (``ProviderError`` says which provider
failure it is).
"""

from __future__ import annotations


class MosaicError(Exception):
    code = "error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(MosaicError):
    """The object does not exist, or belongs to someone else: the same answer for both."""

    code = "not_found"


class InvalidInput(MosaicError):
    """The request is malformed or names something that cannot be used; the message says what."""

    code = "invalid"


class PermissionDenied(MosaicError):
    """The object is visible to the user but this action on it is not theirs to take (a system
    agent or rule, a staff-only operation)."""

    code = "forbidden"


class Conflict(MosaicError):
    """The request clashes with the current state (e.g. a turn is already running)."""

    code = "conflict"
    retryable = True


class TooLarge(InvalidInput):
    """The input is over a documented size limit."""

    code = "too_large"


class RateLimited(MosaicError):
    """Too many requests for now; ``retry_after`` says when to try again, in seconds."""

    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(MosaicError):
    """Something Mosaic depends on cannot be used right now (a server, a local model)."""

    code = "unavailable"
    retryable = True


class UpstreamError(MosaicError):
    """A service outside Mosaic (an LLM provider, an OAuth server) failed or refused."""

    code = "upstream"
