"""A fake Anthropic API: the Messages API (streamed and not) and the Models API, on loopback.

Written from Anthropic's published API reference, not from what our adapter sends:

- ``POST /v1/messages`` with ``"stream": true`` answers ``text/event-stream``; every event has
  an ``event:`` line naming its type and a ``data:`` line whose JSON repeats that ``type``. The
  order is ``message_start`` (a Message with empty ``content`` and the input token count), then
  per content block ``content_block_start`` / ``content_block_delta``... / ``content_block_stop``
  (thinking: ``thinking_delta`` then one ``signature_delta``; text: ``text_delta``; tool use:
  ``input_json_delta`` with ``partial_json`` pieces, starting with an empty one), then
  ``message_delta`` (``stop_reason`` and cumulative ``usage.output_tokens``) and
  ``message_stop``. ``ping`` events may appear anywhere; one is sent after the first block
  starts, as the real API does. An error mid-stream is an ``error`` event carrying the error
  JSON, with the HTTP status still 200.
- Without ``stream`` the answer is one Message object.
- Errors are ``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}``
  with a ``request-id`` header (and whatever headers the fault adds, e.g. ``retry-after``).
- ``GET /v1/models`` lists models newest first with ``data``/``has_more``/``first_id``/
  ``last_id`` and honours ``limit``, ``after_id`` and ``before_id``.

It validates what the real API validates cheaply: authentication (``x-api-key`` or a bearer
token), the ``anthropic-version`` header, the required body fields, sampling parameters (which
API version 2026-10-21 rejects), the thinking budget, signatures on thinking blocks sent back,
and that every ``tool_use`` is answered by a ``tool_result`` in the next user message.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from mosaic.fakes.base import FakeUpstream, Fault, Script, chunks, json_body, stall

# The version SDK 2.x sends; older clients send 2023-06-01, which still accepts sampling params.
SAMPLING_FREE_API_VERSION = "2026-10-21"

_STATUS_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass
class SSEError(Fault):
    """An ``error`` SSE event sent after ``after_chunks`` events, instead of the rest.

    The HTTP status stays 200 and the response ends cleanly after the event, as when the real
    API becomes overloaded mid-answer. ``kind`` is "cut" so that code which only knows the base
    faults treats it as the nearest thing: a stream that stops at the same point.
    """

    kind: Literal["status", "cut", "stall", "trickle"] = "cut"
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


def anthropic_error(status: int, message: str, error_type: str | None = None) -> dict[str, Any]:
    """Anthropic's error JSON for ``status``."""
    return {
        "type": "error",
        "error": {
            "type": error_type or _STATUS_ERROR_TYPES.get(status, "api_error"),
            "message": message,
        },
        "request_id": "req_fake_error",
    }


@dataclass
class EndStream(Fault):
    """The response ends cleanly after ``after_chunks`` events, before ``message_stop``.

    What a proxy that gives up on a long stream looks like from the client. ``kind`` is "cut"
    for the same reason as ``SSEError``'s.
    """

    kind: Literal["status", "cut", "stall", "trickle"] = "cut"


@dataclass
class FakeModel:
    id: str
    display_name: str
    created_at: str
    max_input_tokens: int = 200_000
    max_tokens: int = 64_000
    # The thinking types the model accepts: Claude 4.6 takes both (budget-based is deprecated
    # there), Haiku 4.5 and older only "enabled", Opus 4.7 and later only "adaptive".
    thinking_types: tuple[str, ...] = ("enabled", "adaptive")
    vision: bool = True

    @property
    def alias(self) -> str:
        """The id without a trailing release date (``claude-haiku-4-5-20251001`` → ``-4-5``)."""
        head, _, tail = self.id.rpartition("-")
        return head if len(tail) == 8 and tail.isdigit() else self.id

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "max_input_tokens": self.max_input_tokens,
            "max_tokens": self.max_tokens,
            "capabilities": {
                "batch": {"supported": True},
                "citations": {"supported": True},
                "code_execution": {"supported": True},
                "image_input": {"supported": self.vision},
                "pdf_input": {"supported": self.vision},
                "structured_outputs": {"supported": True},
                "thinking": {
                    "supported": bool(self.thinking_types),
                    "types": {
                        "enabled": {"supported": "enabled" in self.thinking_types},
                        "adaptive": {"supported": "adaptive" in self.thinking_types},
                    },
                },
            },
        }


def default_models() -> list[FakeModel]:
    """Newest first, as the Models API lists them. Haiku is listed under its dated id."""
    return [
        FakeModel("claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17T00:00:00Z"),
        FakeModel(
            "claude-opus-4-6",
            "Claude Opus 4.6",
            "2026-02-05T00:00:00Z",
            max_tokens=128_000,
        ),
        FakeModel(
            "claude-haiku-4-5-20251001",
            "Claude Haiku 4.5",
            "2025-10-15T00:00:00Z",
            thinking_types=("enabled",),
        ),
    ]


