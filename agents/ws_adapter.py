"""Protocol v1 ↔ the canonical channel types: the WebSocket adapter's whole translation.

Every v1 client frame becomes one ``Inbound`` command and every ``Outbound`` event with a v1
frame becomes exactly that frame, field for field, so that the wire is what it was before the
channel interface existed. Events v1 has no frame for (typing, edits, redactions, reactions)
encode to ``None`` and are not sent. ``tests/agents/test_channel_mapping.py`` round-trips both
directions.
"""

from __future__ import annotations

from typing import Any

from agents import channel as ch
from agents.protocol import (
    ClientFrame,
    CommandExecute,
    CommandResult,
    ConversationHistory,
    ConversationOpen,
    ErrorFrame,
    MessageAck,
    MessageCancel,
    MessageCreated,
    MessageDelta,
    MessageDone,
    MessagePayload,
    MessageSend,
    Ping,
    Pong,
    RoutingInfo,
    ServerFrame,
    SessionInfo,
    ThinkingDelta,
    ToolCallFrame,
    ToolResultFrame,
    Usage,
)

# --- client frames → inbound ----------------------------------------------------------------------


def decode(frame: ClientFrame) -> ch.Inbound:
    if isinstance(frame, ConversationOpen):
        conversation = str(frame.conversation_id) if frame.conversation_id else None
        return ch.OpenConversation(conversation, frame.agent, frame.model)
    if isinstance(frame, MessageSend):
        return ch.PostMessage(frame.content, frame.client_id)
    if isinstance(frame, CommandExecute):
        return ch.RunCommand(frame.command, frame.args)
    if isinstance(frame, MessageCancel):
        return ch.CancelTurn()
    assert isinstance(frame, Ping)
    return ch.Ping()


def client_frame(command: ch.Inbound) -> dict[str, Any]:
    """The v1 frame a client sends for ``command`` (what ``decode`` reads back)."""
    if isinstance(command, ch.OpenConversation):
        return _without_none(
            {
                "type": "conversation:open",
                "conversation_id": command.conversation_id,
                "agent": command.agent,
                "model": command.model,
            }
        )
    if isinstance(command, ch.PostMessage):
        return {"type": "message:send", "content": command.content, "client_id": command.client_id}
    if isinstance(command, ch.RunCommand):
        return _without_none(
            {"type": "command:execute", "command": command.command, "args": command.args}
        )
    if isinstance(command, ch.CancelTurn):
        return {"type": "message:cancel"}
    return {"type": "ping"}


def _without_none(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if v is not None}


# --- outbound → server frames ---------------------------------------------------------------------


def routing_info(route: ch.RouteLine) -> RoutingInfo:
    return RoutingInfo(
        rule=route.rule,
        reason=route.reason,
        classification=route.classification,
        fallbacks=list(route.fallbacks),
        override=route.override,
        failover=route.failover,
        skipped=[dict(s) for s in route.skipped],
    )


def route_line(info: dict[str, Any]) -> ch.RouteLine:
    return ch.RouteLine(
        rule=info.get("rule"),
        reason=info.get("reason", ""),
        classification=info.get("classification"),
        fallbacks=tuple(info.get("fallbacks", ())),
        override=bool(info.get("override")),
        failover=bool(info.get("failover")),
        skipped=tuple(dict(s) for s in info.get("skipped", ())),
    )


def payload(message: ch.CanonicalMessage) -> MessagePayload:
    out = MessagePayload(
        id=message.id,
        sequence=message.sequence,
        role=message.role,
        content=message.body,
        status=message.status,
        created_at=message.created_at,
    )
    if message.client_id:
        out["client_id"] = message.client_id
    if message.tool is not None:
        out["tool_call_id"] = message.tool.call_id
        out["tool_name"] = message.tool.name
        out["tool_arguments"] = message.tool.arguments
        out["is_error"] = message.tool.is_error
    if message.model is not None:
        out["provider"] = message.model.provider
        out["model"] = message.model.model
        out["latency_ms"] = message.model.latency_ms
        if message.model.usage is not None:
            out["usage"] = Usage(
                input_tokens=message.model.usage.input_tokens,
                output_tokens=message.model.usage.output_tokens,
            )
    if message.routing is not None:
        out["routing"] = dict(routing_info(message.routing))
    if message.covers is not None:
        out["covers"] = list(message.covers)
    return out


def message(data: dict[str, Any], agent: str = "") -> ch.CanonicalMessage:
    """A v1 stored message as the canonical one (``agent``: whose replies, if known)."""
    tool = None
    if "tool_call_id" in data:
        tool = ch.ToolPart(
            call_id=data["tool_call_id"],
            name=data.get("tool_name", ""),
            arguments=data.get("tool_arguments"),
            is_error=bool(data.get("is_error")),
        )
    model = None
    if "provider" in data:
        usage = data.get("usage")
        model = ch.ModelInfo(
            provider=data["provider"],
            model=data.get("model", ""),
            latency_ms=data.get("latency_ms"),
            usage=ch.Usage(usage["input_tokens"], usage["output_tokens"]) if usage else None,
        )
    routing = data.get("routing")
    covers = data.get("covers")
    return ch.CanonicalMessage(
        id=data["id"],
        sequence=data["sequence"],
        role=data["role"],
        body=data["content"],
        status=data["status"],
        created_at=data["created_at"],
        sender=ch.sender_for(data["role"], agent),
        client_id=data.get("client_id", ""),
        tool=tool,
        model=model,
        routing=route_line(routing) if routing else None,
        covers=(covers[0], covers[1]) if covers else None,
    )


