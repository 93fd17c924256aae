"""Ollama adapter: Ollama's own HTTP API (``/api/chat``, ``/api/tags``, ``/api/embed``).

It talks to Ollama with ``httpx`` directly rather than through the official ``ollama`` client,
because that client gets in the way exactly where an adapter has to be precise:

- it has no per-call timeout (only one per client), while each ``ChatRequest`` carries its own,
  and the clients are cached;
- it reads ``OLLAMA_HOST`` and ``OLLAMA_API_KEY`` from the environment behind our back, so a
  stray variable would change where requests go and which token they carry;
- its errors lose information: a refused connection becomes a builtin ``ConnectionError``, an
  ``{"error"}`` line in a stream becomes ``ResponseError`` with status -1, and timeouts or a cut
  connection surface as raw ``httpx`` exceptions anyway;
- it validates every streamed chunk into pydantic models, work the hot path does not need.

The API is small and documented (ollama/ollama ``docs/api.md``), and the tests check that the
official client parses what our fake server sends, so the wire format stays honest.

Authentication: Ollama needs none. A ``ResolvedCredential`` without a key is therefore fine
here; when a key or token is present (Ollama behind an authenticating proxy, or ollama.com) it
is sent as ``Authorization: Bearer``.

Decisions worth knowing:

- **Thinking.** ``request.reasoning`` sends ``"think": true``. A model that cannot think answers
  400 "does not support thinking"; the request is then repeated once without ``think`` rather
  than failing, since reasoning is asked for "where the model supports it".
- **Tool calls** arrive whole, without ids. Each gets a stable id derived from the conversation
  length, its position and its content, so the same answer always yields the same ids and two
  turns never share one. Tool results go back as ``{"role": "tool", "tool_name": ...}``, which
  is how Ollama pairs them with calls; a failed tool's result is prefixed with "Error: "
  because the API has no error flag.
- **Stop reasons.** Ollama says ``done_reason: "stop"`` even when it returned tool calls; that
  is normalised to ``tool_use`` when the answer held any.
- **Model list.** ``/api/tags`` → one ``ModelSpec`` per pulled model, id exactly as Ollama names
  it (``llama3.2:latest``). The catalog supplies capabilities when it knows the model; otherwise
  the spec is conservative: an 8192-token context (Ollama's smallest common default ``num_ctx``
  is 2048-8192, so a larger guess could overflow it silently), no tools, no vision, no
  reasoning. Embedding models are recognised by name ("embed" in it, or a known embedding
  model such as ``all-minilm``) and get their vector size. Every spec is local tier at zero
  cost, and the list is registered in the catalog so ``get_spec`` answers for these models.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import httpx

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
    Usage,
)
from providers.adapters.errors import retry_after_seconds

PROVIDER = "ollama"
DEFAULT_BASE_URL = "http://localhost:11434"

# Context window assumed for a model the catalog does not know (see the module docstring).
DEFAULT_CONTEXT_WINDOW = 8192
# Vector sizes of common embedding models, for when the catalog has no entry.
KNOWN_EMBEDDING_DIMS = {
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
    "snowflake-arctic-embed": 1024,
    "bge-m3": 1024,
    "bge-large": 1024,
}

CONNECT_TIMEOUT = 10.0
HEALTH_TIMEOUT = 5.0
HEALTH_DEGRADED_MS = 2000.0
# A local model may need a while to load into memory before it embeds anything.
EMBED_TIMEOUT = 120.0

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def _build_client(credential: ResolvedCredential, base_url: str) -> httpx.AsyncClient:
    headers = {"Accept": "application/json", **credential.extra_headers}
    token = credential.access_token or credential.api_key
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(120.0, connect=CONNECT_TIMEOUT),
        # Ollama is usually local: never route it through an HTTP(S)_PROXY from the environment.
        trust_env=False,
    )


_clients: ClientCache[httpx.AsyncClient] = ClientCache(_build_client)


class OllamaAdapter:
    """``ProviderAdapter`` for a (usually local) Ollama server."""

    name: ClassVar[str] = PROVIDER
    display_name: ClassVar[str] = "Ollama"
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    supports_embeddings: ClassVar[bool] = True
    # Ollama works without any key, so a credential that is not ``usable`` is still fine here.
    requires_credential: ClassVar[bool] = False

    # --- chat ----------------------------------------------------------------------------------

    async def stream(
        self, request: ChatRequest, credential: ResolvedCredential
    ) -> AsyncIterator[Event]:
        body = build_chat_body(request)
        # A read timeout, not a deadline: the longest silence tolerated between two chunks.
        http_timeout = httpx.Timeout(request.timeout, connect=min(CONNECT_TIMEOUT, request.timeout))
        try:
            async for event in self._stream_chat(credential, body, http_timeout, request.messages):
                yield event
        except _ThinkingUnsupported:
            del body["think"]
            async for event in self._stream_chat(credential, body, http_timeout, request.messages):
                yield event

    async def _stream_chat(
        self,
        credential: ResolvedCredential,
        body: dict[str, Any],
        http_timeout: httpx.Timeout,
        history: Sequence[ChatMessage],
    ) -> AsyncIterator[Event]:
        client = self._client(credential)
        base_url = str(client.base_url)
        model = body["model"]
        opened = False  # the server accepted the request and began answering
        tool_calls = 0
        done: dict[str, Any] | None = None
        try:
            async with client.stream(
                "POST", "/api/chat", json=body, timeout=http_timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    error = _status_error(response, model=model, base_url=base_url)
                    if "think" in body and "does not support thinking" in error.message:
                        raise _ThinkingUnsupported
                    raise error
                opened = True
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    chunk = _parse_line(line)
                    if "error" in chunk:
                        raise ProviderError(
                            ErrorKind.INTERRUPTED,
                            f"Ollama stream error: {chunk['error']}",
                            provider=PROVIDER,
                        )
                    message = chunk.get("message") or {}
                    if thinking := message.get("thinking"):
                        yield ThinkingDelta(thinking)
                    if text := message.get("content"):
                        yield TextDelta(text)
                    for call in message.get("tool_calls") or ():
                        yield _tool_call(call, position=tool_calls, history_length=len(history))
                        tool_calls += 1
                    if chunk.get("done"):
                        done = chunk
                        break
        except (ProviderError, _ThinkingUnsupported):
            raise
        except Exception as exc:
            raise map_error(exc, base_url=base_url, stream_opened=opened) from exc
        if done is None:
            raise ProviderError(
                ErrorKind.INTERRUPTED,
                "Ollama stream ended before the final done message",
                provider=PROVIDER,
            )
        yield Usage(
            input_tokens=int(done.get("prompt_eval_count") or 0),
            output_tokens=int(done.get("eval_count") or 0),
        )
        reason = _STOP_REASONS.get(str(done.get("done_reason") or "stop"), "other")
        if tool_calls and reason == "end_turn":
            reason = "tool_use"
        yield Done(stop_reason=reason)

    # --- catalog and health --------------------------------------------------------------------

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]:
        from providers import catalog  # lazily: keeps the adapter importable on its own

        payload = await self._get_json(credential, "/api/tags", http_timeout=HEALTH_TIMEOUT)
        specs = [
            model_spec(str(entry.get("name") or entry.get("model")), catalog.get_spec)
            for entry in payload.get("models") or ()
            if entry.get("name") or entry.get("model")
        ]
        catalog.register_dynamic(PROVIDER, specs)
        return specs

    async def health_check(self, credential: ResolvedCredential) -> Health:
        started = time.perf_counter()
        try:
            await self._get_json(credential, "/api/version", http_timeout=HEALTH_TIMEOUT)
        except ProviderError as error:
            latency = (time.perf_counter() - started) * 1000
            return Health(status="down", latency_ms=latency, error=error.message)
        latency = (time.perf_counter() - started) * 1000
        return Health(
            status="degraded" if latency > HEALTH_DEGRADED_MS else "healthy", latency_ms=latency
        )

    # --- embeddings ----------------------------------------------------------------------------

    async def embed(
        self, texts: Sequence[str], model: str, credential: ResolvedCredential
    ) -> list[list[float]]:
        if not texts:
            return []
        client = self._client(credential)
        base_url = str(client.base_url)
        try:
            response = await client.post(
                "/api/embed",
                json={"model": model, "input": list(texts)},
                timeout=httpx.Timeout(EMBED_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        except Exception as exc:
            raise map_error(exc, base_url=base_url, stream_opened=False) from exc
        if response.status_code >= 400:
            raise _status_error(response, model=model, base_url=base_url)
        embeddings = _json_object(response).get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != len(texts):
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                f"Ollama returned {len(embeddings) if isinstance(embeddings, list) else 'no'} "
                f"embeddings for {len(texts)} texts",
                provider=PROVIDER,
            )
        return [[float(value) for value in vector] for vector in embeddings]

    # --- helpers -------------------------------------------------------------------------------

    def _client(self, credential: ResolvedCredential) -> httpx.AsyncClient:
        return _clients.get(credential, (credential.base_url or DEFAULT_BASE_URL).rstrip("/"))

    async def _get_json(
        self, credential: ResolvedCredential, path: str, *, http_timeout: float
    ) -> dict[str, Any]:
        client = self._client(credential)
        base_url = str(client.base_url)
        try:
            response = await client.get(path, timeout=http_timeout)
        except Exception as exc:
            raise map_error(exc, base_url=base_url, stream_opened=False) from exc
        if response.status_code >= 400:
            raise _status_error(response, model="", base_url=base_url)
        return _json_object(response)


class _ThinkingUnsupported(Exception):
    """The model refused ``think``; the caller repeats the request without it."""


# --- request translation -----------------------------------------------------------------------


def build_chat_body(request: ChatRequest) -> dict[str, Any]:
    """The ``/api/chat`` body for a neutral request."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": translate_history(request.messages, system=request.system),
        "stream": True,
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                },
            }
            for tool in request.tools
        ]
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_tokens:
        options["num_predict"] = request.max_tokens
    if request.stop:
        options["stop"] = list(request.stop)
    # Ollama's chat API has no tool_choice: ``request.tool_choice`` cannot be honoured here.
    if options:
        body["options"] = options
    if request.reasoning:
        body["think"] = True
    return body


