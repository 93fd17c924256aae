"""A fake OpenAI API: the Responses API (streamed and not), embeddings and the models list.

Written from OpenAI's API reference, not from what Mosaic sends: streamed responses are
server-sent events, each ``event: <type>`` with a JSON ``data`` carrying ``type`` and an
increasing ``sequence_number``, in the published order (``response.created``,
``response.in_progress``, then per output item ``response.output_item.added`` → its part/delta/done
events → ``response.output_item.done``, then ``response.completed`` with the usage; there is no
``[DONE]`` sentinel). Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``
with an ``x-request-id`` header.

Mount: everything is under ``/v1``, so ``base_url = fake.base_url + "/v1"``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import struct
import time
from typing import Any

from aiohttp import web

from mosaic.fakes.base import FakeUpstream, RecordedRequest, Script, chunks

# Default error bodies per status, as OpenAI sends them.
_OPENAI_ERRORS: dict[int, dict[str, Any]] = {
    400: {
        "message": "Invalid request.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    },
    401: {
        "message": "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    },
    403: {
        "message": "You are not allowed to sample from this model",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    },
    404: {
        "message": "The model does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    },
    429: {
        "message": "Rate limit reached for requests. Please try again in 7s.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    },
    500: {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    },
    503: {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "server_error",
        "param": None,
        "code": None,
    },
}

# What GET /v1/models lists: chat models, their dated snapshots, embeddings and non-chat models.
OPENAI_MODEL_IDS = (
    "gpt-5.4",
    "gpt-5.4-2026-03-05",
    "gpt-5.4-mini",
    "gpt-5.4-nano",
    "gpt-4o",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "whisper-1",
    "tts-1",
    "dall-e-3",
    "omni-moderation-latest",
)

_EMBEDDING_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072}


def bearer_token(request: web.Request) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or "" when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def stall(request: web.Request, seconds: float) -> None:
    """Send nothing for ``seconds``, returning early once the client has hung up.

    Returning early keeps a timed-out test from leaving a handler asleep on the server's loop,
    which would hold up the server's shutdown.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.02)


