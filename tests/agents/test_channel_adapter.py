"""Two doors into one conversation: the WebSocket adapter and an in-process channel adapter
share the gateway and the Redis channel layer, and each sees the other's turns live, each
message once (issue 12; docs/architecture/channel-protocol.md, "Multiplexing")."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents import channel as ch
from agents.models import Session
from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.channels import MemoryAdapter, streamed_text
from tests.agents.chat import ChatClient, of_type, text_of
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


@pytest.fixture
async def doors(alice: Any, upstreams: dict[str, str]) -> Any:
    socket = await ChatClient.connect(await sync_to_async(token_for)(alice))
    memory = await MemoryAdapter.connect(alice)
    yield socket, memory
    await socket.close()
    await memory.close()


async def test_a_turn_started_from_a_channel_is_seen_live_on_the_socket_once(
    doors: Any, fake_anthropic: Any
) -> None:
    socket, memory = doors
    state, _ = await memory.open(model=SONNET)
    await socket.open(conversation_id=state.conversation_id)

    fake_anthropic.script(Script(text="Ahoy from the other door."))
    await memory.send(ch.PostMessage("Hello from a bridge", client_id="m-1"))
    own = await memory.until(ch.TurnEnded)
    assert isinstance(own[0], ch.Accepted)
    assert streamed_text(own) == "Ahoy from the other door."

    seen = await socket.until("message:done")
    created = of_type(seen, "message:created")
    assert [f["message"]["content"] for f in created] == ["Hello from a bridge"]
    assert text_of(seen) == "Ahoy from the other door."
    assert len(of_type(seen, "message:done")) == 1
    assert await socket.nothing(timeout=1.0)  # nothing repeated afterwards
    assert await memory.quiet(timeout=0.5)


async def test_a_turn_started_on_the_socket_is_seen_live_by_the_channel_once(
    doors: Any, fake_anthropic: Any
) -> None:
    socket, memory = doors
    info, _ = await socket.open(model=SONNET)
    await memory.open(conversation_id=info["conversation_id"])

    fake_anthropic.script(Script(text="One reply, two doors."))
    frames = await socket.say("Hello from the terminal", client_id="s-1")
    assert text_of(frames) == "One reply, two doors."

    seen = await memory.until(ch.TurnEnded)
    posted = [e for e in seen if isinstance(e, ch.MessagePosted)]
    assert [e.message.body for e in posted] == ["Hello from the terminal"]
    assert posted[0].message.sender == ch.Sender("user")
    assert streamed_text(seen) == "One reply, two doors."
    assert len([e for e in seen if isinstance(e, ch.TurnEnded)]) == 1
    assert await memory.quiet(timeout=1.0)

    # The channel's view of the announced route is its own session, not the socket's.
    states = [e for e in seen if isinstance(e, ch.SessionState)]
    assert states
    assert all(s.session_id != info["session_id"] for s in states)
    assert all(s.model_override == "" for s in states)


async def test_the_channel_session_is_recorded_with_its_channel_and_ended(
    alice: Any, doors: Any
) -> None:
    _, memory = doors
    state, _ = await memory.open()
    session = await sync_to_async(Session.objects.get)(pk=state.session_id)
    assert session.client == "memory"
    await memory.close()
    session = await sync_to_async(Session.objects.get)(pk=state.session_id)
    assert session.ended_at is not None


async def test_refusals_come_back_as_failure_events(alice: Any, doors: Any) -> None:
    _, memory = doors
    await memory.send(ch.PostMessage("no conversation yet", client_id="x"))
    failure = await memory.next()
    assert isinstance(failure, ch.Failure)
    assert failure.code == "invalid"

    await memory.open()
    attachment = ch.Attachment("notes.txt", "text/plain", "mxc://server/abc", 12)
    await memory.send(ch.PostMessage("with a file", client_id="y", attachments=(attachment,)))
    failure = await memory.next()
    assert isinstance(failure, ch.Failure)
    assert "Attachments are not supported" in failure.message
    stored = await sync_to_async(
        lambda: list(
            Message.objects.filter(conversation__owner=alice).values_list("content", flat=True)
        )
    )()
    assert "with a file" not in stored
