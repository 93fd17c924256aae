"""Anthropic adapter: the Messages API through the official ``anthropic`` SDK, always streamed.

What this module decides, and why:

- **Authentication.** An API key goes out as ``x-api-key`` and an OAuth access token as
  ``Authorization: Bearer`` (the SDK's ``auth_token``); never both. SDK 2.x would send an API
  key as a bearer token too; the published API reference names ``x-api-key`` for keys, and
  proxies and gateways in front of Anthropic look for it there, so the client below puts keys
  back in that header.
  A credential with neither is refused before the SDK is built, because the SDK would otherwise
  look for credentials in the environment and on disk behind our back.
- **No retries here.** ``max_retries=0``: whether to retry, wait or fall back to another
  provider is decided once, above the adapters. Every failure becomes a ``ProviderError``.
- **Timeouts.** ``request.timeout`` is the read timeout, i.e. the longest silence tolerated
  between two bytes of the stream, so a stalled stream fails within about that long while a
  long answer that keeps streaming is never cut off.
- **Sampling.** ``request.temperature`` is not sent: API version 2026-10-21, which SDK 2.x
  speaks, rejects ``temperature``/``top_p``/``top_k`` with a 400 even at their defaults.
- **Thinking.** ``request.reasoning`` turns on thinking. Claude 4.6 and later get adaptive
  thinking (``{"type": "adaptive"}``: the model decides how much to think): budget-based
  thinking is deprecated on Opus/Sonnet 4.6 and refused by Opus 4.7 and later. Older models
  (Haiku 4.5, the 4.5 line and before) only know ``{"type": "enabled", "budget_tokens": n}``;
  they get a budget of half the output allowance (at least the API's minimum of 1024, at most
  16384), and when ``max_tokens`` is too small to hold that budget it is added on top, so the
  answer keeps its allowance. Adaptive thinking is asked for as ``display: "summarized"`` so
  the user can watch it (newer models default to omitting it; older ones always summarise).
  Each ``thinking_delta`` becomes ``ThinkingDelta(text)``; the block's ``signature_delta``
  becomes ``ThinkingDelta("", signature=...)``. The runtime keeps the last signature of a
  thinking block and sends it back with the block (unsigned thinking is dropped from history,
  because the API rejects it).
- **Usage.** ``Usage.input_tokens`` is the whole prompt: uncached input plus cache reads and
  cache writes, which Anthropic reports separately. It is emitted once, before ``Done``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, cast

import anthropic
import httpx2
from anthropic.types import (
    MessageParam,
    TextBlockParam,
    ThinkingBlockParam,
    ThinkingConfigAdaptiveParam,
    ThinkingConfigEnabledParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)
from typing_extensions import override

from providers.adapters._clients import ClientCache
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    Done,
    ErrorKind,
    Event,
    Health,
    ModelSpec,
    ProviderError,
    ResolvedCredential,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolChoice,
    Usage,
)
from providers.adapters.errors import retry_after_seconds

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"

# The models this adapter is written and tested for (the catalog holds their specs).
MODELS = ("claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5")

# max_tokens is required by the API; this is what a request without one gets. Every supported
# model allows at least this much output.
DEFAULT_MAX_TOKENS = 8192
# With adaptive thinking max_tokens bounds thinking and answer together: leave room for both.
DEFAULT_ADAPTIVE_MAX_TOKENS = 32_000
MIN_THINKING_BUDGET = 1024  # the API's minimum for budget_tokens
MAX_THINKING_BUDGET = 16384
# Models that only know budget-based thinking: Claude 3.x and Claude 4 up to the 4.5 line
# (dated ids included). Everything else, including models newer than this module, is adaptive.
_BUDGET_THINKING_MODEL = re.compile(r"^claude-(?:3|(?:opus|sonnet|haiku)-4(?:-[015])?(?:-\d{8})?$)")

# A connection that cannot be opened within this long will not be opened: fail over quickly.
CONNECT_TIMEOUT = 10.0
HEALTH_TIMEOUT = 10.0
# Above this latency a successful probe still counts as degraded.
HEALTH_DEGRADED_MS = 5000.0

# Anthropic's stop reasons mapped onto the normalised set in base.Done.
_STOP_REASONS = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    # The context window filled up before max_tokens: for the caller it is the same
    # "the answer was cut short" condition.
    "model_context_window_exceeded": "max_tokens",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
}

# Error types of Anthropic's error JSON ({"type": "error", "error": {"type": ...}}) for errors
# that arrive as an SSE ``error`` event, where the HTTP status is already 200.
_ERROR_TYPE_KINDS = {
    "overloaded_error": ErrorKind.OVERLOADED,
    "rate_limit_error": ErrorKind.RATE_LIMIT,
    "api_error": ErrorKind.UNAVAILABLE,
    "timeout_error": ErrorKind.TIMEOUT,
    "authentication_error": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "billing_error": ErrorKind.AUTH,
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "not_found_error": ErrorKind.BAD_REQUEST,
    "request_too_large": ErrorKind.BAD_REQUEST,
}

_DATED_MODEL_ID = re.compile(r"^(?P<alias>.+)-\d{8}$")


class _AnthropicClient(anthropic.AsyncAnthropic):
    """The SDK client, sending an API key in ``x-api-key`` as the API reference documents."""

    @property
    @override
    def auth_headers(self) -> dict[str, str]:
        if self.api_key is not None:
            return {"X-Api-Key": self.api_key}
        return super().auth_headers

    @property
    @override
    def user_agent(self) -> str:
        # The SDK names the client class here; keep the stock value rather than ours.
        return f"AsyncAnthropic/Python {anthropic.__version__}"


def _build_client(credential: ResolvedCredential, base_url: str) -> anthropic.AsyncAnthropic:
    # Exactly one of api_key / auth_token; the OAuth token wins when both are present, since a
    # user who connected an account expects that account to be used.
    token = credential.access_token or None
    return _AnthropicClient(
        api_key=None if token else credential.api_key,
        auth_token=token,
        base_url=base_url,
        max_retries=0,
        timeout=anthropic.Timeout(120.0, connect=CONNECT_TIMEOUT),
        default_headers=dict(credential.extra_headers) or None,
    )


_clients: ClientCache[anthropic.AsyncAnthropic] = ClientCache(_build_client)


class AnthropicAdapter:
    """``ProviderAdapter`` for Anthropic's Messages API."""

    name: ClassVar[str] = PROVIDER
    display_name: ClassVar[str] = "Anthropic"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    supports_embeddings: ClassVar[bool] = False
    # Every request needs an API key or an OAuth token (see ResolvedCredential.usable).
    requires_credential: ClassVar[bool] = True

    # --- chat ----------------------------------------------------------------------------------

    async def stream(
        self, request: ChatRequest, credential: ResolvedCredential
    ) -> AsyncIterator[Event]:
        client = self._client(credential)
        body = request_body(build_params(request))
        state = _StreamState()
        try:
            # The SDK sends the request (auth, headers, its errors for a refused one), but the
            # body is encoded here and the events are read as JSON: its ``messages.create``
            # copies and walks the whole history on every call and builds each event into a
            # typed object, which together cost more than the rest of the turn's relaying
            # (docs/performance.md, "Turn cost").
            response = await client.post(
                "/v1/messages",
                content=body,
                cast_to=httpx2.Response,
                stream=True,
                options={
                    "timeout": anthropic.Timeout(
                        request.timeout, connect=min(CONNECT_TIMEOUT, request.timeout)
                    )
                },
            )
            try:
                request_id = response.headers.get("request-id")
                async for kind, data in _server_sent_events(response.aiter_lines()):
                    if kind == "error":
                        raise _stream_error(data, request_id, content_started=state.content_started)
                    for normalised in state.feed(kind, data):
                        yield normalised
            finally:
                await response.aclose()
        except ProviderError:
            raise
        except Exception as exc:
            raise map_error(exc, content_started=state.content_started) from exc
        if not state.stopped:
            raise ProviderError(
                ErrorKind.INTERRUPTED,
                "Anthropic stream ended before message_stop",
                provider=PROVIDER,
            )
        yield Usage(input_tokens=state.input_tokens, output_tokens=state.output_tokens)
        yield Done(stop_reason=_STOP_REASONS.get(state.stop_reason, "other"))

    # --- catalog and health --------------------------------------------------------------------

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]:
        from providers import catalog  # lazily: importing the adapter need not load the catalog

        client = self._client(credential)
        specs: dict[str, ModelSpec] = {}
        try:
            async for info in client.models.list(limit=100, timeout=HEALTH_TIMEOUT):
                spec = _catalog_spec(catalog.get_spec, info.id) or _spec_from_api(info)
                specs.setdefault(spec.id, spec)
        except Exception as exc:
            raise map_error(exc, content_started=False) from exc
        return list(specs.values())

    async def health_check(self, credential: ResolvedCredential) -> Health:
        started = time.perf_counter()
        try:
            client = self._client(credential)
            await client.models.list(limit=1, timeout=HEALTH_TIMEOUT)
        except Exception as exc:
            error = exc if isinstance(exc, ProviderError) else map_error(exc, content_started=False)
            latency = (time.perf_counter() - started) * 1000
            # The service answering "slow down" is up; anything else means we cannot use it.
            pushing_back = error.kind in (ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED)
            return Health(
                status="degraded" if pushing_back else "down",
                latency_ms=latency,
                error=error.message,
            )
        latency = (time.perf_counter() - started) * 1000
        return Health(
            status="degraded" if latency > HEALTH_DEGRADED_MS else "healthy", latency_ms=latency
        )

    async def embed(
        self, texts: Sequence[str], model: str, credential: ResolvedCredential
    ) -> list[list[float]]:
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            "Anthropic does not offer embeddings; configure Ollama or an OpenAI-compatible "
            "embedding provider",
            provider=PROVIDER,
        )

    # --- helpers -------------------------------------------------------------------------------

    def _client(self, credential: ResolvedCredential) -> anthropic.AsyncAnthropic:
        if not credential.usable:
            raise ProviderError(
                ErrorKind.AUTH,
                "no Anthropic credential: set an API key or connect an account",
                provider=PROVIDER,
            )
        return _clients.get(credential, (credential.base_url or DEFAULT_BASE_URL).rstrip("/"))


