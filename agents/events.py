"""The gateway's outbound events (``agents/channel.py``), built from stored rows, routing
decisions and errors.

Everything a channel is told about a conversation is built here (or, for a session's own state,
by ``ChatSession.state``), whichever channel it goes to: each adapter then translates the event
to its wire format (``agents/ws_adapter.py`` for protocol v1). ``failure_for`` is the one
mapping from Mosaic's errors (``core.errors``) to channel errors, as ``core/http_errors.py`` is
for HTTP.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from agents import channel as ch
from conversations.models import Conversation, Message
from core.errors import MosaicError
from routing.decision import RoutingDecision

INTERNAL_ERROR = "Something went wrong on the server; your message is saved."


def failure_for(exc: MosaicError) -> ch.Failure:
    wait = getattr(exc, "retry_after", None)
    retry_after = max(1, math.ceil(wait)) if isinstance(wait, int | float) and wait > 0 else None
    return ch.Failure(exc.code, exc.message, exc.retryable, retry_after)


def internal_failure(message: str = INTERNAL_ERROR) -> ch.Failure:
    return ch.Failure("internal", message, retryable=True)


def route_line_from_record(data: dict[str, Any]) -> ch.RouteLine:
    """The route line of a decision, from the full record stored with the message."""
    return ch.RouteLine(
        rule=data.get("rule"),
        reason=data.get("reason", ""),
        classification=data.get("classification"),
        fallbacks=tuple(f"{c['provider']}:{c['model']}" for c in data.get("fallbacks", [])),
        override=bool(data.get("override")),
        failover=bool(data.get("failover")),
        skipped=tuple(dict(s) for s in data.get("candidates_skipped", [])),
    )


def route_line(decision: RoutingDecision) -> ch.RouteLine:
    return route_line_from_record(decision.to_dict())


def canonical_message(message: Message, agent: str = "") -> ch.CanonicalMessage:
    """A stored message as every channel sees it (``agent``: whose replies these are)."""
    tool = None
    if message.role in (Message.Role.TOOL_CALL, Message.Role.TOOL_RESULT):
        tool = ch.ToolPart(
            call_id=message.tool_call_id,
            name=message.tool_name,
            arguments=message.tool_arguments,
            is_error=message.is_error,
        )
    model = None
    if message.provider:
        usage = None
        if message.input_tokens is not None:
            usage = ch.Usage(message.input_tokens or 0, message.output_tokens or 0)
        model = ch.ModelInfo(message.provider, message.model, message.latency_ms, usage)
    covers = None
    if message.role == Message.Role.CHECKPOINT:
        covers = (message.covers_from or 0, message.covers_to or 0)
    return ch.CanonicalMessage(
        id=str(message.id),
        sequence=message.sequence,
        role=message.role,  # type: ignore[arg-type]
        body=message.content,
        status=message.status,  # type: ignore[arg-type]
        created_at=message.created_at.isoformat(),
        sender=ch.sender_for(message.role, agent),
        client_id=message.client_id,
        tool=tool,
        model=model,
        routing=route_line_from_record(message.routing) if message.routing else None,
        covers=covers,
    )


def posted(message: Message, agent: str = "") -> ch.MessagePosted:
    return ch.MessagePosted(canonical_message(message, agent))


def history(
    *,
    conversation: Conversation,
    messages: Sequence[Message],
    message_count: int,
    context_tokens: int,
    context_window: int,
) -> ch.History:
    return ch.History(
        conversation_id=str(conversation.pk),
        title=conversation.title,
        messages=tuple(canonical_message(m, conversation.agent_slug) for m in messages),
        message_count=message_count,
        has_more=message_count > len(messages),
        context_tokens=context_tokens,
        context_window=context_window,
    )


def text(message_id: uuid.UUID, chunk: str, *, thinking: bool = False) -> ch.TextStreamed:
    return ch.TextStreamed(str(message_id), chunk, thinking)


def replay(snapshot: Sequence[ch.TextStreamed], known: set[str]) -> list[ch.TextStreamed]:
    """The text and thinking streamed so far for messages not yet stored, one event each."""
    merged: dict[tuple[bool, str], list[str]] = {}
    for event in snapshot:
        if event.message_id not in known:
            merged.setdefault((event.thinking, event.message_id), []).append(event.text)
    return [
        ch.TextStreamed(message_id, "".join(parts), thinking)
        for (thinking, message_id), parts in merged.items()
    ]


def merge_text(events: Sequence[ch.TextStreamed]) -> list[ch.TextStreamed]:
    """Consecutive chunks of the same message as one event (what a lagging relay sends)."""
    merged: list[ch.TextStreamed] = []
    for event in events:
        last = merged[-1] if merged else None
        if last is not None and (last.thinking, last.message_id) == (
            event.thinking,
            event.message_id,
        ):
            merged[-1] = ch.TextStreamed(last.message_id, last.text + event.text, last.thinking)
        else:
            merged.append(event)
    return merged


def tool_called(
    message_id: uuid.UUID, call_id: str, name: str, arguments: dict[str, Any]
) -> ch.ToolCalled:
    return ch.ToolCalled(str(message_id), call_id, name, arguments)


def tool_answered(
    message_id: uuid.UUID, call_id: str, name: str, result: str, *, is_error: bool
) -> ch.ToolAnswered:
    return ch.ToolAnswered(str(message_id), call_id, name, result, is_error)


def turn_ended(
    *,
    message_id: uuid.UUID | None,
    status: str,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    latency_ms: int,
    decision: RoutingDecision | None,
    memories: int = 0,
) -> ch.TurnEnded:
    return ch.TurnEnded(
        message_id=str(message_id or ""),
        status=status,
        provider=provider,
        model=model,
        usage=ch.Usage(input_tokens, output_tokens),
        latency_ms=latency_ms,
        routing=replace(route_line(decision), memories=memories) if decision else None,
    )


def turn_ended_from(message: Message) -> ch.TurnEnded:
    """``message:done`` rebuilt from the stored last reply of a turn (for a client that could
    not be told through the channel layer)."""
    return ch.TurnEnded(
        message_id=str(message.id),
        status=message.status,
        provider=message.provider,
        model=message.model,
        usage=ch.Usage(message.input_tokens or 0, message.output_tokens or 0),
        latency_ms=message.latency_ms or 0,
        routing=route_line_from_record(message.routing) if message.routing else None,
    )
