"""The protocol client alone (no Textual): frames, backoff, reconnect and resend, failures.

The live tests run a real daphne whose providers are the fake upstreams (tests/tui/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest

from mosaic.fakes.base import Script
from mosaic.tui.client import (
    AUTH_REFUSED_MESSAGE,
    Backoff,
    ChatClient,
    ChatFatal,
    ClientEvent,
    Connected,
    Disconnected,
    _answered_client_ids,
    ws_url_for,
)
from mosaic.tui.frames import (
    CommandResult,
    ConversationHistory,
    MessageAck,
    MessageDone,
    SessionInfo,
    StoredMessage,
    TextDelta,
    UnknownFrame,
    parse_frame,
)
from tests.live import free_port
from tests.tui.conftest import ChatServer, in_thread

PINNED = "anthropic:claude-sonnet-4-6"

# --- pure parts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/chat/"),
        ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws/chat/"),
        ("https://mosaic.example.org", "wss://mosaic.example.org/ws/chat/"),
        ("https://example.org/mosaic/", "wss://example.org/mosaic/ws/chat/"),
    ],
)
def test_socket_url_follows_the_server_url(server: str, expected: str) -> None:
    assert ws_url_for(server) == expected


def test_socket_url_refuses_what_is_not_a_server_url() -> None:
    with pytest.raises(ValueError, match="not a server URL"):
        ws_url_for("127.0.0.1:8000")


def test_backoff_doubles_from_half_a_second_with_jitter_up_to_ten_seconds() -> None:
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    for delay, base in zip(delays, [0.5, 1, 2, 4, 8, 10, 10, 10], strict=True):
        assert base * 0.8 <= delay <= min(10.0, base * 1.2)
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next() <= 0.6


def test_every_server_frame_parses_into_its_type() -> None:
    frames: list[dict[str, Any]] = [
        {"type": "session:info", "session_id": "s", "conversation_id": "c", "agent": "general",
         "provider": "anthropic", "model": "m", "model_override": "", "routing": None},
        {"type": "conversation:history", "conversation_id": "c", "title": "", "messages": [
            {"id": "1", "sequence": 1, "role": "user", "content": "hi", "status": "complete",
             "created_at": "2026-01-01T00:00:00Z", "client_id": "x"}],
         "message_count": 1, "has_more": False, "context_tokens": 5, "context_window": 100},
        {"type": "message:ack", "client_id": "x", "message_id": "1", "duplicate": True},
        {"type": "message:delta", "message_id": "2", "text": "he"},
        {"type": "message:done", "message_id": "2", "status": "complete", "provider": "anthropic",
         "model": "m", "usage": {"input_tokens": 3, "output_tokens": 4}, "latency_ms": 12,
         "routing": {"rule": "r", "reason": "because", "classification": {}, "fallbacks": [],
                     "override": False, "failover": True}},
        {"type": "command:result", "command": "/history", "ok": True, "output": "x",
         "data": {"context_tokens": 9}},
        {"type": "some:future-frame", "x": 1},
    ]  # fmt: skip
    info, history, ack, delta, done, result, unknown = (parse_frame(json.dumps(f)) for f in frames)
    assert isinstance(info, SessionInfo)
    assert info.routing is None
    assert isinstance(history, ConversationHistory)
    assert history.messages[0] == StoredMessage(
        id="1", sequence=1, role="user", content="hi", status="complete",
        created_at="2026-01-01T00:00:00Z", client_id="x",
    )  # fmt: skip
    assert ack == MessageAck("x", "1", duplicate=True)
    assert delta == TextDelta("2", "he")
    assert isinstance(done, MessageDone)
    assert done.routing is not None
    assert done.routing.failover
    assert done.routing.reason == "because"
    assert done.usage.output_tokens == 4
    assert isinstance(result, CommandResult)
    assert result.data == {"context_tokens": 9}
    assert isinstance(unknown, UnknownFrame)
    assert unknown.type == "some:future-frame"


def _stored(id: str, role: str, client_id: str = "", status: str = "complete") -> StoredMessage:
    return StoredMessage(id, 0, role, "", status, "", client_id=client_id)


def test_a_message_counts_as_answered_once_an_assistant_reply_follows_it() -> None:
    messages = (
        _stored("1", "user", "a"),
        _stored("2", "assistant"),
        _stored("3", "user", "b"),
        _stored("4", "tool_call"),
        _stored("5", "tool_result"),
    )
    assert _answered_client_ids(messages) == {"a"}


# --- against a live server -------------------------------------------------------------------------


async def collect_until(
    client: ChatClient, kind: type, *, within: float = 20.0
) -> list[ClientEvent]:
    """Events up to and including the first of ``kind``."""
    events: list[ClientEvent] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        event = await client.next_event(wait=max(0.1, deadline - loop.time()))
        events.append(event)
        if isinstance(event, kind):
            return events


def text_of(events: list[ClientEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.fixture
async def client_factory() -> Any:
    clients: list[ChatClient] = []

    def make(server: ChatServer, **kwargs: Any) -> ChatClient:
        kwargs.setdefault("backoff", Backoff(initial=0.2, maximum=1.0))
        client = ChatClient(server.url, kwargs.pop("token", server.token), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.mark.e2e
async def test_client_opens_a_conversation_and_streams_a_reply(
    chat_server: ChatServer, fake_anthropic: Any, client_factory: Any
) -> None:
    fake_anthropic.script(Script(text="Hello there, **alice**.", chunk_size=4))
    client = client_factory(chat_server, model=PINNED)
    await client.wait_ready()
    assert client.session is not None
    assert client.session.model_override == PINNED
    client_id = await client.send_message("hello")
    events = await collect_until(client, MessageDone)
    ack = next(e for e in events if isinstance(e, MessageAck))
    assert (ack.client_id, ack.duplicate) == (client_id, False)
    assert text_of(events) == "Hello there, **alice**."
    done = events[-1]
    assert isinstance(done, MessageDone)
    assert (done.status, done.provider, done.model) == (
        "complete",
        "anthropic",
        "claude-sonnet-4-6",
    )
    assert done.routing is not None
    assert done.routing.override
    assert client.pending == {}
    assert len(fake_anthropic.chat_requests()) == 1


@pytest.mark.e2e
async def test_a_resent_client_id_is_acknowledged_as_duplicate_and_not_answered_twice(
    chat_server: ChatServer, fake_anthropic: Any, client_factory: Any
) -> None:
    client = client_factory(chat_server, model=PINNED)
    await client.wait_ready()
    client_id = await client.send_message("hello once")
    await collect_until(client, MessageDone)

    await client.send_message("hello once", client_id=client_id)
    ack = await client.next_event()
    assert isinstance(ack, MessageAck)
    assert ack.duplicate
    with pytest.raises(TimeoutError):
        await client.next_event(wait=1.5)  # no second turn
    assert len(fake_anthropic.chat_requests()) == 1


@pytest.mark.e2e
async def test_dropped_socket_mid_reply_reconnects_and_gets_the_rest_without_repeats(
    chat_server: ChatServer, fake_anthropic: Any, client_factory: Any
) -> None:
    reply = "one two three four five six seven eight nine ten"
    fake_anthropic.script(Script(text=reply, chunk_size=4, delay=0.15))
    client = client_factory(chat_server, model=PINNED)
    await client.wait_ready()
    conversation_id = client.conversation_id
    await client.send_message("count to ten")
    before = await collect_until(client, TextDelta)
    await client.reconnect()
    after = await collect_until(client, MessageDone)

    kinds = [type(e) for e in after]
    assert Disconnected in kinds
    assert Connected in kinds
    reopened = next(e for e in after if isinstance(e, ConversationHistory))
    assert reopened.reopened
    assert reopened.conversation_id == conversation_id
    # After the reopen the server replays the text so far as one delta, then streams the rest.
    replay_from = next(i for i, e in enumerate(after) if isinstance(e, ConversationHistory))
    assert text_of(after[replay_from:]) == reply
    assert text_of(before)
    assert reply.startswith(text_of(before))
    assert len(fake_anthropic.chat_requests()) == 1
    assert client.session is not None
    assert client.session.model_override == PINNED


@pytest.mark.e2e
async def test_message_sent_while_the_server_is_down_is_delivered_once_after_restart(
    own_chat_server: ChatServer, fake_anthropic: Any, client_factory: Any
) -> None:
    client = client_factory(own_chat_server, model=PINNED)
    await client.wait_ready()
    conversation_id = client.conversation_id
    await in_thread(own_chat_server.stop)
    await collect_until(client, Disconnected)
    client_id = await client.send_message("are you back?")
    assert client.pending[client_id].acked is False

    await in_thread(own_chat_server.restart)
    events = await collect_until(client, MessageDone, within=30)
    history = next(e for e in events if isinstance(e, ConversationHistory))
    assert history.reopened
    assert history.conversation_id == conversation_id
    acks = [e for e in events if isinstance(e, MessageAck)]
    assert [(a.client_id, a.duplicate) for a in acks] == [(client_id, False)]
    assert len(fake_anthropic.chat_requests()) == 1

    # Reconnecting again resends nothing: the message has its answer.
    await client.reconnect()
    again = await collect_until(client, ConversationHistory)
    assert not any(isinstance(e, MessageAck) for e in again)
    with pytest.raises(TimeoutError):
        await client.next_event(wait=1.0)
    assert len(fake_anthropic.chat_requests()) == 1


@pytest.mark.e2e
async def test_a_refused_token_is_one_sentence(
    chat_server: ChatServer, client_factory: Any
) -> None:
    client = client_factory(chat_server, token="mos_not-a-real-token")
    with pytest.raises(ChatFatal) as failure:
        await asyncio.wait_for(client.wait_ready(), 15)
    assert (failure.value.kind, failure.value.message) == ("auth", AUTH_REFUSED_MESSAGE)


@pytest.mark.e2e
async def test_an_unreachable_server_is_one_sentence() -> None:
    server = f"http://127.0.0.1:{free_port()}"
    client = ChatClient(server, "mos_x")
    try:
        with pytest.raises(ChatFatal) as failure:
            await asyncio.wait_for(client.wait_ready(), 15)
    finally:
        await client.close()
    assert failure.value.kind == "unreachable"
    assert failure.value.message.startswith(f"Cannot reach {server}: is the server running?")


@pytest.mark.e2e
async def test_an_unknown_conversation_is_one_sentence(
    chat_server: ChatServer, client_factory: Any
) -> None:
    missing = str(uuid.uuid4())
    client = client_factory(chat_server, conversation_id=missing)
    with pytest.raises(ChatFatal) as failure:
        await asyncio.wait_for(client.wait_ready(), 15)
    assert failure.value.kind == "not_found"
    assert failure.value.message == (
        f"Conversation {missing} not found: `mosaic conversations` lists yours."
    )
