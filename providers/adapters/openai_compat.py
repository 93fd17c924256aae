"""What the adapters built on the official ``openai`` SDK share.

- ``openai_clients``: a ``ClientCache`` (providers/adapters/_clients.py) of ``AsyncOpenAI``
  clients for one adapter, so the chat hot path reuses connections instead of building a client
  and a TLS session per turn.
- ``map_openai_error``: the one place an ``openai`` SDK exception (or a transport error under it)
  becomes a ``ProviderError`` that says whether a retry can help. The OpenAI (Responses API)
  adapter uses it as well as the Chat Completions ones.
- ``ChatCompletionsAdapter``: the streaming Chat Completions adapter that OpenRouter and Z.ai
  specialise (base URL, headers, reasoning switch, reasoning field, error codes).
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anyio
import httpx
import httpx2
import openai
from openai import AsyncOpenAI, Timeout

from providers import catalog
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
    ToolSpec,
    Usage,
)
from providers.adapters.errors import retry_after_seconds

logger = logging.getLogger(__name__)

# Connecting should take well under this; the rest of request.timeout is for the model to answer.
CONNECT_TIMEOUT_CAP = 10.0
# Where a tool call's arguments go when the model produced text that is not a JSON object, so the
# runtime can hand the model an error instead of the turn failing on a parse error.
INVALID_ARGUMENTS_KEY = "_invalid_json_arguments"

# (kind, retryable); retryable None means "the kind's default".
Verdict = tuple[ErrorKind, bool | None]


# --- clients -------------------------------------------------------------------------------------


def bearer_token(credential: ResolvedCredential, provider: str) -> str:
    """The key the SDK sends as ``Authorization: Bearer``: an API key or an OAuth access token.

    Refuses an empty credential before any network call: the SDK would otherwise fall back to the
    ``OPENAI_API_KEY`` environment variable and send the system's OpenAI key to whatever base URL
    this adapter talks to.
    """
    token = credential.api_key or credential.access_token
    if not token:
        raise ProviderError(
            ErrorKind.AUTH, f"no {provider} credential configured", provider=provider
        )
    return token


def request_timeout(seconds: float) -> Timeout:
    """Per-request timeout: ``seconds`` for every read (a stalled stream fails within it), and a
    shorter connect timeout so an unreachable host is reported quickly."""
    return Timeout(seconds, connect=min(CONNECT_TIMEOUT_CAP, seconds))


def openai_clients(
    *, provider: str, default_headers: Mapping[str, str] | None = None
) -> ClientCache[AsyncOpenAI]:
    """A cache of ``AsyncOpenAI`` clients for one adapter (per event loop, bounded; see
    providers/adapters/_clients.py), keyed by base URL and credential.

    ``default_headers`` are the adapter's own (OpenRouter's attribution): fixed for the adapter,
    so they are part of the factory rather than the key. The credential's extra headers are in
    the key (``credential_fingerprint``) and win over them.
    """
    fixed = dict(default_headers or {})

    def build(credential: ResolvedCredential, base_url: str) -> AsyncOpenAI:
        client = AsyncOpenAI(
            api_key=bearer_token(credential, provider),
            base_url=base_url,
            max_retries=0,  # retries and fallbacks are decided above the adapter
            default_headers={**fixed, **credential.extra_headers},
        )
        # Only Mosaic's credential authenticates; never OPENAI_ORG_ID/OPENAI_PROJECT_ID from the
        # environment, which would be sent to OpenRouter or Z.ai as well.
        client.organization = None
        client.project = None
        return client

    return ClientCache(build)


# --- errors --------------------------------------------------------------------------------------

_CODE_KINDS: dict[str, Verdict] = {
    # rate limits that lift by themselves
    "rate_limit_exceeded": (ErrorKind.RATE_LIMIT, None),
    "rate_limit_error": (ErrorKind.RATE_LIMIT, None),
    "rate_limited": (ErrorKind.RATE_LIMIT, None),
    # out of money or plan: a person has to act, so the credential is unusable until then
    "insufficient_quota": (ErrorKind.AUTH, False),
    "billing_hard_limit_reached": (ErrorKind.AUTH, False),
    "insufficient_credits": (ErrorKind.AUTH, False),
    "invalid_api_key": (ErrorKind.AUTH, None),
    "authentication_error": (ErrorKind.AUTH, None),
    "permission_error": (ErrorKind.AUTH, None),
    "unauthorized": (ErrorKind.AUTH, None),
    "overloaded": (ErrorKind.OVERLOADED, None),
    "overloaded_error": (ErrorKind.OVERLOADED, None),
    "server_overloaded": (ErrorKind.OVERLOADED, None),
    "engine_overloaded": (ErrorKind.OVERLOADED, None),
    "server_error": (ErrorKind.UNAVAILABLE, None),
    "internal_error": (ErrorKind.UNAVAILABLE, None),
    "api_error": (ErrorKind.UNAVAILABLE, None),
    "timeout": (ErrorKind.TIMEOUT, None),
    "request_timeout": (ErrorKind.TIMEOUT, None),
    "context_length_exceeded": (ErrorKind.BAD_REQUEST, None),
    "invalid_prompt": (ErrorKind.BAD_REQUEST, None),
    "invalid_request_error": (ErrorKind.BAD_REQUEST, None),
    "model_not_found": (ErrorKind.BAD_REQUEST, None),
}
# Error "type" values that say more than the status does (OpenAI puts quota errors under 429).
_TYPE_KINDS: dict[str, Verdict] = {
    "insufficient_quota": (ErrorKind.AUTH, False),
    "overloaded_error": (ErrorKind.OVERLOADED, None),
}


def status_verdict(status: int) -> Verdict:
    """What an HTTP status alone says."""
    if status in (401, 403):
        return (ErrorKind.AUTH, None)
    if status == 402:  # payment required (OpenRouter: out of credits)
        return (ErrorKind.AUTH, False)
    if status == 408:
        return (ErrorKind.TIMEOUT, None)
    if status == 429:
        return (ErrorKind.RATE_LIMIT, None)
    if status == 529:
        return (ErrorKind.OVERLOADED, None)
    if status >= 500:
        return (ErrorKind.UNAVAILABLE, None)
    return (ErrorKind.BAD_REQUEST, None)


def classify_error_code(code: str) -> Verdict | None:
    """What an error body's ``code`` says, for the codes OpenAI and OpenRouter use."""
    normalized = code.strip().lower()
    if normalized.isdigit() and len(normalized) == 3:  # OpenRouter's codes are HTTP statuses
        return status_verdict(int(normalized))
    return _CODE_KINDS.get(normalized)


