"""End to end over real daphne processes, real websockets, the Redis layer and fake upstreams."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type, text_of
from tests.conftest import token_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SONNET = "anthropic:claude-sonnet-4-6"


def anthropic_text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


async def test_resumed_conversation_sends_full_history_to_the_provider(
    alice: Any, upstreams: dict[str, str], shared_live_server: Any, fake_anthropic: Any
) -> None:
    """PRD AC-1 / M1-008: chat, close the socket, resume with the id on a new socket."""
    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)(upstreams)
    fake_anthropic.script(Script(text="Nice to meet you, Ada."), Script(text="You like tea."))

    first = await ChatClient.connect_url(server.ws_url, token)
    info, _ = await first.open(model=SONNET)
    await first.say("My name is Ada.")
    await first.say("I like tea.")
    await first.close()

    second = await ChatClient.connect_url(server.ws_url, token)
    fake_anthropic.script(Script(text="Your name is Ada and you like tea."))
    _, history = await second.open(conversation_id=info["conversation_id"], model=SONNET)
    assert [m["role"] for m in history["messages"]] == ["user", "assistant", "user", "assistant"]
    assert history["message_count"] == 4
    assert history["context_tokens"] > 0
    assert history["context_window"] > 0
    frames = await second.say("What do you know about me?")
    assert text_of(frames) == "Your name is Ada and you like tea."
    await second.close()

    sent = fake_anthropic.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert anthropic_text(sent[0]) == "My name is Ada."
    assert anthropic_text(sent[1]) == "Nice to meet you, Ada."
    assert anthropic_text(sent[4]) == "What do you know about me?"


async def test_two_sockets_on_two_daphne_processes_both_receive_the_turn(
    alice: Any,
    upstreams: dict[str, str],
    shared_live_server: Any,
    live_server_factory: Any,
    fake_anthropic: Any,
) -> None:
    token = await sync_to_async(token_for)(alice)
    server_a = await sync_to_async(shared_live_server)(upstreams)
    server_b = await sync_to_async(live_server_factory)(upstreams)
    fake_anthropic.script(Script(text="Shared across processes."))

    on_a = await ChatClient.connect_url(server_a.ws_url, token)
    info, _ = await on_a.open(model=SONNET)
    on_b = await ChatClient.connect_url(server_b.ws_url, token)
    await on_b.open(conversation_id=info["conversation_id"], model=SONNET)

    frames_a = await on_a.say("hello from A", client_id="from-a")
    frames_b = await on_b.until("message:done")
    assert text_of(frames_a) == text_of(frames_b) == "Shared across processes."
    created = of_type(frames_b, "message:created")
    assert created[0]["message"]["content"] == "hello from A"
    assert not of_type(frames_b, "message:ack")
    assert not of_type(frames_a, "message:created")
    assert frames_a[-1]["message_id"] == frames_b[-1]["message_id"]
    await on_a.close()
    await on_b.close()


async def test_socket_joining_mid_stream_gets_the_whole_reply_exactly_once(
    alice: Any,
    upstreams: dict[str, str],
    shared_live_server: Any,
    live_server_factory: Any,
    fake_anthropic: Any,
) -> None:
    token = await sync_to_async(token_for)(alice)
    server_a = await sync_to_async(shared_live_server)(upstreams)
    server_b = await sync_to_async(live_server_factory)(upstreams)
    reply = "".join(f"w{i:03d} " for i in range(120))
    fake_anthropic.script(Script(text=reply, chunk_size=5, delay=0.01))

    first = await ChatClient.connect_url(server_a.ws_url, token)
    info, _ = await first.open(model=SONNET)
    await first.send(
        {"type": "message:send", "content": "stream a long reply", "client_id": "long"}
    )
    # Wait until a good part has streamed, then join from another process.
    seen = 0
    while seen < 30:
        frame = await first.recv()
        seen += frame["type"] == "message:delta"
    late = await ChatClient.connect_url(server_b.ws_url, token)
    await late.open(conversation_id=info["conversation_id"], model=SONNET)
    late_frames = await late.until("message:done")
    await first.until("message:done")

    assert text_of(late_frames) == reply
    message_ids = {f["message_id"] for f in of_type(late_frames, "message:delta")}
    assert len(message_ids) == 1
    stored = await sync_to_async(lambda: Message.objects.get(pk=next(iter(message_ids))).content)()
    assert stored == reply
    await first.close()
    await late.close()


async def test_turn_survives_the_socket_that_started_it(
    alice: Any, upstreams: dict[str, str], shared_live_server: Any, fake_anthropic: Any
) -> None:
    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(shared_live_server)(upstreams)
    reply = "finished without anyone listening " * 5
    fake_anthropic.script(Script(text=reply, chunk_size=10, delay=0.02))
    client = await ChatClient.connect_url(server.ws_url, token)
    info, _ = await client.open(model=SONNET)
    await client.send({"type": "message:send", "content": "go", "client_id": "orphan"})
    await client.until("message:delta")
    await client.close()

    async def stored_reply() -> str:
        for _ in range(100):
            rows = await sync_to_async(
                lambda: list(
                    Message.objects.filter(
                        conversation_id=info["conversation_id"], role="assistant"
                    ).values_list("content", "status")
                )
            )()
            if rows:
                return rows[0][0] if rows[0][1] == "complete" else ""
            await asyncio.sleep(0.1)
        return ""

    assert await stored_reply() == reply