# --- request translation -----------------------------------------------------------------------


def request_body(params: dict[str, Any]) -> bytes:
    """The streamed request's JSON body: ``build_params`` with ``stream`` on."""
    return json.dumps(
        {**params, "stream": True}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def build_params(request: ChatRequest) -> dict[str, Any]:
    """The keyword arguments of ``messages.create`` for a neutral request (without ``stream``)."""
    system_parts = [request.system] if request.system else []
    system_parts += [m.content for m in request.messages if m.role == "system" and m.content]
    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    params: dict[str, Any] = {
        "model": request.model,
        "messages": translate_history(request.messages),
    }
    if system_parts:
        params["system"] = "\n\n".join(system_parts)
    if request.tools:
        params["tools"] = [
            ToolParam(
                name=tool.name,
                description=tool.description,
                input_schema=cast(Any, tool.parameters),
            )
            for tool in request.tools
        ]
    if request.tools and request.tool_choice is not None:
        params["tool_choice"] = anthropic_tool_choice(request.tool_choice)
    if request.stop:
        params["stop_sequences"] = list(request.stop)
    if request.reasoning and _BUDGET_THINKING_MODEL.match(request.model):
        max_tokens, budget = thinking_budget(max_tokens)
        params["thinking"] = ThinkingConfigEnabledParam(type="enabled", budget_tokens=budget)
    elif request.reasoning:
        max_tokens = request.max_tokens or DEFAULT_ADAPTIVE_MAX_TOKENS
        params["thinking"] = ThinkingConfigAdaptiveParam(type="adaptive", display="summarized")
    params["max_tokens"] = max_tokens
    return params


def anthropic_tool_choice(choice: ToolChoice) -> dict[str, str]:
    if isinstance(choice, tuple):
        return {"type": "tool", "name": choice[1]}
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}