def _error_details(body: object, fallback: str) -> tuple[str, str, str]:
    """(code, type, message) of an error body (the SDK has unwrapped ``{"error": ...}``)."""
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        assert isinstance(inner, Mapping)
        code = inner.get("code")
        kind = inner.get("type")
        message = inner.get("message")
        return (
            "" if code is None else str(code),
            kind if isinstance(kind, str) else "",
            message if isinstance(message, str) and message else fallback,
        )
    return "", "", fallback


# The connection failing (the SDK wraps most of these in APIConnectionError, not all of them).
_CONNECTION_ERRORS = (
    openai.APIConnectionError,
    httpx.HTTPError,
    httpx2.HTTPError,
    anyio.EndOfStream,
    ssl.SSLError,
)


def map_openai_error(
    exc: BaseException,
    *,
    provider: str,
    started: bool = False,
    classify_code: Callable[[str], Verdict | None] = classify_error_code,
) -> ProviderError:
    """Turn an ``openai`` SDK exception (or an httpx error under it) into a ``ProviderError``.

    ``started`` says whether the response had begun: a connection lost before that is the
    provider being unreachable (UNAVAILABLE); after it, the stream broke off (INTERRUPTED). An
    error body's ``code`` is asked first (``classify_code``, which providers with their own codes
    replace), then its ``type``, then the HTTP status.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | httpx2.TimeoutException):
        return ProviderError(
            ErrorKind.TIMEOUT, f"{provider} did not answer in time", provider=provider
        )
    if isinstance(exc, _CONNECTION_ERRORS):
        kind = ErrorKind.INTERRUPTED if started else ErrorKind.UNAVAILABLE
        what = "stream broke off" if started else "could not be reached"
        # The SDK's own message is a bare "Connection error."; the transport's says what happened.
        detail = (
            exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ else exc
        )
        return ProviderError(kind, f"{provider} {what}: {detail!s}", provider=provider)
    if isinstance(exc, openai.APIStatusError):
        code, error_type, message = _error_details(exc.body, exc.message)
        verdict = (
            (classify_code(code) if code else None)
            or _TYPE_KINDS.get(error_type)
            or status_verdict(exc.status_code)
        )
        return ProviderError(
            verdict[0],
            message,
            provider=provider,
            status=exc.status_code,
            retry_after=retry_after_seconds(exc.response.headers),
            retryable=verdict[1],
        )
    if isinstance(exc, openai.APIError):
        # An error object inside an otherwise healthy stream: no HTTP status to go by.
        code, error_type, message = _error_details(exc.body, exc.message)
        found = (classify_code(code) if code else None) or _TYPE_KINDS.get(error_type)
        verdict = found or (ErrorKind.INTERRUPTED if started else ErrorKind.UNAVAILABLE, None)
        return ProviderError(verdict[0], message, provider=provider, retryable=verdict[1])
    raise TypeError(f"not an upstream error: {exc!r}") from exc


# Everything the SDK and the transport under it raise; anything else is a bug and propagates.
UPSTREAM_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIError,
    httpx.HTTPError,
    httpx2.HTTPError,
    anyio.EndOfStream,
    ssl.SSLError,
)


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """A tool call's arguments as a dict; text that is not a JSON object is kept under
    ``INVALID_ARGUMENTS_KEY`` for the runtime to report back to the model."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        logger.warning("tool call arguments are not JSON: %.200r", raw)
        return {INVALID_ARGUMENTS_KEY: raw}
    if isinstance(parsed, dict):
        return parsed
    return {INVALID_ARGUMENTS_KEY: raw}


