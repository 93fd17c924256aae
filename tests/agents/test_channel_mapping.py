"""The mapping between protocol v1 and the canonical channel types, both ways, field for field
(agents/ws_adapter.py; docs/architecture/channel-protocol.md, "Mapping to protocol v1"), and the
canonical types' own serialisation for the Redis fan-out."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agents import channel as ch
from agents import ws_adapter
from agents.protocol import SERVER_TYPES, parse_client_frame
from core.errors import InvalidInput

ROUTING = {
    "rule": "coding-complex",
    "reason": "coding + complex matched rule 1 'coding-complex' → claude-opus-4-6; anthropic healthy",
    "classification": {"task_type": "coding", "complexity": "complex", "signals": ["code fence"]},
    "fallbacks": ["anthropic:claude-sonnet-4-6", "openai:gpt-5.4"],
    "override": False,
    "failover": True,
    "skipped": [{"provider": "zai", "model": "glm-5", "reason": "zai down"}],
}
USER_MESSAGE = {
    "id": "0a6e0000-0000-4000-8000-000000000001",
    "sequence": 1,
    "role": "user",
    "content": "Write a parser.",
    "status": "complete",
    "created_at": "2026-12-01T10:00:00+00:00",
    "client_id": "c-1",
}
ASSISTANT_MESSAGE = {
    "id": "0a6e0000-0000-4000-8000-000000000002",
    "sequence": 2,
    "role": "assistant",
    "content": "Here it is.",
    "status": "complete",
    "created_at": "2026-12-01T10:00:02+00:00",
    "provider": "anthropic",
    "model": "claude-opus-4-6",
    "latency_ms": 1840,
    "usage": {"input_tokens": 412, "output_tokens": 31},
    "routing": ROUTING,
}
TOOL_CALL = {
    "id": "0a6e0000-0000-4000-8000-000000000003",
    "sequence": 3,
    "role": "tool_call",
    "content": "",
    "status": "complete",
    "created_at": "2026-12-01T10:00:03+00:00",
    "tool_call_id": "toolu_01",
    "tool_name": "calculator",
    "tool_arguments": {"expression": "2+2"},
    "is_error": False,
    "provider": "anthropic",
    "model": "claude-opus-4-6",
    "latency_ms": None,
}
TOOL_RESULT = {
    "id": "0a6e0000-0000-4000-8000-000000000004",
    "sequence": 4,
    "role": "tool_result",
    "content": "4",
    "status": "complete",
    "created_at": "2026-12-01T10:00:04+00:00",
    "tool_call_id": "toolu_01",
    "tool_name": "calculator",
    "tool_arguments": None,
    "is_error": False,
}
CHECKPOINT = {
    "id": "0a6e0000-0000-4000-8000-000000000005",
    "sequence": 9,
    "role": "checkpoint",
    "content": "Summary of messages 1-8.",
    "status": "complete",
    "created_at": "2026-12-01T11:00:00+00:00",
    "covers": [1, 8],
}

SERVER_FRAMES: list[dict[str, Any]] = [
    {
        "type": "session:info",
        "session_id": "5b0d0000-0000-4000-8000-000000000000",
        "conversation_id": "9f1c0000-0000-4000-8000-000000000000",
        "agent": "general",
        "provider": "anthropic",
        "model": "claude-opus-4-6",
        "model_override": "",
        "routing": ROUTING,
    },
    {
        "type": "session:info",
        "session_id": "5b0d0000-0000-4000-8000-000000000000",
        "conversation_id": "9f1c0000-0000-4000-8000-000000000000",
        "agent": "general",
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "model_override": "anthropic:claude-sonnet-4-6",
        "routing": None,
    },
    {
        "type": "conversation:history",
        "conversation_id": "9f1c0000-0000-4000-8000-000000000000",
        "title": "A parser",
        "messages": [USER_MESSAGE, ASSISTANT_MESSAGE, TOOL_CALL, TOOL_RESULT, CHECKPOINT],
        "message_count": 240,
        "has_more": True,
        "context_tokens": 5_000,
        "context_window": 1_000_000,
    },
    {"type": "message:ack", "client_id": "c-2", "message_id": "m-1", "duplicate": False},
    {"type": "message:created", "message": USER_MESSAGE},
    {"type": "message:delta", "message_id": "m-2", "text": "Here "},
    {"type": "thinking:delta", "message_id": "m-3", "text": "Let me think"},
    {
        "type": "tool:call",
        "message_id": "m-4",
        "call_id": "toolu_01",
        "name": "calculator",
        "arguments": {"expression": "2+2"},
    },
    {
        "type": "tool:result",
        "message_id": "m-5",
        "call_id": "toolu_01",
        "name": "calculator",
        "result": "4",
        "is_error": False,
    },
    {
        "type": "message:done",
        "message_id": "m-2",
        "status": "complete",
        "provider": "anthropic",
        "model": "claude-opus-4-6",
        "usage": {"input_tokens": 412, "output_tokens": 31},
        "latency_ms": 1840,
        "routing": ROUTING,
    },
    {
        "type": "message:done",
        "message_id": "m-6",
        "status": "failed",
        "provider": "ollama",
        "model": "llama3.2",
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "latency_ms": 3,
        "routing": None,
    },
    {"type": "command:result", "command": "/help", "ok": True, "output": "Commands: …"},
    {
        "type": "command:result",
        "command": "/history",
        "ok": True,
        "output": "2 messages",
        "data": {"message_count": 2, "context_tokens": 90, "context_window": 200_000},
    },
    {"type": "error", "code": "conflict", "message": "A reply is running.", "retryable": True},
    {"type": "pong"},
]

CLIENT_FRAMES: list[dict[str, Any]] = [
    {"type": "conversation:open"},
    {
        "type": "conversation:open",
        "conversation_id": "9f1c0000-0000-4000-8000-000000000000",
        "agent": "coding-agent",
        "model": "claude-opus-4-6",
    },
    {"type": "message:send", "content": "hello", "client_id": "c-1"},
    {"type": "command:execute", "command": "/model auto"},
    {"type": "command:execute", "command": "/agent new", "args": {"name": "Writer"}},
    {"type": "message:cancel"},
    {"type": "ping"},
]


def test_every_v1_server_frame_type_is_covered_here() -> None:
    assert {f["type"] for f in SERVER_FRAMES} == set(SERVER_TYPES)


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: f["type"])
def test_a_server_frame_survives_v1_to_canonical_to_v1(frame: dict[str, Any]) -> None:
    assert ws_adapter.encode(ws_adapter.event(copy.deepcopy(frame))) == frame


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=lambda f: f["type"])
def test_a_canonical_event_survives_canonical_to_v1_to_canonical(frame: dict[str, Any]) -> None:
    event = ws_adapter.event(frame)
    encoded = ws_adapter.encode(event)
    assert encoded is not None
    assert ws_adapter.event(dict(encoded)) == event


@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=lambda f: f["type"])
def test_a_client_frame_survives_v1_to_canonical_to_v1(frame: dict[str, Any]) -> None:
    import json

    command = ws_adapter.decode(parse_client_frame(json.dumps(frame), limit=1024))
    assert ws_adapter.client_frame(command) == frame


def test_stored_messages_map_field_for_field() -> None:
    message = ws_adapter.message(ASSISTANT_MESSAGE, agent="coding-agent")
    assert message.body == "Here it is."
    assert message.sender == ch.Sender("agent", "coding-agent")
    assert message.model == ch.ModelInfo("anthropic", "claude-opus-4-6", 1840, ch.Usage(412, 31))
    assert message.routing is not None
    assert message.routing.failover is True
    assert message.routing.fallbacks == ("anthropic:claude-sonnet-4-6", "openai:gpt-5.4")
    call = ws_adapter.message(TOOL_CALL)
    assert call.tool == ch.ToolPart("toolu_01", "calculator", {"expression": "2+2"}, False)
    assert ws_adapter.message(CHECKPOINT).covers == (1, 8)
    assert ws_adapter.message(USER_MESSAGE).sender == ch.Sender("user")
    assert ws_adapter.payload(message) == ASSISTANT_MESSAGE


@pytest.mark.parametrize(
    "event",
    [
        ch.Typing(active=True),
        ch.MessageEdited("m-1", "better text"),
        ch.MessageRedacted("m-1", "spam"),
        ch.Reaction("m-1", "👍", ch.Sender("user")),
    ],
    ids=lambda e: e.kind,
)
def test_events_v1_has_no_frame_for_are_not_sent(event: ch.Outbound) -> None:
    assert ws_adapter.encode(event) is None


def _examples() -> list[ch.Inbound | ch.Outbound]:
    events: list[ch.Inbound | ch.Outbound] = [ws_adapter.event(f) for f in SERVER_FRAMES]
    events += [
        ws_adapter.decode(parse_client_frame(__import__("json").dumps(f), limit=1024))
        for f in CLIENT_FRAMES
    ]
    events += [
        ch.PostMessage(
            "with a file", "c-9", (ch.Attachment("a.txt", "text/plain", "mxc://s/a", 3),)
        ),
        ch.Typing(active=False),
        ch.MessageEdited("m-1", "better"),
        ch.MessageRedacted("m-1"),
        ch.Reaction("m-1", "👍", ch.Sender("agent", "coding-agent")),
    ]
    return events


def test_every_canonical_event_type_is_covered_by_the_examples() -> None:
    assert {type(e) for e in _examples()} == {*ch.INBOUND_TYPES, *ch.OUTBOUND_TYPES}


@pytest.mark.parametrize("event", _examples(), ids=lambda e: e.kind)
def test_canonical_events_survive_the_wire_format(event: ch.Inbound | ch.Outbound) -> None:
    import json

    assert ch.from_wire(json.loads(json.dumps(ch.to_wire(event)))) == event


def test_the_wire_format_refuses_wrong_data_and_ignores_fields_it_does_not_know() -> None:
    wire = ch.to_wire(ch.TextStreamed("m-1", "hi"))
    assert ch.from_wire({**wire, "added_in_a_later_version": 1}) == ch.TextStreamed("m-1", "hi")
    with pytest.raises(InvalidInput, match=r"TextStreamed\.text: expected a string"):
        ch.from_wire({**wire, "text": 7})
    with pytest.raises(InvalidInput, match=r"TextStreamed\.message_id: missing"):
        ch.from_wire({"kind": "streamed", "text": "hi"})
    with pytest.raises(InvalidInput, match="Unknown canonical event kind"):
        ch.from_wire({"kind": "telepathy"})
    posted = ch.to_wire(ch.MessagePosted(ws_adapter.message(USER_MESSAGE)))
    posted["message"]["role"] = "oracle"
    with pytest.raises(InvalidInput, match="role"):
        ch.from_wire(posted)
