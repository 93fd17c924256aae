"""Map domain errors to HTTP answers, in one place (DRF's EXCEPTION_HANDLER)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import Conflict, InvalidInput, MosaicError, NotFound, Unavailable

_STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    Conflict: status.HTTP_409_CONFLICT,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, MosaicError):
        code = next(
            (s for kind, s in _STATUS.items() if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST
        )
        return Response({"detail": exc.message, "code": exc.code}, status=code)
    return exception_handler(exc, context)
