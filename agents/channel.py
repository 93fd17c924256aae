"""The channel interface: how any chat network reaches Mosaic's conversations.

A ``ChannelAdapter`` connects one outside client (a WebSocket, later a Matrix room or a Discord
channel) to the gateway. The gateway speaks only the canonical types below: it receives
``Inbound`` commands from adapters and delivers ``Outbound`` events to them; each adapter
translates between these and its own wire format. The WebSocket consumer is the first adapter
(its wire format is protocol v1, ``agents/protocol.py``; the exact mapping is
``agents/ws_adapter.py``); docs/architecture/channel-protocol.md is the design for the rest.

Every type is a frozen dataclass with a ``kind``, serialisable with ``to_wire``/``from_wire``
(plain JSON data, for the Redis fan-out between processes), and validated on the way in:
``from_wire`` refuses a wrong or missing field with ``InvalidInput`` and ignores a field it does
not know, so that processes of two neighbouring versions can share a conversation during a
rolling upgrade (docs/architecture/channel-protocol.md, "Versioning").
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar, Union, get_args, get_origin

from core.errors import InvalidInput

Role = Literal["user", "assistant", "thinking", "tool_call", "tool_result", "system", "checkpoint"]
Status = Literal["streaming", "complete", "failed", "cancelled"]
SenderKind = Literal["user", "agent", "system"]

PROTOCOL_VERSION = 1


# --- the canonical message -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender:
    """Who said it: the conversation's owner, an agent, or Mosaic itself. A channel maps it to
    its own identity (a Matrix ghost user per agent, the linked account for the user)."""

    kind: SenderKind
    agent: str = ""  # the agent's slug when kind is "agent"


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class RouteLine:
    """Why this model answered: the routing decision as every client shows it."""

    rule: str | None
    reason: str
    classification: dict[str, Any] | None
    fallbacks: tuple[str, ...] = ()
    override: bool = False
    failover: bool = False
    skipped: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Which model produced a message, what it cost and how long it took."""

    provider: str
    model: str
    latency_ms: int | None = None
    usage: Usage | None = None


@dataclass(frozen=True, slots=True)
class ToolPart:
    """A tool call (``role`` tool_call) or its result (``role`` tool_result)."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message (a channel's upload). Mosaic stores the reference; v1
    has no attachments, so the WebSocket adapter never produces one."""

    name: str
    media_type: str
    url: str
    size: int = 0


@dataclass(frozen=True, slots=True)
class CanonicalMessage:
    """One stored message of a conversation, in the form every channel translates from.

    ``body`` is the text as written (Markdown for model replies); ``formatted_body`` is an
    optional rendering (HTML for Matrix) that a channel may fill in; ``thread`` and
    ``reply_to`` map conversation threads where a channel has them."""

    id: str
    sequence: int
    role: Role
    body: str
    status: Status
    created_at: str
    sender: Sender
    client_id: str = ""
    formatted_body: str = ""
    thread: str = ""
    reply_to: str = ""
    attachments: tuple[Attachment, ...] = ()
    tool: ToolPart | None = None
    model: ModelInfo | None = None
    routing: RouteLine | None = None
    covers: tuple[int, int] | None = None  # a checkpoint: the sequence numbers it stands for


def sender_for(role: str, agent: str = "") -> Sender:
    if role == "user":
        return Sender("user")
    if role in ("system", "checkpoint"):
        return Sender("system")
    return Sender("agent", agent)


# --- inbound: what a channel asks of the gateway ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenConversation:
    kind: ClassVar[str] = "open"
    conversation_id: str | None = None  # None: a new conversation
    agent: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class PostMessage:
    kind: ClassVar[str] = "post"
    content: str
    client_id: str  # idempotency key: a resend with the same id is stored and answered once
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class RunCommand:
    kind: ClassVar[str] = "command"
    command: str
    args: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CancelTurn:
    kind: ClassVar[str] = "cancel"


@dataclass(frozen=True, slots=True)
class Ping:
    kind: ClassVar[str] = "ping"


Inbound = OpenConversation | PostMessage | RunCommand | CancelTurn | Ping


# --- outbound: what the gateway delivers to a channel --------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionState:
    """Which conversation, agent and model the channel's session is on, and why."""

    kind: ClassVar[str] = "session"
    session_id: str
    conversation_id: str
    agent: str
    provider: str
    model: str
    model_override: str
    routing: RouteLine | None = None


@dataclass(frozen=True, slots=True)
class History:
    kind: ClassVar[str] = "history"
    conversation_id: str
    title: str
    messages: tuple[CanonicalMessage, ...]
    message_count: int
    has_more: bool
    context_tokens: int
    context_window: int