def error_result_text(message: ChatMessage) -> str:
    """A tool result's text; failures are marked, as neither API has an "is error" flag."""
    if message.is_error and not message.content.lower().startswith("error"):
        return f"Error: {message.content}"
    return message.content


async def timed_health(probe: Callable[[], Awaitable[object]], *, provider: str) -> Health:
    """Run a cheap authenticated call and turn its outcome into a ``Health``.

    Rate limiting and overload mean "up but busy" (degraded); anything else is down.
    """
    started = time.perf_counter()
    try:
        await probe()
    except ProviderError as exc:
        busy = exc.kind in (ErrorKind.RATE_LIMIT, ErrorKind.OVERLOADED) and exc.retryable
        return Health(
            status="degraded" if busy else "down",
            latency_ms=_ms_since(started),
            error=f"{provider}: {exc.message}",
        )
    return Health(status="healthy", latency_ms=_ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# --- Chat Completions ----------------------------------------------------------------------------


def chat_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def chat_messages(
    request: ChatRequest, *, reasoning_field: str | None = None
) -> list[dict[str, Any]]:
    """Neutral history → Chat Completions messages.

    The system prompt comes first. Consecutive assistant/thinking/tool_call entries become one
    assistant message (text, ``tool_calls``); thinking is sent back only when the provider reads
    it (``reasoning_field``, Z.ai's interleaved thinking), otherwise dropped. Tool results become
    ``role: "tool"`` messages answering their ``tool_call_id``.
    """
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    turn: list[ChatMessage] = []

    def flush() -> None:
        if not turn:
            return
        text = "".join(m.content for m in turn if m.role == "assistant")
        reasoning = "".join(m.content for m in turn if m.role == "thinking")
        calls = [
            {
                "id": m.tool_call_id,
                "type": "function",
                "function": {"name": m.tool_name, "arguments": json.dumps(m.tool_arguments)},
            }
            for m in turn
            if m.role == "tool_call"
        ]
        turn.clear()
        if not text and not calls:
            return
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = calls
        if reasoning and reasoning_field:
            message[reasoning_field] = reasoning
        messages.append(message)

    for entry in request.messages:
        if entry.role in ("assistant", "thinking", "tool_call"):
            turn.append(entry)
            continue
        flush()
        if entry.role == "tool_result":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": entry.tool_call_id,
                    "content": error_result_text(entry),
                }
            )
        else:  # user, system
            messages.append({"role": entry.role, "content": entry.content})
    flush()
    return messages


@dataclass
class _PendingCall:
    call_id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ChatStreamState:
    """Folds ``chat.completion.chunk`` objects into normalised events."""

    reasoning_fields: tuple[str, ...]
    finish_reason: str | None = None
    usage: Usage | None = None
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    calls_emitted: bool = False

    def feed(self, chunk: Any) -> list[Event]:
        events: list[Event] = []
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = Usage(
                input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            )
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:
                continue  # Mosaic asks for one choice
            delta = getattr(choice, "delta", None)
            if delta is not None:
                reasoning = self._reasoning(delta)
                if reasoning:
                    events.append(ThinkingDelta(reasoning))
                if delta.content:
                    events.append(TextDelta(delta.content))
                for piece in delta.tool_calls or []:
                    self._add_call_piece(piece)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
                events.extend(self.take_calls())
        return events

    def _reasoning(self, delta: Any) -> str:
        extra = getattr(delta, "model_extra", None) or {}
        for name in self.reasoning_fields:
            value = getattr(delta, name, None) or extra.get(name)
            if isinstance(value, str) and value:
                return value
        return ""

    def _add_call_piece(self, piece: Any) -> None:
        pending = self.calls.setdefault(int(piece.index or 0), _PendingCall())
        if piece.id:
            pending.call_id = piece.id
        function = piece.function
        if function is not None:
            if function.name and not pending.name:
                pending.name = function.name
            if function.arguments:
                pending.arguments.append(function.arguments)

    def take_calls(self) -> list[Event]:
        if self.calls_emitted:
            return []
        self.calls_emitted = True
        return [
            ToolCall(
                call_id=pending.call_id or f"call_{uuid.uuid4().hex[:24]}",
                name=pending.name,
                arguments=parse_tool_arguments("".join(pending.arguments)),
            )
            for _, pending in sorted(self.calls.items())
        ]


