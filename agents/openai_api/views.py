"""The OpenAI-compatible HTTP door: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Plain async Django views, served by daphne through Django's ASGI handler. Why not DRF or a
Channels ``AsyncHttpConsumer``: DRF views are synchronous, so a stream would hold a worker
thread for its whole length; an ``AsyncHttpConsumer`` would stream too, but bypasses Django's
middleware and its request handling. Django (5.x) iterates an async ``StreamingHttpResponse`` on
the event loop, sends each chunk as it is yielded (no buffering under daphne), and cancels the
view or the stream when the client disconnects, which is how a client going away stops the
upstream call (``CompletionCall.close``).

The views only translate: authenticate the bearer token, read the request
(``wire.parse_request``), delegate to ``CompletionCall`` / ``listing.model_list``, and shape the
answer; every error leaves in OpenAI's shape (``wire.ApiError``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.auth import bearer_from_header
from accounts.selectors import user_for_token
from agents.openai_api import errors
from agents.openai_api.call import CompletionCall
from agents.openai_api.listing import model_list
from agents.openai_api.wire import DONE, ApiError, parse_body, parse_request
from core.db import in_database_thread

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.openai")

CONVERSATION_HEADER = "X-Mosaic-Conversation-Id"


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status, headers=headers)
    if error.retry_after:
        response["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


async def _authenticate(request: HttpRequest) -> User:
    raw = bearer_from_header(request.headers.get("Authorization", ""))
    user = await in_database_thread(user_for_token, raw) if raw else None
    if user is None:
        raise errors.unauthorized()
    return user


@csrf_exempt
@require_POST
async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    received = time.monotonic()
    try:
        user = await _authenticate(request)
        try:
            body = request.body
        except RequestDataTooBig:
            raise ApiError(413, "The request body is too large.", code="too_large") from None
        completion_request = parse_request(parse_body(body))
    except ApiError as error:
        return error_response(error)
    call = CompletionCall(user, completion_request, received)
    try:
        await call.start(request.headers.get(CONVERSATION_HEADER, ""))
        if not completion_request.stream:
            body_json = await call.collect()
            await call.close()
            return JsonResponse(body_json, headers=call.headers())
        first = await call.first_output()
    except ApiError as error:
        await call.close()
        return error_response(error, call.headers())
    except BaseException:
        # The client went away (Django cancels the view) or something broke: stop the turn.
        await asyncio.shield(call.close())
        raise
    response = StreamingHttpResponse(
        _stream(call, first), content_type="text/event-stream", headers=call.headers()
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(call: CompletionCall, first: list[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in call.chunks(first):
            yield chunk
        yield DONE
    finally:
        # Also on a client disconnect (Django cancels the iteration): stop the upstream call.
        await asyncio.shield(call.close())


@require_GET
async def models(request: HttpRequest) -> JsonResponse:
    try:
        user = await _authenticate(request)
    except ApiError as error:
        return error_response(error)
    entries = await in_database_thread(model_list, user=user)
    return JsonResponse({"object": "list", "data": entries})