def fake_embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts embed equally, others differ."""
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % len(seed)] + i * 31) % 251) / 125.0 - 1.0 for i in range(dims)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


class FakeOpenAI(FakeUpstream):
    provider = "openai"

    def __init__(self) -> None:
        super().__init__()
        # When set, only these bearer tokens are accepted; otherwise any non-empty one is.
        self.api_keys: set[str] | None = None
        self.model_ids: tuple[str, ...] = OPENAI_MODEL_IDS

    def reset(self) -> None:
        super().reset()
        self.api_keys = None
        self.model_ids = OPENAI_MODEL_IDS

    def is_chat_path(self, path: str) -> bool:
        return path == "/v1/responses"

    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/embeddings"]

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)

    # --- errors and auth ---------------------------------------------------------------------

    def error_response(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        if body is None:
            body = {"error": dict(_OPENAI_ERRORS.get(status, _OPENAI_ERRORS[500]))}
        all_headers = {"x-request-id": f"req_{next(_request_ids):08x}", **(headers or {})}
        return web.json_response(body, status=status, headers=all_headers)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        token = bearer_token(request)
        if not token:
            return self.error_response(
                401,
                {
                    "error": {
                        "message": "You didn't provide an API key. You need to provide your API "
                        "key in an Authorization header using Bearer auth.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": None,
                    }
                },
            )
        if self.api_keys is not None and token not in self.api_keys:
            return self.error_response(401)
        return None

    async def _before(self, request: web.Request, script: Script) -> web.StreamResponse | None:
        """Auth, then the script's status or stall fault; None when the request should proceed."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        fault = script.fault
        if fault is not None and fault.kind == "status":
            return self.error_response(fault.status, fault.body, fault.headers)
        if fault is not None and fault.kind == "stall":
            await stall(request, fault.seconds)
            return web.Response(status=504, text="stalled")
        return None

    # --- /v1/models --------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.StreamResponse:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        created = 1_700_000_000
        data = [
            {"id": model_id, "object": "model", "created": created + i, "owned_by": "system"}
            for i, model_id in enumerate(self.model_ids)
        ]
        return web.json_response({"object": "list", "data": data})

    # --- /v1/embeddings ----------------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        script = self.next_script()
        early = await self._before(request, script)
        if early is not None:
            return early
        body = await request.json()
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        model = str(body.get("model", "text-embedding-3-small"))
        dims = int(body.get("dimensions") or _EMBEDDING_DIMS.get(model, 1536))
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(str(text), dims)
            embedding: Any = vector
            if as_base64:
                embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(max(1, len(str(t)) // 4) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    # --- /v1/responses -----------------------------------------------------------------------

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        script = self.next_script()
        early = await self._before(request, script)
        if early is not None:
            return early
        body = await request.json()
        builder = _ResponseBuilder(body, script)
        if not body.get("stream"):
            return web.json_response(builder.final_response())
        response = await self.open_stream(request, "text/event-stream; charset=utf-8")
        encoded = [
            f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            for event in builder.events()
        ]
        if await self.send_chunks(request, response, encoded, script):
            await response.write_eof()
        return response


_request_ids = itertools.count(1)
_object_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{next(_object_ids):012x}"


class _ResponseBuilder:
    """Builds one Response object and its stream of events from a script."""

    def __init__(self, body: dict[str, Any], script: Script) -> None:
        self.body = body
        self.script = script
        self.response_id = _new_id("resp")
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []
        self.sequence = itertools.count(0)

    def _response(self, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        incomplete = status == "incomplete"
        usage = None
        if status in ("completed", "incomplete"):
            reasoning_tokens = len(self.script.thinking) // 4
            usage = {
                "input_tokens": self.script.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": self.script.output_tokens,
                "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                "total_tokens": self.script.input_tokens + self.script.output_tokens,
            }
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "model": self.body.get("model", "gpt-5.4"),
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": self.body.get("reasoning") or {"effort": None, "summary": None},
            "store": self.body.get("store", True),
            "temperature": self.body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": self.body.get("tool_choice", "auto"),
            "tools": self.body.get("tools", []),
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    def _event(self, event_type: str, **fields: Any) -> dict[str, Any]:
        return {"type": event_type, "sequence_number": next(self.sequence), **fields}

    def _final_status(self) -> str:
        return "incomplete" if self.script.stop_reason == "max_tokens" else "completed"

    def _items(self) -> list[dict[str, Any]]:
        """The completed output items, in order: reasoning, message, function calls."""
        items: list[dict[str, Any]] = []
        if self.script.thinking:
            items.append(
                {
                    "id": _new_id("rs"),
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": self.script.thinking}],
                }
            )
        if self.script.text:
            items.append(
                {
                    "id": _new_id("msg"),
                    "type": "message",
                    "status": "completed",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "output_text",
                            "text": self.script.text,
                            "annotations": [],
                            "logprobs": [],
                        }
                    ],
                }
            )
        for call in self.script.tool_calls:
            items.append(
                {
                    "id": _new_id("fc"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": call.call_id or _new_id("call"),
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                }
            )
        return items

    def final_response(self) -> dict[str, Any]:
        return self._response(self._final_status(), self._items())

    def events(self) -> list[dict[str, Any]]:
        size = self.script.chunk_size
        events = [
            self._event("response.created", response=self._response("in_progress", [])),
            self._event("response.in_progress", response=self._response("in_progress", [])),
        ]
        done_items: list[dict[str, Any]] = []
        for output_index, item in enumerate(self._items()):
            item_id = item["id"]
            if item["type"] == "reasoning":
                text = item["summary"][0]["text"]
                events.append(
                    self._event(
                        "response.output_item.added",
                        output_index=output_index,
                        item={"id": item_id, "type": "reasoning", "summary": []},
                    )
                )
                part = {"type": "summary_text", "text": ""}
                common = {"item_id": item_id, "output_index": output_index, "summary_index": 0}
                events.append(
                    self._event("response.reasoning_summary_part.added", **common, part=part)
                )
                events.extend(
                    self._event("response.reasoning_summary_text.delta", **common, delta=piece)
                    for piece in chunks(text, size)
                )
                events.append(
                    self._event("response.reasoning_summary_text.done", **common, text=text)
                )
                events.append(
                    self._event(
                        "response.reasoning_summary_part.done",
                        **common,
                        part={"type": "summary_text", "text": text},
                    )
                )
            elif item["type"] == "message":
                text = item["content"][0]["text"]
                events.append(
                    self._event(
                        "response.output_item.added",
                        output_index=output_index,
                        item={**item, "status": "in_progress", "content": []},
                    )
                )
                common = {"item_id": item_id, "output_index": output_index, "content_index": 0}
                empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                events.append(self._event("response.content_part.added", **common, part=empty_part))
                events.extend(
                    self._event("response.output_text.delta", **common, delta=piece, logprobs=[])
                    for piece in chunks(text, size)
                )
                events.append(
                    self._event("response.output_text.done", **common, text=text, logprobs=[])
                )
                events.append(
                    self._event("response.content_part.done", **common, part=item["content"][0])
                )
            else:  # function_call
                arguments = item["arguments"]
                events.append(
                    self._event(
                        "response.output_item.added",
                        output_index=output_index,
                        item={**item, "status": "in_progress", "arguments": ""},
                    )
                )
                common = {"item_id": item_id, "output_index": output_index}
                events.extend(
                    self._event("response.function_call_arguments.delta", **common, delta=piece)
                    for piece in chunks(arguments, size)
                )
                events.append(
                    self._event(
                        "response.function_call_arguments.done",
                        **common,
                        name=item["name"],
                        arguments=arguments,
                    )
                )
            events.append(
                self._event("response.output_item.done", output_index=output_index, item=item)
            )
            done_items.append(item)
        status = self._final_status()
        final_type = "response.incomplete" if status == "incomplete" else "response.completed"
        events.append(self._event(final_type, response=self._response(status, done_items)))
        return events
