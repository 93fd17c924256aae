"""The provider contract: normalised events, errors, requests and the adapter protocol.

Everything above the providers app (runtime, gateway, routing) speaks only these types, so adding
a provider is one module in this package plus one line in ``providers/registry.py``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from core.errors import UpstreamError
from core.redact import redact_secrets

# --- normalised stream events ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str
    # Anthropic signs thinking blocks; the signature must be sent back with the block when the
    # same turn continues after a tool call. Empty for providers that do not sign.
    signature: str = ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Done:
    # Normalised: "end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "other".
    stop_reason: str


Event = TextDelta | ThinkingDelta | ToolCall | Usage | Done


# --- errors ------------------------------------------------------------------------------------


class ErrorKind(enum.StrEnum):
    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    BAD_REQUEST = "bad_request"
    UNAVAILABLE = "unavailable"
    # The stream started and then broke off before the provider said it was done.
    INTERRUPTED = "interrupted"


_RETRYABLE = {
    ErrorKind.RATE_LIMIT,
    ErrorKind.OVERLOADED,
    ErrorKind.TIMEOUT,
    ErrorKind.UNAVAILABLE,
    ErrorKind.INTERRUPTED,
}


_GENERIC_BY_KIND = {
    ErrorKind.AUTH: "refused the server's credentials; tell an administrator.",
    ErrorKind.RATE_LIMIT: "is rate limiting this server; try again shortly.",
    ErrorKind.OVERLOADED: "is overloaded; try again shortly.",
    ErrorKind.TIMEOUT: "did not answer in time.",
    ErrorKind.BAD_REQUEST: "refused the request.",
    ErrorKind.UNAVAILABLE: "cannot be reached right now.",
    ErrorKind.INTERRUPTED: "broke off its answer.",
}


USER_BASE_URL_FAILURE = "could not be used through this credential's base URL."


class ProviderError(UpstreamError):
    """Any failure talking to a provider, classified so callers know whether to retry.

    Its ``code`` is ``provider_<kind>`` (``provider_rate_limit``, ``provider_timeout``, …).
    The message is the upstream's words with anything shaped like a credential redacted (an
    upstream may quote back the key it refused); ``for_users_of_system_credential`` gives the
    one-sentence version that users of the installation's own key see.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        upstream: bool = True,
    ) -> None:
        super().__init__(redact_secrets(message), code=f"provider_{kind.value}")
        # False when Mosaic itself wrote the message (a deadline that passed): nothing in it
        # comes from the upstream, so every user may read it as it is.
        self.upstream = upstream
        self.kind = kind
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.retryable = kind in _RETRYABLE if retryable is None else retryable

    def for_users_of_system_credential(self) -> ProviderError:
        """The same failure in words for a user who did not configure the credential: what
        kind of failure, not what the upstream said about the installation's key or account."""
        generic = ProviderError(
            self.kind,
            f"{self.provider or 'The provider'} {_GENERIC_BY_KIND[self.kind]}",
            provider=self.provider,
            status=self.status,
            retry_after=self.retry_after,
            retryable=self.retryable,
        )
        generic.upstream_message = self.message
        return generic

    def for_users_of_their_own_base_url(self) -> ProviderError:
        """One answer for every failure through a user-set base URL, so that it cannot be used
        to tell closed, open and HTTP ports of the server's network apart."""
        uniform = ProviderError(
            ErrorKind.UNAVAILABLE,
            f"{self.provider or 'The provider'} {USER_BASE_URL_FAILURE}",
            provider=self.provider,
            retryable=False,
        )
        uniform.upstream_message = self.message
        return uniform

    upstream_message: str = ""

    def __repr__(self) -> str:
        return (
            f"ProviderError(kind={self.kind.value!r}, provider={self.provider!r}, "
            f"status={self.status!r}, retryable={self.retryable!r}, message={self.message!r})"
        )


# --- requests ----------------------------------------------------------------------------------

Role = Literal["system", "user", "assistant", "thinking", "tool_call", "tool_result"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One entry of conversation history in a provider-neutral form.

    ``tool_call`` entries carry ``tool_call_id``, ``tool_name`` and ``tool_arguments``;
    ``tool_result`` entries carry ``tool_call_id``, ``content`` (the result as text) and
    ``is_error``. ``thinking`` entries carry the reasoning text and its ``signature``. Consecutive
    assistant/thinking/tool_call entries belong to one assistant turn; adapters group them.
    """

    role: Role
    content: str = ""
    tool_call_id: str = ""
    tool_name: str = ""
    tool_arguments: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False
    signature: str = ""


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object


# "auto", "none", "required" (some tool), or the name of the one tool the model must call.
ToolChoice = Literal["auto", "none", "required"] | tuple[Literal["tool"], str]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: Sequence[ChatMessage]
    system: str = ""
    tools: Sequence[ToolSpec] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    # Sequences that end the reply (providers without the option ignore it: see each adapter).
    stop: Sequence[str] = ()
    tool_choice: ToolChoice | None = None
    # Ask for extended thinking / reasoning summaries where the model supports it.
    reasoning: bool = False
    timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """What an adapter needs to authenticate: an API key or an OAuth bearer token.

    The providers app resolves the acting user's credential into this; adapters never see users.
    """

    api_key: str = ""
    access_token: str = ""
    base_url: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)
    source: str = ""  # "user", "system" or "none": for explanations, never a secret
    # The base URL is the user's own (providers/outbound.py): failures are told in one sentence.
    user_base_url: bool = False

    @property
    def usable(self) -> bool:
        return bool(self.api_key or self.access_token)


# --- catalog and health ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelSpec:
    provider: str
    id: str
    display_name: str
    tier: str  # "premium" | "standard" | "cheap" | "local"
    context_window: int
    max_output: int
    tools: bool = True
    vision: bool = False
    reasoning: bool = False
    streaming: bool = True
    embedding_dims: int | None = None
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.id}"


@dataclass(frozen=True, slots=True)
class Health:
    # "unknown": not probed (the installation has nothing to probe it with).
    status: Literal["healthy", "degraded", "down", "unknown"]
    latency_ms: float | None = None
    error: str = ""


@runtime_checkable
class ProviderAdapter(Protocol):
    name: ClassVar[str]
    display_name: ClassVar[str]
    default_base_url: ClassVar[str]
    supports_embeddings: ClassVar[bool]
    # False for providers that work without a key (Ollama on a trusted network).
    requires_credential: ClassVar[bool]

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]: ...

    async def health_check(self, credential: ResolvedCredential) -> Health: ...

    def stream(self, request: ChatRequest, credential: ResolvedCredential) -> AsyncIterator[Event]:
        """Yield normalised events; raise ProviderError on any failure."""
        ...

    async def embed(
        self, texts: Sequence[str], model: str, credential: ResolvedCredential
    ) -> list[list[float]]: ...