def translate_history(messages: Sequence[ChatMessage], *, system: str = "") -> list[dict[str, Any]]:
    """Neutral history → Ollama messages.

    One assistant message per run of assistant/thinking/tool_call entries (text joined, thinking
    joined into ``thinking``, calls in ``tool_calls``); each tool result becomes a ``tool``
    message naming its tool, looked up from the call when the result does not carry the name.
    """
    result: list[dict[str, Any]] = []
    if system:
        result.append({"role": "system", "content": system})
    tool_names: dict[str, str] = {}
    assistant: dict[str, Any] | None = None

    for message in messages:
        if message.role in ("assistant", "thinking", "tool_call"):
            if assistant is None:
                assistant = {"role": "assistant", "content": ""}
                result.append(assistant)
            if message.role == "assistant":
                assistant["content"] += message.content
            elif message.role == "thinking":
                assistant["thinking"] = assistant.get("thinking", "") + message.content
            else:
                tool_names[message.tool_call_id] = message.tool_name
                calls = assistant.setdefault("tool_calls", [])
                calls.append(
                    {
                        "type": "function",
                        "function": {
                            "index": len(calls),
                            "name": message.tool_name,
                            "arguments": dict(message.tool_arguments),
                        },
                    }
                )
            continue
        assistant = None
        if message.role == "tool_result":
            content = f"Error: {message.content}" if message.is_error else message.content
            result.append(
                {
                    "role": "tool",
                    "tool_name": message.tool_name or tool_names.get(message.tool_call_id, ""),
                    "content": content,
                }
            )
        else:  # user, system
            result.append({"role": message.role, "content": message.content})
    return result


