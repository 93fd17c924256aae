"""Switching conversations on a socket around a turn: refused while the reply is generated,
taken once it has ended, even while the turn still does its bookkeeping after message:done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents import channel as ch
from agents import fanout, turn
from agents.session import ChatSession
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


async def test_switching_while_the_reply_is_generated_is_refused_and_the_reply_goes_on(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="word " * 40, chunk_size=5, delay=0.02))
    await alice_chat.open(model=SONNET)
    await alice_chat.send({"type": "message:send", "content": "talk", "client_id": "c-1"})
    await alice_chat.until("message:delta")
    await alice_chat.send({"type": "conversation:open"})
    frames = await alice_chat.until("error")
    assert frames[-1]["code"] == "conflict"
    assert "cancel it before switching" in frames[-1]["message"]
    frames = await alice_chat.until("message:done")
    assert frames[-1]["status"] == "complete"
    assert not of_type(frames, "conversation:history")


async def test_switching_just_after_message_done_waits_for_the_turns_bookkeeping(
    alice_chat: ChatClient, fake_anthropic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client saw the reply end, so it may switch at once, even before the end is published
    to the conversation's other clients; the turn's task still schedules the memory job (here
    slowly) for the conversation it ran in, not the one opened next."""
    scheduled: list[str] = []

    async def slow_schedule(chat: ChatSession) -> None:
        await asyncio.sleep(0.5)
        scheduled.append(str(chat.conversation_id))

    monkeypatch.setattr(turn, "schedule_memory_extraction", slow_schedule)
    publish = fanout.publish

    async def slow_publish(chat: ChatSession, event: ch.Outbound, **kwargs: Any) -> None:
        if isinstance(event, ch.TurnEnded):  # message:done reaches this client first
            await asyncio.sleep(0.3)
        await publish(chat, event, **kwargs)

    monkeypatch.setattr(fanout, "publish", slow_publish)
    fake_anthropic.script(Script(text="done."))
    info, _ = await alice_chat.open(model=SONNET)
    await alice_chat.say("hello")
    _, history = await alice_chat.open()  # a new conversation, sent right after message:done
    assert history["conversation_id"] != info["conversation_id"]
    assert history["messages"] == []
    assert scheduled == [info["conversation_id"]]