def thinking_budget(max_tokens: int) -> tuple[int, int]:
    """(max_tokens, budget_tokens) honouring the API rule ``1024 <= budget < max_tokens``."""
    budget = max(MIN_THINKING_BUDGET, min(max_tokens // 2, MAX_THINKING_BUDGET))
    if budget >= max_tokens:
        max_tokens += budget
    return max_tokens, budget


def translate_history(messages: Sequence[ChatMessage]) -> list[MessageParam]:
    """Neutral history → Anthropic messages.

    Consecutive assistant/thinking/tool_call entries form one assistant message (blocks in the
    order they were produced); tool results become ``tool_result`` blocks of a user message;
    consecutive messages of the same role are merged, as the API wants alternating roles.
    System entries are lifted into the top-level ``system`` parameter by ``build_params``.
    """
    result: list[MessageParam] = []
    for message in messages:
        role: str
        block: Any
        if message.role == "system":
            continue
        if message.role == "user":
            if not message.content:
                continue
            role, block = "user", TextBlockParam(type="text", text=message.content)
        elif message.role == "tool_result":
            role = "user"
            block = ToolResultBlockParam(
                type="tool_result",
                tool_use_id=message.tool_call_id,
                content=message.content,
                is_error=message.is_error,
            )
        elif message.role == "assistant":
            if not message.content:  # the API rejects empty text blocks
                continue
            role, block = "assistant", TextBlockParam(type="text", text=message.content)
        elif message.role == "thinking":
            if not message.signature:  # unsigned thinking cannot be sent back
                continue
            role = "assistant"
            block = ThinkingBlockParam(
                type="thinking", thinking=message.content, signature=message.signature
            )
        else:  # tool_call
            role = "assistant"
            block = ToolUseBlockParam(
                type="tool_use",
                id=message.tool_call_id,
                name=message.tool_name,
                input=dict(message.tool_arguments),
            )
        if result and result[-1]["role"] == role:
            cast(list[Any], result[-1]["content"]).append(block)
        else:
            result.append(cast(MessageParam, {"role": role, "content": [block]}))
    return result


# --- response translation ----------------------------------------------------------------------


class _StreamState:
    """Turns raw stream events into normalised events and remembers what the stream said."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.stop_reason = ""
        self.stopped = False
        self.content_started = False
        # index → [tool_use id, name, accumulated partial JSON]
        self._tool_blocks: dict[int, list[str]] = {}

    def feed(self, kind: str, event: dict[str, Any]) -> list[Event]:
        """One event of the stream: its SSE ``event`` name and its JSON ``data``."""
        if kind == "message_start":
            self.input_tokens = _prompt_tokens(event["message"]["usage"])
            self.output_tokens = event["message"]["usage"].get("output_tokens") or 0
        elif kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "tool_use":
                self._tool_blocks[event["index"]] = [block["id"], block["name"], ""]
        elif kind == "content_block_delta":
            delta = event["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                self.content_started = True
                return [TextDelta(delta["text"])] if delta["text"] else []
            if kind == "thinking_delta":
                self.content_started = True
                return [ThinkingDelta(delta["thinking"])] if delta["thinking"] else []
            if kind == "signature_delta":
                return [ThinkingDelta("", signature=delta["signature"])]
            if kind == "input_json_delta" and event["index"] in self._tool_blocks:
                self._tool_blocks[event["index"]][2] += delta["partial_json"]
        elif kind == "content_block_stop":
            tool = self._tool_blocks.pop(event["index"], None)
            if tool is not None:
                self.content_started = True
                return [ToolCall(call_id=tool[0], name=tool[1], arguments=_parse_input(tool))]
        elif kind == "message_delta":
            if event["delta"].get("stop_reason"):
                self.stop_reason = event["delta"]["stop_reason"]
            totals = event.get("usage") or {}
            # message_delta counts are cumulative for the whole message.
            self.output_tokens = totals.get("output_tokens") or 0
            if totals.get("input_tokens") is not None:
                self.input_tokens = _prompt_tokens(totals)
        elif kind == "message_stop":
            self.stopped = True
        return []


def _prompt_tokens(usage: dict[str, Any]) -> int:
    """The whole prompt: uncached input, cache reads and cache writes."""
    return (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )


# The events of a Messages stream (the SDK's list); ``ping`` and any other are skipped, ``error``
# ends the stream.
_STREAM_EVENTS = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "error",
    }
)


async def _server_sent_events(
    lines: AsyncIterator[str],
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event, data)`` of each server-sent event of a Messages stream (the SSE format: fields
    ``event`` and ``data``, a blank line ending each event, lines from ``:`` on comments)."""
    kind, data = "", []
    async for line in lines:
        if line:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "event":
                kind = value
            elif name == "data":
                data.append(value)
            continue
        if (payload := _event_data(kind, data)) is not None:
            yield kind, payload
        kind, data = "", []
    if (payload := _event_data(kind, data)) is not None:  # the last event, unterminated
        yield kind, payload


def _event_data(kind: str, data: list[str]) -> dict[str, Any] | None:
    """The JSON object of a Messages event; None for any other event or one without data."""
    if kind not in _STREAM_EVENTS or not data:
        return None
    payload = json.loads("\n".join(data))
    if not isinstance(payload, dict):
        raise ValueError(f"an SSE {kind} event whose data is not an object")
    return payload


def _parse_input(tool: list[str]) -> dict[str, Any]:
    call_id, name, raw = tool
    if not raw.strip():
        return {}
    try:
        arguments = json.loads(raw)
    except ValueError as exc:
        raise ProviderError(
            ErrorKind.INTERRUPTED,
            f"Anthropic sent unparsable input for tool {name} ({call_id})",
            provider=PROVIDER,
        ) from exc
    if not isinstance(arguments, dict):
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"Anthropic sent a non-object input for tool {name} ({call_id})",
            provider=PROVIDER,
        )
    return arguments


# --- catalog -----------------------------------------------------------------------------------


def _catalog_spec(get_spec: Any, model_id: str) -> ModelSpec | None:
    """The catalog entry for a listed model, also under its alias when the id is dated."""
    spec = cast("ModelSpec | None", get_spec(PROVIDER, model_id))
    if spec is None and (dated := _DATED_MODEL_ID.match(model_id)):
        spec = cast("ModelSpec | None", get_spec(PROVIDER, dated["alias"]))
    return spec


def _spec_from_api(info: Any) -> ModelSpec:
    """A spec for a model the catalog does not know, from what the Models API says about it."""
    capabilities = getattr(info, "capabilities", None)

    def supported(name: str) -> bool:
        capability = getattr(capabilities, name, None)
        return bool(getattr(capability, "supported", False))

    return ModelSpec(
        provider=PROVIDER,
        id=info.id,
        display_name=info.display_name or info.id,
        tier="standard",
        context_window=getattr(info, "max_input_tokens", None) or 200_000,
        max_output=getattr(info, "max_tokens", None) or DEFAULT_MAX_TOKENS,
        tools=True,
        vision=supported("image_input"),
        reasoning=supported("thinking"),
    )


# --- errors ------------------------------------------------------------------------------------


def map_error(exc: BaseException, *, content_started: bool) -> ProviderError:
    """Classify any exception raised while talking to Anthropic.

    ``content_started`` says whether text, thinking or a tool call already reached the caller:
    a failure after that point is an interruption whatever its cause, except a timeout.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return ProviderError(ErrorKind.TIMEOUT, "Anthropic timed out", provider=PROVIDER)
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc
        return ProviderError(
            ErrorKind.UNAVAILABLE,
            f"cannot reach Anthropic: {type(cause).__name__}: {cause}",
            provider=PROVIDER,
        )
    if isinstance(exc, anthropic.APIStatusError):
        return _map_status_error(exc, content_started=content_started)
    if isinstance(exc, (httpx2.TransportError, httpx2.StreamError, ValueError)):
        # The connection broke, or the stream carried something that is not an SSE event.
        return ProviderError(
            ErrorKind.INTERRUPTED,
            f"Anthropic stream broke off: {type(exc).__name__}: {exc}",
            provider=PROVIDER,
        )
    return ProviderError(
        ErrorKind.INTERRUPTED if content_started else ErrorKind.UNAVAILABLE,
        f"Anthropic request failed: {type(exc).__name__}: {exc}",
        provider=PROVIDER,
    )


def _stream_error(
    event: dict[str, Any], request_id: str | None, *, content_started: bool
) -> ProviderError:
    """An ``error`` event inside a 200 stream (``{"type": "error", "error": {"type": ...,
    "message": ...}}``)."""
    error = event.get("error")
    error = error if isinstance(error, dict) else {}
    return _stream_error_of(
        str(error.get("type") or ""),
        str(error.get("message") or json.dumps(event)),
        f" (request {request_id})" if request_id else "",
        content_started=content_started,
    )


def _stream_error_of(
    error_type: str, detail: str, request_id: str, *, content_started: bool
) -> ProviderError:
    kind = _ERROR_TYPE_KINDS.get(error_type, ErrorKind.UNAVAILABLE)
    if content_started:
        kind = ErrorKind.INTERRUPTED
    return ProviderError(
        kind,
        f"Anthropic stream error {error_type or 'unknown'}: {detail}{request_id}",
        provider=PROVIDER,
    )


def _map_status_error(exc: anthropic.APIStatusError, *, content_started: bool) -> ProviderError:
    status = exc.status_code
    error_type = exc.type or ""
    detail = exc.api_message or str(exc)
    request_id = f" (request {exc.request_id})" if exc.request_id else ""
    headers = exc.response.headers

    if status < 400:  # an ``error`` event inside a 200 stream
        return _stream_error_of(error_type, detail, request_id, content_started=content_started)

    if status in (401, 402, 403):
        # 402 is billing: like a bad key, this credential is unusable until a person acts.
        kind = ErrorKind.AUTH
    elif status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status == 529 or error_type == "overloaded_error":
        kind = ErrorKind.OVERLOADED
    elif status in (408, 504):
        kind = ErrorKind.TIMEOUT
    elif status >= 500:
        kind = ErrorKind.UNAVAILABLE
    else:  # 400, 404, 413, 422 and the rest of 4xx: the request itself is wrong
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(
        kind,
        f"Anthropic {status} {error_type or 'error'}: {detail}{request_id}",
        provider=PROVIDER,
        status=status,
        retry_after=retry_after_seconds(headers),
    )