# --- response translation ----------------------------------------------------------------------


def _parse_line(line: str) -> dict[str, Any]:
    try:
        chunk = json.loads(line)
    except ValueError as exc:
        raise ProviderError(
            ErrorKind.INTERRUPTED,
            f"Ollama sent a line that is not JSON: {line[:200]!r}",
            provider=PROVIDER,
        ) from exc
    if not isinstance(chunk, dict):
        raise ProviderError(
            ErrorKind.INTERRUPTED,
            f"Ollama sent a line that is not a JSON object: {line[:200]!r}",
            provider=PROVIDER,
        )
    return chunk


def _tool_call(call: dict[str, Any], *, position: int, history_length: int) -> ToolCall:
    function = call.get("function") or {}
    name = str(function.get("name") or "")
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):  # some models' templates yield JSON text
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            arguments = {"_raw": arguments}
    if not isinstance(arguments, dict):
        arguments = {"_value": arguments}
    call_id = str(call.get("id") or "") or stable_call_id(
        history_length=history_length, position=position, name=name, arguments=arguments
    )
    return ToolCall(call_id=call_id, name=name, arguments=arguments)


def stable_call_id(
    *, history_length: int, position: int, name: str, arguments: dict[str, Any]
) -> str:
    """An id for a tool call Ollama sent without one.

    Deterministic (the same answer gives the same id, so a replayed or resumed turn matches)
    and distinct across turns of one conversation, because the history only grows.
    """
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{history_length}:{position}:{name}:{canonical}".encode())
    return f"call_{digest.hexdigest()[:24]}"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError as exc:
        raise ProviderError(
            ErrorKind.UNAVAILABLE,
            f"Ollama answered {response.status_code} with a body that is not JSON",
            provider=PROVIDER,
            status=response.status_code,
        ) from exc
    if not isinstance(payload, dict):
        raise ProviderError(
            ErrorKind.UNAVAILABLE,
            "Ollama answered with JSON that is not an object",
            provider=PROVIDER,
            status=response.status_code,
        )
    return payload