class ChatCompletionsAdapter:
    """A provider that speaks OpenAI's streaming Chat Completions, through the ``openai`` SDK.

    Subclasses set the names and the default base URL, and may override the hooks:
    ``default_headers`` (read once, when ``__init__`` builds the client cache), ``extra_body``
    (provider-specific request fields), ``classify_code`` (provider error codes),
    ``reasoning_fields`` (where a delta carries reasoning) and ``history_reasoning_field`` (where
    an assistant message sends it back, if anywhere).
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    supports_embeddings: ClassVar[bool] = False
    requires_credential: ClassVar[bool] = True
    reasoning_fields: ClassVar[tuple[str, ...]] = ("reasoning_content", "reasoning")
    history_reasoning_field: ClassVar[str | None] = None

    def __init__(self) -> None:
        self._clients = openai_clients(provider=self.name, default_headers=self.default_headers())

    # --- hooks -------------------------------------------------------------------------------

    def default_headers(self) -> dict[str, str]:
        return {}

    def extra_body(self, request: ChatRequest) -> dict[str, Any] | None:
        return None

    def classify_code(self, code: str) -> Verdict | None:
        return classify_error_code(code)

    def stop_reason(self, finish_reason: str, *, called_tools: bool) -> str:
        """The normalised stop reason; raises for finish reasons that mean the call failed."""
        if called_tools or finish_reason in ("tool_calls", "function_call"):
            return "tool_use"
        if finish_reason == "stop":
            return "end_turn"
        if finish_reason in ("length", "model_context_window_exceeded"):
            return "max_tokens"
        if finish_reason in ("content_filter", "sensitive"):
            return "refusal"
        if finish_reason in ("error", "network_error"):
            raise ProviderError(
                ErrorKind.INTERRUPTED,
                f"{self.name} stopped generating ({finish_reason})",
                provider=self.name,
            )
        return "other"

    # --- plumbing ----------------------------------------------------------------------------

    def base_url(self, credential: ResolvedCredential) -> str:
        return (credential.base_url or self.default_base_url).rstrip("/")

    def client(self, credential: ResolvedCredential) -> AsyncOpenAI:
        return self._clients.get(credential, self.base_url(credential))

    def map_error(self, exc: BaseException, *, started: bool = False) -> ProviderError:
        return map_openai_error(
            exc, provider=self.name, started=started, classify_code=self.classify_code
        )

    def request_params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": chat_messages(request, reasoning_field=self.history_reasoning_field),
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = chat_tools(request.tools)
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = list(request.stop)
        if request.tools and request.tool_choice is not None:
            choice = request.tool_choice
            params["tool_choice"] = (
                choice
                if isinstance(choice, str)
                else {"type": "function", "function": {"name": choice[1]}}
            )
        extra = self.extra_body(request)
        if extra:
            params["extra_body"] = extra
        return params

    # --- the adapter protocol ----------------------------------------------------------------

    async def stream(
        self, request: ChatRequest, credential: ResolvedCredential
    ) -> AsyncIterator[Event]:
        client = self.client(credential)
        params = self.request_params(request)
        state = ChatStreamState(reasoning_fields=self.reasoning_fields)
        started = False
        try:
            response = await client.chat.completions.create(
                **params, stream=True, timeout=request_timeout(request.timeout)
            )
            started = True
            try:
                async for chunk in response:
                    for event in state.feed(chunk):
                        yield event
            finally:
                await response.close()
        except UPSTREAM_ERRORS as exc:
            raise self.map_error(exc, started=started) from exc

        if state.finish_reason is None:
            raise ProviderError(
                ErrorKind.INTERRUPTED,
                f"{self.name} ended the stream without finishing the reply",
                provider=self.name,
            )
        calls = state.take_calls()
        for call in calls:
            yield call
        if state.usage is not None:
            yield state.usage
        yield Done(self.stop_reason(state.finish_reason, called_tools=bool(state.calls)))

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]:
        return catalog.static_models(self.name)

    async def health_check(self, credential: ResolvedCredential) -> Health:
        async def probe() -> None:
            try:
                await self.client(credential).models.list(timeout=request_timeout(10.0))
            except UPSTREAM_ERRORS as exc:
                raise self.map_error(exc) from exc

        return await timed_health(probe, provider=self.name)

    async def embed(
        self, texts: Sequence[str], model: str, credential: ResolvedCredential
    ) -> list[list[float]]:
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"{self.display_name or self.name} offers no embeddings in Mosaic",
            provider=self.name,
            retryable=False,
        )
