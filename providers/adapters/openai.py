"""OpenAI, on the Responses API (``POST /v1/responses``), through the official ``openai`` SDK.

gpt-5.4 is a reasoning model and OpenAI serves reasoning models best on the Responses API (the
reasoning summaries are only streamed there), so this adapter speaks Responses rather than Chat
Completions. Requests are stateless (``store: false``): Mosaic keeps the history and resends it.

History mapping: the system prompt goes in ``instructions``; user and assistant text become
``message`` items; a tool call becomes a ``function_call`` item and its result a
``function_call_output`` item with the same ``call_id``; thinking entries are dropped (OpenAI's
reasoning items are opaque and would need ``reasoning.encrypted_content``, which Mosaic does not
keep).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from openai import AsyncOpenAI

from providers import catalog
from providers.adapters.base import (
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
from providers.adapters.openai_compat import (
    UPSTREAM_ERRORS,
    classify_error_code,
    error_result_text,
    map_openai_error,
    openai_clients,
    parse_tool_arguments,
    request_timeout,
    timed_health,
)

# OpenAI caps one embeddings request at 2048 inputs.
EMBEDDING_BATCH = 2048


def responses_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    # strict: false because Mosaic's tool schemas are ordinary JSON schemas, not the strict subset
    # (every property required, additionalProperties false) that strict mode demands.
    return [
        {
            "type": "function",
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": False,
        }
        for tool in tools
    ]


def responses_input(request: ChatRequest) -> list[dict[str, Any]]:
    """Neutral history → Responses API input items (the system prompt goes in ``instructions``)."""
    items: list[dict[str, Any]] = []
    for entry in request.messages:
        if entry.role == "thinking":
            continue
        if entry.role == "tool_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": entry.tool_call_id,
                    "name": entry.tool_name,
                    "arguments": json.dumps(entry.tool_arguments),
                }
            )
        elif entry.role == "tool_result":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": entry.tool_call_id,
                    "output": error_result_text(entry),
                }
            )
        elif entry.content:  # user, assistant, system
            items.append({"type": "message", "role": entry.role, "content": entry.content})
    return items


@dataclass
class ResponsesStreamState:
    """Folds Responses API stream events into normalised events."""

    provider: str
    called_tools: bool = False
    refused: bool = False
    finished: bool = False
    # function-call item id -> accumulated argument text (a fallback if the done item lacks it)
    arguments: dict[str, list[str]] = field(default_factory=dict)

    def feed(self, event: Any, *, started_output: bool) -> list[Event]:
        kind = getattr(event, "type", "")
        if kind == "response.output_text.delta":
            return [TextDelta(event.delta)] if event.delta else []
        if kind == "response.reasoning_summary_text.delta":
            return [ThinkingDelta(event.delta)] if event.delta else []
        if kind == "response.reasoning_summary_part.added" and event.summary_index > 0:
            return [ThinkingDelta("\n\n")]  # summary parts are separate paragraphs
        if kind == "response.refusal.delta":
            self.refused = True
            return [TextDelta(event.delta)] if event.delta else []
        if kind == "response.function_call_arguments.delta":
            self.arguments.setdefault(event.item_id, []).append(event.delta)
            return []
        if kind == "response.output_item.done" and getattr(event.item, "type", "") == (
            "function_call"
        ):
            item = event.item
            raw = item.arguments or "".join(self.arguments.get(item.id or "", []))
            self.called_tools = True
            arguments = parse_tool_arguments(raw)
            return [ToolCall(call_id=item.call_id, name=item.name, arguments=arguments)]
        if kind in ("response.completed", "response.incomplete"):
            self.finished = True
            response = event.response
            events: list[Event] = []
            if response.usage is not None:
                events.append(
                    Usage(
                        input_tokens=response.usage.input_tokens,
                        output_tokens=response.usage.output_tokens,
                    )
                )
            events.append(Done(self._stop_reason(response)))
            return events
        if kind == "response.failed":
            error = event.response.error
            code = getattr(error, "code", "") or ""
            message = getattr(error, "message", "") or "the response failed"
            raise self._error(str(code), message, started_output=started_output)
        if kind == "error":
            raise self._error(event.code or "", event.message, started_output=started_output)
        return []

    def _stop_reason(self, response: Any) -> str:
        if response.status == "incomplete":
            reason = getattr(response.incomplete_details, "reason", None)
            if reason == "max_output_tokens":
                return "max_tokens"
            if reason == "content_filter":
                return "refusal"
            return "other"
        if self.called_tools:
            return "tool_use"
        if self.refused:
            return "refusal"
        return "end_turn"

    def _error(self, code: str, message: str, *, started_output: bool) -> ProviderError:
        verdict = classify_error_code(code) if code else None
        if verdict is None:
            kind = ErrorKind.INTERRUPTED if started_output else ErrorKind.UNAVAILABLE
            verdict = (kind, None)
        return ProviderError(verdict[0], message, provider=self.provider, retryable=verdict[1])


class OpenAIAdapter:
    name: ClassVar[str] = "openai"
    display_name: ClassVar[str] = "OpenAI"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    supports_embeddings: ClassVar[bool] = True
    requires_credential: ClassVar[bool] = True

    def __init__(self) -> None:
        self._clients = openai_clients(provider=self.name)

    def client(self, credential: ResolvedCredential) -> AsyncOpenAI:
        base_url = (credential.base_url or self.default_base_url).rstrip("/")
        return self._clients.get(credential, base_url)

    def request_params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "input": responses_input(request),
            "store": False,
        }
        if request.system:
            params["instructions"] = request.system
        if request.tools:
            params["tools"] = responses_tools(request.tools)
        if request.max_tokens is not None:
            params["max_output_tokens"] = request.max_tokens
        # The Responses API has no stop sequences: ``request.stop`` cannot be honoured here.
        if request.tools and request.tool_choice is not None:
            choice = request.tool_choice
            params["tool_choice"] = (
                choice if isinstance(choice, str) else {"type": "function", "name": choice[1]}
            )
        if request.reasoning:
            params["reasoning"] = {"effort": "medium", "summary": "auto"}
        elif request.temperature is not None:
            # GPT-5.x accept a temperature only with reasoning off (their default for gpt-5.4).
            params["temperature"] = request.temperature
        return params

    async def stream(
        self, request: ChatRequest, credential: ResolvedCredential
    ) -> AsyncIterator[Event]:
        client = self.client(credential)
        params = self.request_params(request)
        state = ResponsesStreamState(provider=self.name)
        started = False
        started_output = False
        try:
            response = await client.responses.create(
                **params, stream=True, timeout=request_timeout(request.timeout)
            )
            started = True
            try:
                async for event in response:
                    for normalised in state.feed(event, started_output=started_output):
                        started_output = True
                        yield normalised
                    if state.finished:
                        break
            finally:
                await response.close()
        except UPSTREAM_ERRORS as exc:
            raise map_openai_error(exc, provider=self.name, started=started) from exc
        if not state.finished:
            raise ProviderError(
                ErrorKind.INTERRUPTED,
                "openai ended the stream without response.completed",
                provider=self.name,
            )

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]:
        """The catalog's OpenAI chat models that this account can use (GET /models).

        The account's list also holds models Mosaic has no spec for (audio, images, older
        snapshots); those are left out rather than guessed at. Embedding models are left out
        too: this list is what a conversation can be routed to (they stay in the catalog for
        the embedding service).
        """
        try:
            page = await self.client(credential).models.list(timeout=request_timeout(15.0))
        except UPSTREAM_ERRORS as exc:
            raise map_openai_error(exc, provider=self.name) from exc
        available = {model.id for model in page.data}
        return [
            spec
            for spec in catalog.static_models(self.name)
            if spec.id in available and spec.embedding_dims is None
        ]

    async def health_check(self, credential: ResolvedCredential) -> Health:
        async def probe() -> None:
            try:
                await self.client(credential).models.list(timeout=request_timeout(10.0))
            except UPSTREAM_ERRORS as exc:
                raise map_openai_error(exc, provider=self.name) from exc

        return await timed_health(probe, provider=self.name)

    async def embed(
        self, texts: Sequence[str], model: str, credential: ResolvedCredential
    ) -> list[list[float]]:
        client = self.client(credential)
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = list(texts[start : start + EMBEDDING_BATCH])
            try:
                result = await client.embeddings.create(
                    model=model, input=batch, timeout=request_timeout(60.0)
                )
            except UPSTREAM_ERRORS as exc:
                raise map_openai_error(exc, provider=self.name) from exc
            ordered = sorted(result.data, key=lambda item: item.index)
            vectors.extend([float(x) for x in item.embedding] for item in ordered)
        return vectors