# --- catalog -----------------------------------------------------------------------------------


def model_spec(name: str, get_spec: Any) -> ModelSpec:
    """A pulled model's spec: the catalog's when it knows the model, else a conservative one."""
    known: ModelSpec | None = get_spec(PROVIDER, name)
    dims = embedding_dims(name)
    if known is not None:
        if known.embedding_dims is None and dims is not None:
            known = _as_embedding_spec(known, dims)
        return known
    spec = ModelSpec(
        provider=PROVIDER,
        id=name,
        display_name=name.removesuffix(":latest"),
        tier="local",
        context_window=DEFAULT_CONTEXT_WINDOW,
        max_output=DEFAULT_CONTEXT_WINDOW,
        tools=False,
        vision=False,
        reasoning=False,
        input_cost_per_mtok=0.0,
        output_cost_per_mtok=0.0,
    )
    return _as_embedding_spec(spec, dims) if dims is not None else spec


def _as_embedding_spec(spec: ModelSpec, dims: int) -> ModelSpec:
    return ModelSpec(
        provider=spec.provider,
        id=spec.id,
        display_name=spec.display_name,
        tier=spec.tier,
        context_window=spec.context_window,
        max_output=0,
        tools=False,
        vision=False,
        reasoning=False,
        streaming=False,
        embedding_dims=dims,
        input_cost_per_mtok=spec.input_cost_per_mtok,
        output_cost_per_mtok=spec.output_cost_per_mtok,
    )


def embedding_dims(name: str) -> int | None:
    """The vector size of an embedding model recognised by its name, else None.

    Known models get their real size; an unknown model with "embed" in its name is still an
    embedding model, of a size we cannot tell (0 until the first embedding shows it).
    """
    base = name.split(":", 1)[0].rsplit("/", 1)[-1]
    if base in KNOWN_EMBEDDING_DIMS:
        return KNOWN_EMBEDDING_DIMS[base]
    return 0 if "embed" in base else None


# --- errors ------------------------------------------------------------------------------------


def _status_error(response: httpx.Response, *, model: str, base_url: str) -> ProviderError:
    status = response.status_code
    try:
        detail = str(response.json().get("error") or response.text)
    except (ValueError, AttributeError):
        detail = response.text or response.reason_phrase
    detail = detail.strip()[:500]
    if status == 404 and model and "not found" in detail:
        return ProviderError(
            ErrorKind.BAD_REQUEST,
            f"model {model} is not pulled on the Ollama server at {base_url}; "
            f"run `ollama pull {model}`",
            provider=PROVIDER,
            status=status,
        )
    if status in (401, 403):
        kind = ErrorKind.AUTH
    elif status == 429:
        kind = ErrorKind.RATE_LIMIT
    elif status in (408, 504):
        kind = ErrorKind.TIMEOUT
    elif status >= 500:
        kind = ErrorKind.UNAVAILABLE
    else:
        kind = ErrorKind.BAD_REQUEST
    return ProviderError(
        kind,
        f"Ollama {status}: {detail}",
        provider=PROVIDER,
        status=status,
        retry_after=retry_after_seconds(response.headers),
    )


def map_error(exc: BaseException, *, base_url: str, stream_opened: bool) -> ProviderError:
    """Classify a transport-level failure talking to Ollama.

    ``stream_opened`` says whether the server had accepted the request and started answering:
    a break after that is an interrupted answer, before it an unavailable server.
    """
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            ErrorKind.TIMEOUT, f"Ollama at {base_url} timed out", provider=PROVIDER
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(
            ErrorKind.UNAVAILABLE,
            f"cannot reach Ollama at {base_url}: is it running? ({exc})",
            provider=PROVIDER,
        )
    if isinstance(exc, (httpx.TransportError, httpx.StreamError)):
        kind = ErrorKind.INTERRUPTED if stream_opened else ErrorKind.UNAVAILABLE
        return ProviderError(
            kind,
            f"Ollama connection broke off: {type(exc).__name__}: {exc}",
            provider=PROVIDER,
        )
    return ProviderError(
        ErrorKind.INTERRUPTED if stream_opened else ErrorKind.UNAVAILABLE,
        f"Ollama request failed: {type(exc).__name__}: {exc}",
        provider=PROVIDER,
    )