@dataclass(frozen=True, slots=True)
class Accepted:
    """The channel's own message is stored (``duplicate``: it had been already)."""

    kind: ClassVar[str] = "accepted"
    client_id: str
    message_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A stored message another channel (or Mosaic) added to the conversation."""

    kind: ClassVar[str] = "posted"
    message: CanonicalMessage


@dataclass(frozen=True, slots=True)
class TextStreamed:
    """More text of a reply being written (``thinking``: of the model's visible reasoning)."""

    kind: ClassVar[str] = "streamed"
    message_id: str
    text: str
    thinking: bool = False


@dataclass(frozen=True, slots=True)
class ToolCalled:
    kind: ClassVar[str] = "tool_called"
    message_id: str
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolAnswered:
    kind: ClassVar[str] = "tool_answered"
    message_id: str
    call_id: str
    name: str
    result: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The reply is over: ``status`` complete, failed or cancelled."""

    kind: ClassVar[str] = "turn_ended"
    message_id: str
    status: str
    provider: str
    model: str
    usage: Usage
    latency_ms: int
    routing: RouteLine | None


@dataclass(frozen=True, slots=True)
class CommandAnswered:
    kind: ClassVar[str] = "command_answered"
    command: str
    ok: bool
    output: str
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Something the channel asked for failed; ``code`` is one of core.errors' codes."""

    kind: ClassVar[str] = "failure"
    code: str
    message: str
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class Pong:
    kind: ClassVar[str] = "pong"


# Events v1 has no frame for: channels with richer models (Matrix) use them; the WebSocket
# adapter drops them (docs/architecture/channel-protocol.md, "Mapping to protocol v1").
@dataclass(frozen=True, slots=True)
class Typing:
    kind: ClassVar[str] = "typing"
    active: bool


@dataclass(frozen=True, slots=True)
class MessageEdited:
    kind: ClassVar[str] = "edited"
    message_id: str
    body: str


@dataclass(frozen=True, slots=True)
class MessageRedacted:
    kind: ClassVar[str] = "redacted"
    message_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reaction:
    kind: ClassVar[str] = "reaction"
    message_id: str
    key: str
    sender: Sender


Outbound = (
    SessionState
    | History
    | Accepted
    | MessagePosted
    | TextStreamed
    | ToolCalled
    | ToolAnswered
    | TurnEnded
    | CommandAnswered
    | Failure
    | Pong
    | Typing
    | MessageEdited
    | MessageRedacted
    | Reaction
)


# --- the adapter ---------------------------------------------------------------------------------


class ChannelAdapter(Protocol):
    """One outside client of a conversation. The gateway calls ``deliver`` for every event of
    the conversation (and of the adapter's own requests), in order; an adapter must not block
    the gateway for long (queue and send)."""

    channel: ClassVar[str]  # "websocket", "matrix", …: in logs and session records

    async def deliver(self, event: Outbound) -> None: ...


# --- serialisation for the Redis fan-out ----------------------------------------------------------

_E = TypeVar("_E")
INBOUND_TYPES: tuple[type, ...] = get_args(Inbound)
OUTBOUND_TYPES: tuple[type, ...] = get_args(Outbound)
_BY_KIND: dict[str, type] = {t.kind: t for t in (*INBOUND_TYPES, *OUTBOUND_TYPES)}  # type: ignore[attr-defined]


def to_wire(event: Inbound | Outbound) -> dict[str, Any]:
    """Plain JSON data (``{"kind": …, fields…}``) for a canonical event."""
    data: dict[str, Any] = _plain(event)
    data["kind"] = event.kind
    return data


def from_wire(data: dict[str, Any]) -> Inbound | Outbound:
    """The canonical event ``to_wire`` made; a wrong or missing field is ``InvalidInput``."""
    cls = _BY_KIND.get(str(data.get("kind")))
    if cls is None:
        raise InvalidInput(f"Unknown canonical event kind {data.get('kind')!r}.")
    event: Inbound | Outbound = _build(
        cls, {k: v for k, v in data.items() if k != "kind"}, cls.__name__
    )
    return event


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@functools.cache
def _shape(cls: type) -> tuple[dict[str, Any], dict[str, bool]]:
    """A dataclass's field types and whether each is required (computed once per class)."""
    hints = typing.get_type_hints(cls)
    required = {
        f.name: f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in dataclasses.fields(cls)
    }
    return hints, required


def _build(cls: type[_E], data: dict[str, Any], where: str) -> _E:
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: expected an object.")
    hints, required = _shape(cls)  # type: ignore[arg-type]  # classes are hashable
    values: dict[str, Any] = {}
    for name, needed in required.items():
        if name not in data:
            if needed:
                raise InvalidInput(f"{where}.{name}: missing.")
            continue
        values[name] = _coerce(hints[name], data[name], f"{where}.{name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None:
            if type(None) in options:
                return None
            raise InvalidInput(f"{where}: must not be null.")
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except InvalidInput as exc:
                errors.append(exc.message)
        raise InvalidInput(errors[0] if errors else f"{where}: invalid.")
    if origin is Literal:
        if value not in get_args(hint):
            raise InvalidInput(
                f"{where}: {value!r} is not one of {', '.join(map(repr, get_args(hint)))}."
            )
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise InvalidInput(f"{where}: expected a list.")
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise InvalidInput(f"{where}: expected {len(args)} items.")
        return tuple(
            _coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidInput(f"{where}: expected an object.")
        return dict(value)
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidInput(f"{where}: expected true or false.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{where}: expected a whole number.")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: expected a string.")
        return value
    raise InvalidInput(f"{where}: unsupported type {hint!r}.")
