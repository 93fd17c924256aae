"""Server frames of protocol v1, built from stored rows, routing decisions and errors.

Every frame a socket receives is built here (or, for the session's own state, by
``ChatSession.info``) from the TypedDicts in ``agents/protocol.py``, so mypy checks each field
against the one definition of the protocol. ``error_frame_for`` is the one mapping from Mosaic's
errors (``core.errors``) to socket ``error`` frames, as ``core/http_errors.py`` is for HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from agents.protocol import (
    ConversationHistory,
    DeltaFrame,
    ErrorFrame,
    MessageCreated,
    MessageDelta,
    MessageDone,
    MessagePayload,
    RoutingInfo,
    ThinkingDelta,
    ToolCallFrame,
    ToolResultFrame,
    Usage,
    error_frame,
)
from conversations.models import Conversation, Message
from core.errors import MosaicError
from routing.decision import RoutingDecision

INTERNAL_ERROR = "Something went wrong on the server; your message is saved."


def error_frame_for(exc: MosaicError) -> ErrorFrame:
    return error_frame(exc.code, exc.message, retryable=exc.retryable)


def internal_error_frame(message: str = INTERNAL_ERROR) -> ErrorFrame:
    return error_frame("internal", message, retryable=True)


def routing_info_from_dict(data: dict[str, Any]) -> RoutingInfo:
    """The socket's shape of a decision, from the full record stored with the message."""
    return RoutingInfo(
        rule=data.get("rule"),
        reason=data.get("reason", ""),
        classification=data.get("classification"),
        fallbacks=[f"{c['provider']}:{c['model']}" for c in data.get("fallbacks", [])],
        override=bool(data.get("override")),
        failover=bool(data.get("failover")),
        skipped=data.get("candidates_skipped", []),
    )


def routing_info(decision: RoutingDecision) -> RoutingInfo:
    return routing_info_from_dict(decision.to_dict())


def message_payload(message: Message) -> MessagePayload:
    payload = MessagePayload(
        id=str(message.id),
        sequence=message.sequence,
        role=message.role,
        content=message.content,
        status=message.status,
        created_at=message.created_at.isoformat(),
    )
    if message.client_id:
        payload["client_id"] = message.client_id
    if message.role in (Message.Role.TOOL_CALL, Message.Role.TOOL_RESULT):
        payload["tool_call_id"] = message.tool_call_id
        payload["tool_name"] = message.tool_name
        payload["tool_arguments"] = message.tool_arguments
        payload["is_error"] = message.is_error
    if message.provider:
        payload["provider"] = message.provider
        payload["model"] = message.model
        payload["latency_ms"] = message.latency_ms
        if message.input_tokens is not None:
            payload["usage"] = Usage(
                input_tokens=message.input_tokens or 0, output_tokens=message.output_tokens or 0
            )
    if message.routing:
        payload["routing"] = dict(routing_info_from_dict(message.routing))
    if message.role == Message.Role.CHECKPOINT:
        payload["covers"] = [message.covers_from or 0, message.covers_to or 0]
    return payload


def message_created(message: Message) -> MessageCreated:
    return MessageCreated(type="message:created", message=message_payload(message))


def history(
    *,
    conversation: Conversation,
    messages: Sequence[Message],
    message_count: int,
    context_tokens: int,
    context_window: int,
) -> ConversationHistory:
    return ConversationHistory(
        type="conversation:history",
        conversation_id=str(conversation.pk),
        title=conversation.title,
        messages=[message_payload(m) for m in messages],
        message_count=message_count,
        has_more=message_count > len(messages),
        context_tokens=context_tokens,
        context_window=context_window,
    )


def text_delta(message_id: uuid.UUID, text: str) -> MessageDelta:
    return MessageDelta(type="message:delta", message_id=str(message_id), text=text)


def thinking_delta(message_id: uuid.UUID, text: str) -> ThinkingDelta:
    return ThinkingDelta(type="thinking:delta", message_id=str(message_id), text=text)


def replay(snapshot: Sequence[DeltaFrame], known: set[str]) -> list[DeltaFrame]:
    """The text and thinking streamed so far for messages not yet stored, one frame each."""
    merged: dict[tuple[str, str], list[str]] = {}
    for frame in snapshot:
        if frame["message_id"] not in known:
            merged.setdefault((frame["type"], frame["message_id"]), []).append(frame["text"])
    frames: list[DeltaFrame] = []
    for (kind, message_id), parts in merged.items():
        text = "".join(parts)
        if kind == "thinking:delta":
            frames.append(ThinkingDelta(type="thinking:delta", message_id=message_id, text=text))
        else:
            frames.append(MessageDelta(type="message:delta", message_id=message_id, text=text))
    return frames


def merge_deltas(frames: Sequence[DeltaFrame]) -> list[DeltaFrame]:
    """Consecutive deltas of the same message as one frame (what a lagging relay sends)."""
    merged: list[DeltaFrame] = []
    for frame in frames:
        last = merged[-1] if merged else None
        if last is not None and (last["type"], last["message_id"]) == (
            frame["type"],
            frame["message_id"],
        ):
            last["text"] += frame["text"]
        else:
            merged.append(frame.copy())
    return merged


def tool_call(
    message_id: uuid.UUID, call_id: str, name: str, arguments: dict[str, Any]
) -> ToolCallFrame:
    return ToolCallFrame(
        type="tool:call",
        message_id=str(message_id),
        call_id=call_id,
        name=name,
        arguments=arguments,
    )


def tool_result(
    message_id: uuid.UUID, call_id: str, name: str, result: str, *, is_error: bool
) -> ToolResultFrame:
    return ToolResultFrame(
        type="tool:result",
        message_id=str(message_id),
        call_id=call_id,
        name=name,
        result=result,
        is_error=is_error,
    )


def done(
    *,
    message_id: uuid.UUID | None,
    status: str,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    decision: RoutingDecision | None,
) -> MessageDone:
    return MessageDone(
        type="message:done",
        message_id=str(message_id or ""),
        status=status,
        provider=provider,
        model=model,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        latency_ms=latency_ms,
        routing=routing_info(decision) if decision else None,
    )
