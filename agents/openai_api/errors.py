"""Mosaic's failures as OpenAI's errors: the one mapping for this door (as ``core/http_errors.py``
is for REST and ``agents/events.py`` for channels).

A provider failure keeps its meaning for the caller's retry logic: a rate limit is a 429 with
``retry-after``, an overloaded or unavailable provider a 503, a timeout a 504, anything else that
went wrong upstream a 502.
"""

from __future__ import annotations

from agents import channel as ch
from agents.openai_api.wire import ApiError

# code → (status, OpenAI error type)
_BY_CODE: dict[str, tuple[int, str]] = {
    "invalid": (400, "invalid_request_error"),
    "too_large": (413, "invalid_request_error"),
    "not_found": (404, "invalid_request_error"),
    "forbidden": (403, "invalid_request_error"),
    "conflict": (409, "invalid_request_error"),
    "rate_limited": (429, "rate_limit_error"),
    "provider_rate_limit": (429, "rate_limit_error"),
    "provider_overloaded": (503, "server_error"),
    "provider_unavailable": (503, "server_error"),
    "unavailable": (503, "server_error"),
    "provider_timeout": (504, "server_error"),
    "provider_bad_request": (400, "invalid_request_error"),
    "provider_auth": (502, "server_error"),
    "provider_interrupted": (502, "server_error"),
    "upstream": (502, "server_error"),
}


def from_failure(failure: ch.Failure) -> ApiError:
    status, kind = _BY_CODE.get(failure.code, (500, "server_error"))
    return ApiError(
        status, failure.message, type=kind, code=failure.code, retry_after=failure.retry_after
    )


def unauthorized() -> ApiError:
    return ApiError(
        401,
        "Incorrect API key provided. Send your Mosaic API token (POST /api/auth/token) as "
        "'Authorization: Bearer <token>'.",
        code="invalid_api_key",
    )


def model_not_found(model: str, why: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it. {why}".strip(),
        code="model_not_found",
        param="model",
    )


def conversation_not_found() -> ApiError:
    return ApiError(404, "Conversation not found.", code="conversation_not_found")
