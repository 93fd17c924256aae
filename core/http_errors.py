"""Map Mosaic's errors to HTTP answers, in one place (DRF's ``EXCEPTION_HANDLER``).

Every ``MosaicError`` becomes ``{"detail": <message>, "code": <code>}`` with the status below;
a ``RateLimited`` also sets ``Retry-After``. Anything else goes to DRF's own handler (its
validation errors, authentication and permission answers) or, if unhandled, is a 500.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import (
    Conflict,
    InvalidInput,
    MosaicError,
    NotFound,
    PermissionDenied,
    RateLimited,
    TooLarge,
    Unavailable,
    UpstreamError,
)

# Most specific first: the first class the error is an instance of decides.
_STATUS_BY_CLASS: tuple[tuple[type[MosaicError], int], ...] = (
    (NotFound, status.HTTP_404_NOT_FOUND),
    (TooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (InvalidInput, status.HTTP_400_BAD_REQUEST),
    (PermissionDenied, status.HTTP_403_FORBIDDEN),
    (Conflict, status.HTTP_409_CONFLICT),
    (RateLimited, status.HTTP_429_TOO_MANY_REQUESTS),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (UpstreamError, status.HTTP_502_BAD_GATEWAY),
)
# Codes whose status differs from their class's.
_STATUS_BY_CODE = {
    "oauth_not_configured": status.HTTP_409_CONFLICT,
    "oauth_unavailable": status.HTTP_502_BAD_GATEWAY,
}


def status_for(exc: MosaicError) -> int:
    if exc.code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[exc.code]
    return next(
        (code for kind, code in _STATUS_BY_CLASS if isinstance(exc, kind)),
        status.HTTP_400_BAD_REQUEST,
    )


def error_response(exc: MosaicError) -> Response:
    response = Response({"detail": exc.message, "code": exc.code}, status=status_for(exc))
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, MosaicError):
        return error_response(exc)
    return exception_handler(exc, context)