def encode(event: ch.Outbound) -> ServerFrame | None:
    """The v1 frame for ``event``; None for events v1 has no frame for."""
    if isinstance(event, ch.TextStreamed):
        if event.thinking:
            return ThinkingDelta(
                type="thinking:delta", message_id=event.message_id, text=event.text
            )
        return MessageDelta(type="message:delta", message_id=event.message_id, text=event.text)
    if isinstance(event, ch.SessionState):
        return SessionInfo(
            type="session:info",
            session_id=event.session_id,
            conversation_id=event.conversation_id,
            agent=event.agent,
            provider=event.provider,
            model=event.model,
            model_override=event.model_override,
            routing=routing_info(event.routing) if event.routing else None,
        )
    if isinstance(event, ch.History):
        return ConversationHistory(
            type="conversation:history",
            conversation_id=event.conversation_id,
            title=event.title,
            messages=[payload(m) for m in event.messages],
            message_count=event.message_count,
            has_more=event.has_more,
            context_tokens=event.context_tokens,
            context_window=event.context_window,
        )
    if isinstance(event, ch.Accepted):
        return MessageAck(
            type="message:ack",
            client_id=event.client_id,
            message_id=event.message_id,
            duplicate=event.duplicate,
        )
    if isinstance(event, ch.MessagePosted):
        return MessageCreated(type="message:created", message=payload(event.message))
    if isinstance(event, ch.ToolCalled):
        return ToolCallFrame(
            type="tool:call",
            message_id=event.message_id,
            call_id=event.call_id,
            name=event.name,
            arguments=event.arguments,
        )
    if isinstance(event, ch.ToolAnswered):
        return ToolResultFrame(
            type="tool:result",
            message_id=event.message_id,
            call_id=event.call_id,
            name=event.name,
            result=event.result,
            is_error=event.is_error,
        )
    if isinstance(event, ch.TurnEnded):
        return MessageDone(
            type="message:done",
            message_id=event.message_id,
            status=event.status,
            provider=event.provider,
            model=event.model,
            usage=Usage(
                input_tokens=event.usage.input_tokens, output_tokens=event.usage.output_tokens
            ),
            latency_ms=event.latency_ms,
            routing=routing_info(event.routing) if event.routing else None,
        )
    if isinstance(event, ch.CommandAnswered):
        result = CommandResult(
            type="command:result", command=event.command, ok=event.ok, output=event.output
        )
        if event.data is not None:
            result["data"] = event.data
        return result
    if isinstance(event, ch.Failure):
        return ErrorFrame(
            type="error", code=event.code, message=event.message, retryable=event.retryable
        )
    if isinstance(event, ch.Pong):
        return Pong(type="pong")
    return None  # Typing, MessageEdited, MessageRedacted, Reaction: not in v1


def event(frame: dict[str, Any]) -> ch.Outbound:
    """The canonical event a v1 server frame stands for (the inverse of ``encode``)."""
    kind = frame["type"]
    if kind in ("message:delta", "thinking:delta"):
        return ch.TextStreamed(
            frame["message_id"], frame["text"], thinking=kind == "thinking:delta"
        )
    if kind == "session:info":
        routing = frame.get("routing")
        return ch.SessionState(
            session_id=frame["session_id"],
            conversation_id=frame["conversation_id"],
            agent=frame["agent"],
            provider=frame["provider"],
            model=frame["model"],
            model_override=frame["model_override"],
            routing=route_line(routing) if routing else None,
        )
    if kind == "conversation:history":
        return ch.History(
            conversation_id=frame["conversation_id"],
            title=frame["title"],
            messages=tuple(message(m) for m in frame["messages"]),
            message_count=frame["message_count"],
            has_more=frame["has_more"],
            context_tokens=frame["context_tokens"],
            context_window=frame["context_window"],
        )
    if kind == "message:ack":
        return ch.Accepted(frame["client_id"], frame["message_id"], frame["duplicate"])
    if kind == "message:created":
        return ch.MessagePosted(message(frame["message"]))
    if kind == "tool:call":
        return ch.ToolCalled(
            frame["message_id"], frame["call_id"], frame["name"], frame["arguments"]
        )
    if kind == "tool:result":
        return ch.ToolAnswered(
            frame["message_id"], frame["call_id"], frame["name"], frame["result"], frame["is_error"]
        )
    if kind == "message:done":
        routing = frame.get("routing")
        usage = frame["usage"]
        return ch.TurnEnded(
            message_id=frame["message_id"],
            status=frame["status"],
            provider=frame["provider"],
            model=frame["model"],
            usage=ch.Usage(usage["input_tokens"], usage["output_tokens"]),
            latency_ms=frame["latency_ms"],
            routing=route_line(routing) if routing else None,
        )
    if kind == "command:result":
        return ch.CommandAnswered(frame["command"], frame["ok"], frame["output"], frame.get("data"))
    if kind == "error":
        return ch.Failure(frame["code"], frame["message"], frame["retryable"])
    if kind == "pong":
        return ch.Pong()
    raise ValueError(f"not a v1 server frame: {kind!r}")
