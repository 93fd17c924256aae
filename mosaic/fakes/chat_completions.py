"""Fakes of OpenAI-compatible Chat Completions APIs: a base, OpenRouter and Z.ai.

Written from the providers' published references, not from what Mosaic sends:

- The base speaks OpenAI's ``POST /chat/completions``: streamed as ``data: <chat.completion.chunk>``
  lines (``choices[].delta`` with ``role``/``content``/``tool_calls``, ``finish_reason`` on the
  last choice chunk), then, when ``stream_options.include_usage`` is set, one chunk with empty
  ``choices`` and the ``usage``, then ``data: [DONE]``. Tool-call arguments arrive in pieces,
  keyed by ``index``, the first piece carrying ``id`` and ``function.name``.
- ``FakeOpenRouter`` (https://openrouter.ai/docs/api/reference/streaming, /errors, /models): mounted
  under ``/api/v1``; opens streams with a ``: OPENROUTER PROCESSING`` SSE comment; reasoning in
  ``delta.reasoning``; ``provider`` and ``native_finish_reason`` on chunks; errors
  ``{"error": {"code": <http status>, "message", "metadata"?}}``; ``GET /api/v1/models`` with a
  realistic catalogue (pricing as USD-per-token strings, ``architecture``, ``top_provider``,
  ``supported_parameters``); ``GET /api/v1/key`` with the calling key's limits.
- ``FakeZai`` (https://docs.z.ai/api-reference/llm/chat-completion, /api-reference/api-code):
  mounted under ``/api/paas/v4``; reasoning in ``delta.reasoning_content``; chunks carry no
  ``object`` field; a tool call arrives whole in the final chunk, which also carries
  ``finish_reason`` and the ``usage`` (Z.ai sends usage whether or not it was asked for); errors
  ``{"error": {"code": "<business code>", "message"}}`` (1001/1002 auth, 1302 concurrency, ...).
  Z.ai publishes no models endpoint, so this fake has none.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

from mosaic.fakes.base import FakeUpstream, Script, chunks
from mosaic.fakes.openai import bearer_token, stall

_ids = itertools.count(1)


class FakeChatCompletions(FakeUpstream):
    """OpenAI's Chat Completions wire format; subclasses change the mount and the dialect."""

    provider = "chat-completions"
    prefix = "/v1"
    # The delta field that carries reasoning text.
    reasoning_field = "reasoning_content"

    def __init__(self) -> None:
        super().__init__()
        # When set, only these bearer tokens are accepted; otherwise any non-empty one is.
        self.api_keys: set[str] | None = None
        # When set, the stream fails after the reply text with this error object inside a chunk
        # (how OpenRouter reports an error once streaming has begun), then ends.
        self.stream_error: dict[str, Any] | None = None

    def reset(self) -> None:
        super().reset()
        self.api_keys = None
        self.stream_error = None

    @property
    def api_base(self) -> str:
        """What to give a client as its base URL."""
        return self.base_url + self.prefix

    def is_chat_path(self, path: str) -> bool:
        return path == f"{self.prefix}/chat/completions"

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{self.prefix}/chat/completions", self._chat)

    # --- dialect hooks -----------------------------------------------------------------------

    def error_body(self, status: int, reason: str = "") -> dict[str, Any]:
        messages = {
            400: "Invalid request.",
            401: "Incorrect API key provided.",
            429: "Rate limit reached for requests.",
            503: "The server is overloaded or not ready yet.",
        }
        return {
            "error": {
                "message": messages.get(status, "The server had an error."),
                "type": "invalid_request_error" if status < 500 else "server_error",
                "param": None,
                "code": None,
            }
        }

    def missing_auth_body(self) -> dict[str, Any]:
        return self.error_body(401)

    def stream_prelude(self) -> list[bytes]:
        """Bytes sent before the first chunk (SSE comments, for instance)."""
        return []

    def chunk(
        self,
        envelope: dict[str, Any],
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta or {}, "finish_reason": finish_reason}
        choice["logprobs"] = None
        return {**envelope, "object": "chat.completion.chunk", "choices": [choice]}

    def tool_call_chunks(self, envelope: dict[str, Any], script: Script) -> list[dict[str, Any]]:
        """OpenAI style: per call, a first piece with id and name, then argument pieces."""
        out = []
        for index, call in enumerate(script.tool_calls):
            arguments = json.dumps(call.arguments)
            first = {
                "index": index,
                "id": call.call_id or f"call_{next(_ids):06d}",
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            out.append(self.chunk(envelope, {"tool_calls": [first]}))
            out.extend(
                self.chunk(
                    envelope, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
                for piece in chunks(arguments, script.chunk_size)
            )
        return out

    def closing_chunks(
        self, envelope: dict[str, Any], script: Script, finish_reason: str, include_usage: bool
    ) -> list[dict[str, Any]]:
        out = [self.chunk(envelope, {}, finish_reason)]
        if include_usage:
            usage_chunk = {**envelope, "object": "chat.completion.chunk", "choices": []}
            out.append({**usage_chunk, "usage": _usage(script)})
        return out

    # --- the endpoint ------------------------------------------------------------------------

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        token = bearer_token(request)
        if not token:
            return web.json_response(self.missing_auth_body(), status=401)
        if self.api_keys is not None and token not in self.api_keys:
            return web.json_response(self.error_body(401), status=401)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        script = self.next_script()
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        fault = script.fault
        if fault is not None and fault.kind == "status":
            body = fault.body if fault.body is not None else self.error_body(fault.status)
            return web.json_response(body, status=fault.status, headers=fault.headers)
        if fault is not None and fault.kind == "stall":
            await stall(request, fault.seconds)
            return web.Response(status=504, text="stalled")

        body = await request.json()
        envelope = {
            "id": f"chatcmpl-{next(_ids):08d}",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }
        finish_reason = _finish_reason(script)
        if not body.get("stream"):
            return web.json_response(self._completion(envelope, script, finish_reason))

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [self.chunk(envelope, {"role": "assistant", "content": ""})]
        events.extend(
            self.chunk(envelope, {self.reasoning_field: piece})
            for piece in chunks(script.thinking, script.chunk_size)
        )
        events.extend(
            self.chunk(envelope, {"content": piece})
            for piece in chunks(script.text, script.chunk_size)
        )
        if self.stream_error is not None:
            failed = self.chunk(envelope, {"content": ""}, "error")
            events.append({**failed, "error": self.stream_error})
        else:
            events.extend(self.tool_call_chunks(envelope, script))
            events.extend(self.closing_chunks(envelope, script, finish_reason, include_usage))

        encoded = self.stream_prelude()
        encoded += [f"data: {json.dumps(event)}\n\n".encode() for event in events]
        encoded.append(b"data: [DONE]\n\n")
        response = await self.open_stream(request, "text/event-stream")
        if await self.send_chunks(request, response, encoded, script):
            await response.write_eof()
        return response

    def _completion(
        self, envelope: dict[str, Any], script: Script, finish_reason: str
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": script.text or None}
        if script.thinking:
            message[self.reasoning_field] = script.thinking
        if script.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.call_id or f"call_{next(_ids):06d}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in script.tool_calls
            ]
        return {
            **envelope,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": _usage(script),
        }


def _finish_reason(script: Script) -> str:
    if script.stop_reason == "max_tokens":
        return "length"
    if script.stop_reason:
        return script.stop_reason  # lets a test send a provider's own value ("sensitive", ...)
    return "tool_calls" if script.tool_calls else "stop"


def _usage(script: Script) -> dict[str, Any]:
    return {
        "prompt_tokens": script.input_tokens,
        "completion_tokens": script.output_tokens,
        "total_tokens": script.input_tokens + script.output_tokens,
    }


# --- OpenRouter ----------------------------------------------------------------------------------


def _openrouter_model(
    model_id: str,
    name: str,
    *,
    context: int,
    prompt: str,
    completion: str,
    inputs: list[str],
    max_completion: int | None,
    parameters: list[str],
) -> dict[str, Any]:
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "hugging_face_id": None,
        "name": name,
        "created": 1_760_000_000,
        "description": f"{name}, as listed by the fake OpenRouter.",
        "context_length": context,
        "architecture": {
            "modality": "+".join(inputs) + "->text",
            "input_modalities": inputs,
            "output_modalities": ["text"],
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": prompt,
            "completion": completion,
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        },
        "top_provider": {
            "context_length": context,
            "max_completion_tokens": max_completion,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": parameters,
        "default_parameters": {},
    }


_CHAT_PARAMETERS = ["max_tokens", "temperature", "top_p", "stop", "seed", "response_format"]

OPENROUTER_MODELS: list[dict[str, Any]] = [
    _openrouter_model(
        "anthropic/claude-sonnet-4.6",
        "Anthropic: Claude Sonnet 4.6",
        context=1_000_000,
        prompt="0.000003",
        completion="0.000015",
        inputs=["text", "image", "file"],
        max_completion=128_000,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice", "reasoning", "include_reasoning"],
    ),
    _openrouter_model(
        "openai/gpt-5.4",
        "OpenAI: GPT-5.4",
        context=1_050_000,
        prompt="0.0000025",
        completion="0.000015",
        inputs=["text", "image", "file"],
        max_completion=128_000,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice", "reasoning", "include_reasoning"],
    ),
    _openrouter_model(
        "anthropic/claude-opus-4.6",
        "Anthropic: Claude Opus 4.6",
        context=1_000_000,
        prompt="0.000005",
        completion="0.000025",
        inputs=["text", "image", "file"],
        max_completion=128_000,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice", "reasoning", "include_reasoning"],
    ),
    _openrouter_model(
        "z-ai/glm-5",
        "Z.ai: GLM 5",
        context=202_752,
        prompt="0.000001",
        completion="0.0000032",
        inputs=["text"],
        max_completion=131_072,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice", "reasoning", "include_reasoning"],
    ),
    _openrouter_model(
        "meta-llama/llama-3.3-70b-instruct:free",
        "Meta: Llama 3.3 70B Instruct (free)",
        context=131_072,
        prompt="0",
        completion="0",
        inputs=["text"],
        max_completion=None,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice"],
    ),
    _openrouter_model(
        "mistralai/mistral-7b-instruct",
        "Mistral: Mistral 7B Instruct",
        context=32_768,
        prompt="0.000000028",
        completion="0.000000054",
        inputs=["text"],
        max_completion=16_384,
        parameters=list(_CHAT_PARAMETERS),
    ),
    _openrouter_model(
        "openrouter/auto",
        "Auto Router",
        context=2_000_000,
        prompt="-1",
        completion="-1",
        inputs=["text", "image"],
        max_completion=None,
        parameters=[*_CHAT_PARAMETERS, "tools", "tool_choice", "reasoning"],
    ),
]


class FakeOpenRouter(FakeChatCompletions):
    provider = "openrouter"
    prefix = "/api/v1"
    reasoning_field = "reasoning"

    def __init__(self) -> None:
        super().__init__()
        self.models: list[dict[str, Any]] = list(OPENROUTER_MODELS)
        self.key_limit: float | None = 100.0
        self.key_limit_remaining: float | None = 74.5

    def reset(self) -> None:
        super().reset()
        self.models = list(OPENROUTER_MODELS)
        self.key_limit = 100.0
        self.key_limit_remaining = 74.5

    def models_requests(self) -> list[Any]:
        return [r for r in self.requests if r.method == "GET" and r.path == f"{self.prefix}/models"]

    def setup_routes(self, app: web.Application) -> None:
        super().setup_routes(app)
        app.router.add_get(f"{self.prefix}/models", self._models)
        app.router.add_get(f"{self.prefix}/key", self._key)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        # OpenRouter's model list is public: no key needed.
        return web.json_response({"data": self.models})

    async def _key(self, request: web.Request) -> web.StreamResponse:
        """GET /key: the calling key's limits (https://openrouter.ai/docs/api/api-reference/api-keys)."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        token = bearer_token(request)
        return web.json_response(
            {
                "data": {
                    "label": f"{token[:10]}...{token[-3:]}",
                    "limit": self.key_limit,
                    "limit_remaining": self.key_limit_remaining,
                    "limit_reset": "monthly",
                    "usage": 25.5,
                    "is_free_tier": False,
                    "is_provisioning_key": False,
                    "include_byok_in_limit": False,
                }
            }
        )

    def error_body(self, status: int, reason: str = "") -> dict[str, Any]:
        messages = {
            400: "Bad Request",
            401: "User not found.",
            402: "Insufficient credits. Add more using https://openrouter.ai/settings/credits",
            403: "Your chosen model requires moderation and your input was flagged",
            408: "Request timed out",
            429: "Rate limit exceeded: free-models-per-min.",
            502: "Provider returned error",
            503: "No endpoints found that support the requested parameters.",
        }
        return {"error": {"code": status, "message": messages.get(status, "Internal Server Error")}}

    def missing_auth_body(self) -> dict[str, Any]:
        return {"error": {"code": 401, "message": "No auth credentials found"}}

    def stream_prelude(self) -> list[bytes]:
        return [b": OPENROUTER PROCESSING\n\n"]

    def chunk(
        self,
        envelope: dict[str, Any],
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        data = super().chunk({**envelope, "provider": "Anthropic"}, delta, finish_reason)
        data["choices"][0]["native_finish_reason"] = finish_reason
        return data


# --- Z.ai ----------------------------------------------------------------------------------------

# Default business codes per HTTP status (https://docs.z.ai/api-reference/api-code).
_ZAI_CODES: dict[int, tuple[str, str]] = {
    400: ("1210", "Incorrect API call parameters, please check the documentation"),
    401: (
        "1002",
        "Authorization Token is invalid, please ensure that the Authorization Token is "
        "correctly provided.",
    ),
    404: ("1211", "Model does not exist, please check the model code"),
    429: (
        "1302",
        "High concurrency usage of this API, please reduce concurrency or contact customer "
        "service to increase limits",
    ),
    500: ("500", "Internal Error"),
}


class FakeZai(FakeChatCompletions):
    provider = "zai"
    prefix = "/api/paas/v4"
    reasoning_field = "reasoning_content"

    def error_body(self, status: int, reason: str = "") -> dict[str, Any]:
        code, message = _ZAI_CODES.get(status, _ZAI_CODES[500])
        return {"error": {"code": code, "message": message}}

    def missing_auth_body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": "1001",
                "message": "Authentication parameter not received in Header, unable to "
                "authenticate",
            }
        }

    def chunk(
        self,
        envelope: dict[str, Any],
        delta: dict[str, Any] | None,
        finish_reason: str | None = None,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": {"role": "assistant", **(delta or {})}}
        if finish_reason is not None:
            choice["finish_reason"] = finish_reason
        return {**envelope, "choices": [choice]}

    def tool_call_chunks(self, envelope: dict[str, Any], script: Script) -> list[dict[str, Any]]:
        return []  # Z.ai sends each call whole, in the closing chunk

    def closing_chunks(
        self, envelope: dict[str, Any], script: Script, finish_reason: str, include_usage: bool
    ) -> list[dict[str, Any]]:
        delta: dict[str, Any] = {"content": ""}
        if script.tool_calls:
            delta = {
                "tool_calls": [
                    {
                        "id": call.call_id or f"call_{next(_ids):06d}",
                        "index": index,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for index, call in enumerate(script.tool_calls)
                ]
            }
        final = self.chunk(envelope, delta, finish_reason)
        final["usage"] = {**_usage(script), "prompt_tokens_details": {"cached_tokens": 0}}
        return [final]
