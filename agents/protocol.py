"""WebSocket protocol v1: the one definition of every frame (docs/websocket-protocol.md).

Client frames are validated with pydantic (unknown fields and wrong types are refused with a
message naming the field); server frames are TypedDicts, built on the hot path without
validation cost. The gateway never sees these: the WebSocket adapter (``agents/ws_adapter.py``)
translates them to and from the canonical channel types (``agents/channel.py``).
``tests/agents/test_protocol_doc.py`` checks the doc against these types.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import InvalidInput, TooLarge

PROTOCOL_VERSION = 1

# --- client → server ---------------------------------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConversationOpen(_Frame):
    type: Literal["conversation:open"]
    conversation_id: uuid.UUID | None = None
    agent: Annotated[str, Field(max_length=64, pattern=r"^[-a-zA-Z0-9_]+$")] | None = None
    # Extension: pin a model for the session from the start (``mosaic chat --model``).
    model: Annotated[str, Field(max_length=200)] | None = None


class MessageSend(_Frame):
    type: Literal["message:send"]
    content: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1, max_length=64)]


class CommandExecute(_Frame):
    type: Literal["command:execute"]
    command: Annotated[str, Field(min_length=1, max_length=10_000)]
    # Extension: structured arguments for commands that need more than one line (/agent new).
    args: dict[str, Any] | None = None


class MessageCancel(_Frame):
    type: Literal["message:cancel"]


class Ping(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[
    ConversationOpen | MessageSend | CommandExecute | MessageCancel | Ping,
    Field(discriminator="type"),
]
_client_frame: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)
CLIENT_TYPES = ("conversation:open", "message:send", "command:execute", "message:cancel", "ping")


class FrameError(InvalidInput):
    """A frame the server cannot accept; ``code`` (``invalid_json``, ``invalid_frame``,
    ``unknown_type``) goes into the error frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


# The codes of malformed frames (besides ``too_large``, a ``TooLarge``).
FRAME_ERROR_CODES = ("invalid_json", "invalid_frame", "unknown_type")

# A frame may be this much larger than the content limit (its JSON around the content).
FRAME_OVERHEAD_BYTES = 4096


def parse_client_frame(text: str | None, *, limit: int) -> ClientFrame:
    """Validate one client frame. ``limit`` is the largest message content accepted, in bytes
    (``MOSAIC_MAX_MESSAGE_BYTES``); the frame around it may add ``FRAME_OVERHEAD_BYTES``."""
    if text is None:
        raise FrameError("invalid_frame", "Frames must be JSON text, not binary.")
    max_bytes = limit + FRAME_OVERHEAD_BYTES
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise TooLarge(f"The frame is larger than the {limit // 1024} KB limit.")
    try:
        data = json.loads(text)
    except ValueError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object with a 'type'.")
    frame_type = data.get("type")
    if frame_type not in CLIENT_TYPES:
        raise FrameError(
            "unknown_type",
            f"Unknown frame type {frame_type!r}; expected one of {', '.join(CLIENT_TYPES)}.",
        )
    try:
        return _client_frame.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'frame'}: {err['msg']}"
            for err in exc.errors()
        )
        raise FrameError("invalid_frame", f"Invalid {frame_type} frame: {problems}.") from None


# --- server → client ---------------------------------------------------------------------------


class Usage(TypedDict):
    input_tokens: int
    output_tokens: int


class RoutingInfo(TypedDict):
    rule: str | None
    reason: str
    classification: dict[str, Any] | None
    fallbacks: list[str]
    override: bool
    failover: NotRequired[bool]
    skipped: NotRequired[list[dict[str, str]]]


class SessionInfo(TypedDict):
    type: Literal["session:info"]
    session_id: str
    conversation_id: str
    agent: str
    provider: str
    model: str
    model_override: str
    routing: NotRequired[RoutingInfo | None]


class MessagePayload(TypedDict):
    id: str
    sequence: int
    role: str
    content: str
    status: str
    created_at: str
    client_id: NotRequired[str]
    tool_call_id: NotRequired[str]
    tool_name: NotRequired[str]
    tool_arguments: NotRequired[dict[str, Any] | None]
    is_error: NotRequired[bool]
    provider: NotRequired[str]
    model: NotRequired[str]
    usage: NotRequired[Usage | None]
    latency_ms: NotRequired[int | None]
    routing: NotRequired[dict[str, Any] | None]
    covers: NotRequired[list[int] | None]


class ConversationHistory(TypedDict):
    type: Literal["conversation:history"]
    conversation_id: str
    title: str
    messages: list[MessagePayload]
    message_count: int
    has_more: bool
    context_tokens: int
    context_window: int


class MessageAck(TypedDict):
    type: Literal["message:ack"]
    client_id: str
    message_id: str
    duplicate: bool


class MessageCreated(TypedDict):
    type: Literal["message:created"]
    message: MessagePayload


class MessageDelta(TypedDict):
    type: Literal["message:delta"]
    message_id: str
    text: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking:delta"]
    message_id: str
    text: str


class ToolCallFrame(TypedDict):
    type: Literal["tool:call"]
    message_id: str
    call_id: str
    name: str
    arguments: dict[str, Any]


class ToolResultFrame(TypedDict):
    type: Literal["tool:result"]
    message_id: str
    call_id: str
    name: str
    result: str
    is_error: bool


class MessageDone(TypedDict):
    type: Literal["message:done"]
    message_id: str
    status: str  # complete | failed | cancelled
    provider: str
    model: str
    usage: Usage
    latency_ms: int
    routing: RoutingInfo | None


class CommandResult(TypedDict):
    type: Literal["command:result"]
    command: str
    ok: bool
    output: str
    data: NotRequired[dict[str, Any]]


class ErrorFrame(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    retryable: bool


class Pong(TypedDict):
    type: Literal["pong"]


ServerFrame = (
    SessionInfo
    | ConversationHistory
    | MessageAck
    | MessageCreated
    | MessageDelta
    | ThinkingDelta
    | ToolCallFrame
    | ToolResultFrame
    | MessageDone
    | CommandResult
    | ErrorFrame
    | Pong
)
SERVER_TYPES = (
    "session:info",
    "conversation:history",
    "message:ack",
    "message:created",
    "message:delta",
    "thinking:delta",
    "tool:call",
    "tool:result",
    "message:done",
    "command:result",
    "error",
    "pong",
)


def error_frame(code: str, message: str, *, retryable: bool = False) -> ErrorFrame:
    return {"type": "error", "code": code, "message": message, "retryable": retryable}