@dataclass
class _Block:
    """One content block of the scripted answer, already cut into its stream deltas."""

    start: dict[str, Any]
    deltas: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)


class FakeAnthropic(FakeUpstream):
    provider = "anthropic"
    keepalive = b'event: ping\ndata: {"type": "ping"}\n\n'

    def __init__(self) -> None:
        super().__init__()
        self.models: list[FakeModel] = default_models()
        # Answers the next GET /v1/models instead of the model list (chat scripts are not used
        # for the Models API, so a health probe never eats a scripted chat answer).
        self.models_fault: Fault | None = None
        self._ids = itertools.count(1)

    def reset(self) -> None:
        super().reset()
        self.models = default_models()
        self.models_fault = None

    def is_chat_path(self, path: str) -> bool:
        return path == "/v1/messages"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id}", self._get_model)

    # --- validation --------------------------------------------------------------------------

    def _error(self, status: int, message: str, error_type: str | None = None) -> web.Response:
        return web.json_response(
            anthropic_error(status, message, error_type),
            status=status,
            headers={"request-id": "req_fake_error"},
        )

    def find_model(self, model_id: str) -> FakeModel | None:
        """The model a request names, by id or by its undated alias."""
        return next((m for m in self.models if model_id in (m.id, m.alias)), None)

    def _check_headers(self, request: web.Request) -> web.Response | None:
        has_key = bool(request.headers.get("x-api-key"))
        bearer = request.headers.get("authorization", "")
        if not has_key and not bearer.lower().startswith("bearer "):
            return self._error(401, "x-api-key header is required")
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        return None

    def _check_body(self, request: web.Request, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return self._error(400, "Request body must be a JSON object")
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                return self._error(400, f"{required}: Field required")
        if request.headers.get("anthropic-version", "") >= SAMPLING_FREE_API_VERSION:
            for sampling in ("temperature", "top_p", "top_k"):
                if sampling in body:
                    return self._error(400, f"{sampling}: Extra inputs are not permitted")
        if not body["messages"]:
            return self._error(400, "messages: at least one message is required")
        model = self.find_model(str(body["model"]))
        if model is None:
            return self._error(404, f"model: {body['model']}")
        thinking = body.get("thinking") or {}
        if thinking.get("type") in ("enabled", "adaptive") and (
            thinking["type"] not in model.thinking_types
        ):
            return self._error(
                400, f"thinking.type: '{thinking['type']}' is not supported for {model.id}"
            )
        if thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens", 0)
            if budget < 1024:
                return self._error(400, "thinking.budget_tokens: must be >= 1024")
            if budget >= body["max_tokens"]:
                return self._error(
                    400, "`max_tokens` must be greater than `thinking.budget_tokens`"
                )
        return self._check_messages(body["messages"])

    def _check_messages(self, messages: list[Any]) -> web.Response | None:
        pending_tool_uses: set[str] = set()
        for index, message in enumerate(messages):
            content = message.get("content")
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            if message.get("role") == "user" and pending_tool_uses:
                answered = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
                if missing := pending_tool_uses - answered:
                    return self._error(
                        400,
                        f"messages.{index}: `tool_use` ids were found without `tool_result` "
                        f"blocks immediately after: {', '.join(sorted(missing))}",
                    )
            pending_tool_uses = set()
            for position, block in enumerate(blocks):
                where = f"messages.{index}.content.{position}"
                kind = block.get("type")
                if kind == "text" and not block.get("text"):
                    return self._error(400, f"{where}: text content blocks must be non-empty")
                if kind == "thinking" and not block.get("signature"):
                    return self._error(400, f"{where}.thinking.signature: Field required")
                if kind == "tool_use":
                    pending_tool_uses.add(block.get("id", ""))
        return None

    # --- messages ----------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request)
        if (problem := self._check_headers(request)) or (
            problem := self._check_body(request, body)
        ):
            return problem
        script = self.next_script()
        fault = script.fault
        if fault is not None and fault.kind == "status":
            return self._fault(fault)
        if fault is not None and fault.kind == "stall":
            await stall(request, fault.seconds)
            return web.Response(status=504)
        message_id = f"msg_fake{next(self._ids):06d}"
        thinking_type = (body.get("thinking") or {}).get("type")
        blocks = self._blocks(script, thinking_requested=thinking_type in ("enabled", "adaptive"))
        stop_reason = script.stop_reason or ("tool_use" if script.tool_calls else "end_turn")
        if body.get("stream"):
            return await self._stream(
                request,
                script=script,
                body=body,
                message_id=message_id,
                blocks=blocks,
                stop_reason=stop_reason,
            )
        if fault is not None and fault.kind == "cut":
            await self.cut(request)
            return web.Response()
        return web.json_response(
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [block.final for block in blocks],
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": self._usage(script, output_tokens=script.output_tokens),
            },
            headers={"request-id": f"req_{message_id}"},
        )

    def _fault(self, fault: Fault) -> web.Response:
        body = fault.body if fault.body is not None else anthropic_error(fault.status, "fault")
        headers = {"request-id": "req_fake_fault", **fault.headers}
        return web.json_response(body, status=fault.status, headers=headers)

    @staticmethod
    def _usage(script: Script, *, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": script.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        }

    def _blocks(self, script: Script, *, thinking_requested: bool) -> list[_Block]:
        blocks: list[_Block] = []
        if script.thinking and thinking_requested:
            signature = signature_for(script.thinking)
            blocks.append(
                _Block(
                    start={"type": "thinking", "thinking": "", "signature": ""},
                    deltas=[
                        {"type": "thinking_delta", "thinking": piece}
                        for piece in chunks(script.thinking, script.chunk_size)
                    ]
                    + [{"type": "signature_delta", "signature": signature}],
                    final={"type": "thinking", "thinking": script.thinking, "signature": signature},
                )
            )
        if script.text:
            blocks.append(
                _Block(
                    start={"type": "text", "text": ""},
                    deltas=[
                        {"type": "text_delta", "text": piece}
                        for piece in chunks(script.text, script.chunk_size)
                    ],
                    final={"type": "text", "text": script.text},
                )
            )
        for tool in script.tool_calls:
            call_id = tool.call_id or f"toolu_fake{next(self._ids):06d}"
            raw = json.dumps(tool.arguments)
            piece = max(1, len(raw) // 3)
            blocks.append(
                _Block(
                    start={"type": "tool_use", "id": call_id, "name": tool.name, "input": {}},
                    deltas=[{"type": "input_json_delta", "partial_json": ""}]
                    + [
                        {"type": "input_json_delta", "partial_json": part}
                        for part in chunks(raw, piece)
                    ],
                    final={
                        "type": "tool_use",
                        "id": call_id,
                        "name": tool.name,
                        "input": tool.arguments,
                    },
                )
            )
        return blocks

    async def _stream(
        self,
        request: web.Request,
        *,
        script: Script,
        body: dict[str, Any],
        message_id: str,
        blocks: list[_Block],
        stop_reason: str,
    ) -> web.StreamResponse:
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "model": body["model"],
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": self._usage(script, output_tokens=1),
                    },
                },
            )
        ]
        for index, block in enumerate(blocks):
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block.start},
                )
            )
            if index == 0:
                events.append(("ping", {"type": "ping"}))
            events += [
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
                for delta in block.deltas
            ]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events += [
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": script.output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        fault = script.fault
        if isinstance(fault, SSEError):
            error = anthropic_error(529, fault.message, fault.error_type)
            events = [*events[: fault.after_chunks], ("error", error)]
            script = dataclasses.replace(script, fault=None)
        elif isinstance(fault, EndStream):
            events = events[: fault.after_chunks]
            script = dataclasses.replace(script, fault=None)

        response = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "request-id": f"req_{message_id}",
            },
        )
        await response.prepare(request)
        encoded = [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]
        if await self.send_chunks(request, response, encoded, script):
            await response.write_eof()
        return response

    # --- models ------------------------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.Response:
        if problem := self._check_headers(request):
            return problem
        if (fault := self.models_fault) is not None:
            self.models_fault = None
            if fault.kind == "stall":
                await stall(request, fault.seconds)
            return self._fault(fault)
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return self._error(400, "limit: Input should be a valid integer")
        if not 1 <= limit <= 1000:
            return self._error(400, "limit: Input should be between 1 and 1000")
        ids = [model.id for model in self.models]
        models = list(self.models)
        if after := request.query.get("after_id"):
            if after not in ids:
                return self._error(404, f"after_id: model {after} not found")
            models = models[ids.index(after) + 1 :][:limit]
            has_more = ids.index(after) + 1 + limit < len(ids)
        elif before := request.query.get("before_id"):
            if before not in ids:
                return self._error(404, f"before_id: model {before} not found")
            earlier = models[: ids.index(before)]
            models = earlier[-limit:]
            has_more = len(earlier) > limit
        else:
            has_more = len(models) > limit
            models = models[:limit]
        return web.json_response(
            {
                "data": [model.as_json() for model in models],
                "has_more": has_more,
                "first_id": models[0].id if models else None,
                "last_id": models[-1].id if models else None,
            },
            headers={"request-id": "req_fake_models"},
        )

    async def _get_model(self, request: web.Request) -> web.Response:
        if problem := self._check_headers(request):
            return problem
        model_id = request.match_info["model_id"]
        for model in self.models:
            if model.id == model_id:
                return web.json_response(model.as_json())
        return self._error(404, f"model: {model_id}")


def signature_for(thinking: str) -> str:
    """A deterministic stand-in for the opaque signature Anthropic puts on thinking blocks."""
    return base64.b64encode(hashlib.sha256(thinking.encode()).digest()).decode()
