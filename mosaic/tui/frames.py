"""The chat socket's server frames as typed values, and the parser that makes them.

Every frame of docs/websocket-protocol.md that the server sends becomes a frozen dataclass
(unknown types become ``UnknownFrame``, so a newer server does not break an older client).
Independent of the connection (``client.py``) and of Textual; the view and scripts match on
these types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def of(cls, data: Any) -> Usage | None:
        if not isinstance(data, dict):
            return None
        return cls(_int(data, "input_tokens"), _int(data, "output_tokens"))


@dataclass(frozen=True)
class Routing:
    """Why a model answered: the routing decision as the server explains it."""

    rule: str
    reason: str
    override: bool = False
    failover: bool = False
    fallbacks: tuple[str, ...] = ()
    classification: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any) -> Routing | None:
        if not isinstance(data, dict):
            return None
        rule = data.get("rule")
        if isinstance(rule, dict):  # stored decisions may carry the rule as an object
            rule = rule.get("name") or rule.get("id")
        fallbacks = data.get("fallbacks") or ()
        return cls(
            rule="" if rule is None else str(rule),
            reason=_str(data, "reason"),
            override=bool(data.get("override")),
            failover=bool(data.get("failover")),
            fallbacks=tuple(
                f"{f.get('provider')}:{f.get('model')}" if isinstance(f, dict) else str(f)
                for f in fallbacks
            ),
            classification=_dict(data.get("classification")),
        )


@dataclass(frozen=True)
class StoredMessage:
    id: str
    sequence: int
    role: str  # user, assistant, thinking, tool_call, tool_result, system, checkpoint
    content: str
    status: str
    created_at: str
    client_id: str = ""
    tool_call_id: str = ""
    tool_name: str = ""
    tool_arguments: dict[str, Any] = field(default_factory=dict)
    is_error: bool = False
    provider: str = ""
    model: str = ""
    usage: Usage | None = None
    latency_ms: int | None = None
    routing: Routing | None = None

    @classmethod
    def of(cls, data: Any) -> StoredMessage:
        data = _dict(data)
        latency = data.get("latency_ms")
        return cls(
            id=_str(data, "id"),
            sequence=_int(data, "sequence"),
            role=_str(data, "role"),
            content=_str(data, "content"),
            status=_str(data, "status"),
            created_at=_str(data, "created_at"),
            client_id=_str(data, "client_id"),
            tool_call_id=_str(data, "tool_call_id"),
            tool_name=_str(data, "tool_name"),
            tool_arguments=_dict(data.get("tool_arguments")),
            is_error=bool(data.get("is_error")),
            provider=_str(data, "provider"),
            model=_str(data, "model"),
            usage=Usage.of(data.get("usage")),
            latency_ms=latency if isinstance(latency, int) else None,
            routing=Routing.of(data.get("routing")),
        )


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    conversation_id: str
    agent: str
    provider: str
    model: str
    model_override: str
    routing: Routing | None


@dataclass(frozen=True)
class ConversationHistory:
    conversation_id: str
    title: str
    messages: tuple[StoredMessage, ...]
    message_count: int
    has_more: bool
    context_tokens: int
    context_window: int
    # Set by the client: True when this answers a reopen after a reconnect.
    reopened: bool = False


@dataclass(frozen=True)
class MessageAck:
    client_id: str
    message_id: str
    duplicate: bool


@dataclass(frozen=True)
class MessageCreated:
    message: StoredMessage


@dataclass(frozen=True)
class TextDelta:
    message_id: str
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    message_id: str
    text: str


@dataclass(frozen=True)
class ToolCall:
    message_id: str
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    message_id: str
    call_id: str
    name: str
    result: str
    is_error: bool


@dataclass(frozen=True)
class MessageDone:
    message_id: str
    status: str  # complete | failed | cancelled
    provider: str
    model: str
    usage: Usage
    latency_ms: int
    routing: Routing | None


@dataclass(frozen=True)
class CommandResult:
    command: str
    ok: bool
    output: str
    data: dict[str, Any]
    # Set by the client for results of commands it sent on its own (e.g. /history after a turn).
    silent: bool = False


@dataclass(frozen=True)
class ServerError:
    code: str
    message: str
    retryable: bool


@dataclass(frozen=True)
class Pong:
    pass


@dataclass(frozen=True)
class UnknownFrame:
    type: str
    data: dict[str, Any]


ServerEvent = (
    SessionInfo
    | ConversationHistory
    | MessageAck
    | MessageCreated
    | TextDelta
    | ThinkingDelta
    | ToolCall
    | ToolResult
    | MessageDone
    | CommandResult
    | ServerError
    | Pong
    | UnknownFrame
)


class ProtocolError(Exception):
    """The server sent something that is not a protocol frame."""


def parse_frame(text: str | bytes) -> ServerEvent:
    """One server frame (JSON text) → a typed event. Raises ``ProtocolError`` on non-frames."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError("the server sent a frame that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("the server sent a frame without a type")
    kind = data["type"]
    match kind:
        case "session:info":
            return SessionInfo(
                session_id=_str(data, "session_id"),
                conversation_id=_str(data, "conversation_id"),
                agent=_str(data, "agent"),
                provider=_str(data, "provider"),
                model=_str(data, "model"),
                model_override=_str(data, "model_override"),
                routing=Routing.of(data.get("routing")),
            )
        case "conversation:history":
            messages = data.get("messages")
            return ConversationHistory(
                conversation_id=_str(data, "conversation_id"),
                title=_str(data, "title"),
                messages=tuple(
                    StoredMessage.of(m) for m in (messages if isinstance(messages, list) else [])
                ),
                message_count=_int(data, "message_count"),
                has_more=bool(data.get("has_more")),
                context_tokens=_int(data, "context_tokens"),
                context_window=_int(data, "context_window"),
            )
        case "message:ack":
            return MessageAck(
                _str(data, "client_id"), _str(data, "message_id"), bool(data.get("duplicate"))
            )
        case "message:created":
            return MessageCreated(StoredMessage.of(data.get("message")))
        case "message:delta":
            return TextDelta(_str(data, "message_id"), _str(data, "text"))
        case "thinking:delta":
            return ThinkingDelta(_str(data, "message_id"), _str(data, "text"))
        case "tool:call":
            return ToolCall(
                _str(data, "message_id"),
                _str(data, "call_id"),
                _str(data, "name"),
                _dict(data.get("arguments")),
            )
        case "tool:result":
            return ToolResult(
                _str(data, "message_id"),
                _str(data, "call_id"),
                _str(data, "name"),
                _str(data, "result"),
                bool(data.get("is_error")),
            )
        case "message:done":
            return MessageDone(
                message_id=_str(data, "message_id"),
                status=_str(data, "status") or "complete",
                provider=_str(data, "provider"),
                model=_str(data, "model"),
                usage=Usage.of(data.get("usage")) or Usage(),
                latency_ms=_int(data, "latency_ms"),
                routing=Routing.of(data.get("routing")),
            )
        case "command:result":
            return CommandResult(
                _str(data, "command"),
                bool(data.get("ok")),
                _str(data, "output"),
                _dict(data.get("data")),
            )
        case "error":
            return ServerError(
                _str(data, "code"), _str(data, "message"), bool(data.get("retryable"))
            )
        case "pong":
            return Pong()
    return UnknownFrame(kind, data)
