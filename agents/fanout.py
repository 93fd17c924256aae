"""Getting a conversation's events to every client on it, through any door, on any process.

The client whose request caused an event gets it directly (no Redis round trip on the hot
path); the conversation's other clients get it through the Redis channel-layer group
(``live.group_name``), whichever process and channel they are on, as ``channel.to_wire`` data.
A client that joins mid-turn is given the text so far from the live buffer
(``live.live_snapshot``) and then the rest; ``deliver`` drops the overlap by index, so nothing
is shown twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from agents import channel as ch
from agents import events, live
from agents.events import merge_text
from agents.session import ChatSession
from conversations import selectors as conversation_selectors
from core.db import in_database_thread

logger = logging.getLogger("mosaic.gateway")


async def send_here(chat: ChatSession, event: ch.Outbound) -> None:
    if not chat.connected:
        return  # the client that started the turn left; the turn goes on for the others
    try:
        await chat.deliver(event)
    except Exception:  # a client going away under us is not the turn's problem
        chat.connected = False


async def publish(chat: ChatSession, event: ch.Outbound, *, turn: str = "", index: int = 0) -> None:
    """To the conversation's other clients, on any process (this one skips its own events)."""
    layer = get_channel_layer()
    assert layer is not None
    message = {
        "type": "chat.event",
        "conversation": str(chat.conversation_id),
        "event": ch.to_wire(event),
        "turn": turn,
        "index": index,
        "origin": chat.channel_name,
    }
    await layer.group_send(chat.group, message)


async def broadcast(chat: ChatSession, event: ch.Outbound, *, skip_origin: bool = False) -> None:
    """Send a conversation event to every client on it: this one directly, the others through
    the channel layer."""
    if not skip_origin:
        await send_here(chat, event)
    try:
        await publish(chat, event)
    except Exception:  # Redis is down: the others learn the outcome from the stored state
        logger.warning("publishing %s to %s failed", event.kind, chat.group, exc_info=True)


async def deliver(chat: ChatSession, message: dict[str, Any]) -> None:
    """Forward a conversation event from the channel layer to this client, once: not back to
    the client it came from, not again for a client that joined late, not for another
    conversation (a listener serving several sessions hears all of their groups)."""
    if message.get("origin") == chat.channel_name:
        return
    if message.get("conversation", str(chat.conversation_id)) != str(chat.conversation_id):
        return
    try:
        event = ch.from_wire(message["event"])
    except Exception:
        logger.warning("dropped an unreadable conversation event: %r", message, exc_info=True)
        return
    turn, index = message.get("turn", ""), message.get("index", 0)
    if index:
        if turn == chat.seen_turn and index <= chat.seen_index:
            return  # already replayed from the live buffer
        chat.seen_turn, chat.seen_index = turn, index
    if isinstance(event, ch.SessionState):
        await chat.deliver(chat.own_view(event))
        return
    message_id = getattr(event, "message_id", None)
    if message_id in chat.known_ids and not isinstance(event, ch.TurnEnded):
        return  # already in the history this client received
    if isinstance(event, ch.TurnEnded):
        if event.message_id and event.message_id == chat.caught_up:
            return  # already told from the database (``catch_up``)
        chat.following = ""
    elif isinstance(event, ch.TextStreamed | ch.ToolCalled) and not chat.following:
        chat.following = event.message_id
    await chat.deliver(event)  # type: ignore[arg-type]


async def catch_up(chat: ChatSession) -> None:
    """The channel layer (Redis) cannot be read: if this client was following another client's
    turn, tell it how that turn ended, from the database, once the end is stored."""
    if not chat.following or chat.conversation_id is None:
        return
    end = await in_database_thread(
        conversation_selectors.turn_end_after,
        user=chat.user,
        conversation_id=chat.conversation_id,
        message_id=chat.following,
    )
    if end is not None:
        chat.following, chat.caught_up = "", str(end.id)
        await chat.deliver(events.turn_ended_from(end))


async def join(chat: ChatSession) -> None:
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_add(chat.group, chat.channel_name)


async def leave(chat: ChatSession) -> None:
    if chat.conversation_id is None:
        return
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_discard(chat.group, chat.channel_name)


async def request_cancel(chat: ChatSession) -> None:
    """Ask whichever client runs the conversation's turn, on any process, to stop it."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(
        chat.group, {"type": "chat.cancel", "conversation": str(chat.conversation_id)}
    )


class DeltaRelay:
    """Relays a turn's text in order without making the provider's stream wait on a socket or on
    Redis.

    Two writers: one sends the chunks to this client, the other writes them to the live buffer
    (for clients that join mid-stream) and publishes them to the conversation's other clients.
    The first chunk goes out at once; chunks that pile up while a writer is busy are merged into
    one event per message, and the Redis writer gathers what comes within ``OTHERS_INTERVAL`` of
    a chunk into one write, so the cost of a reply follows how long it streams, not how many
    chunks the provider cut it into. ``drain`` waits until everything queued has gone out (it is
    called before any other event of the turn, which keeps the order on every client).
    """

    # How long the Redis writer gathers chunks before it writes (other sockets see the text at
    # most this much later than the one that asked; a drain cuts the wait short).
    OTHERS_INTERVAL = 0.04

    def __init__(self, chat: ChatSession, turn_id: str) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.here: asyncio.Queue[ch.TextStreamed] = asyncio.Queue()
        self.others: asyncio.Queue[ch.TextStreamed] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Future[None] | None = None
        self._draining = 0  # drains waiting: the Redis writer writes at once, gathering nothing

    async def push(self, event: ch.TextStreamed) -> None:
        if not self.tasks:
            self.tasks = [
                asyncio.create_task(self._send_here()),
                asyncio.create_task(self._send_to_others()),
            ]
        self.here.put_nowait(event)
        self.others.put_nowait(event)

    async def drain(self) -> None:
        if self.tasks:
            # Also the chunks that come while the writer is busy with an earlier batch: without
            # the count, it would gather those for a whole interval while the drain waits.
            self._draining += 1
            try:
                if self._wake is not None and not self._wake.done():
                    self._wake.set_result(None)
                await self.here.join()
                await self.others.join()
            finally:
                self._draining -= 1

    async def close(self) -> None:
        if self.tasks:
            await self.drain()
            for task in self.tasks:
                task.cancel()

    @staticmethod
    async def _batch(queue: asyncio.Queue[ch.TextStreamed]) -> list[ch.TextStreamed]:
        batch = [await queue.get()]
        while not queue.empty():
            batch.append(queue.get_nowait())
        return batch

    async def _send_here(self) -> None:
        while True:
            batch = await self._batch(self.here)
            try:
                for event in merge_text(batch):
                    await send_here(self.chat, event)
            finally:
                for _ in batch:
                    self.here.task_done()

    async def _send_to_others(self) -> None:
        while True:
            first = await self.others.get()
            if not self._draining:
                self._wake = asyncio.get_running_loop().create_future()
                await asyncio.wait({self._wake}, timeout=self.OTHERS_INTERVAL)
            batch = [first]
            while not self.others.empty():
                batch.append(self.others.get_nowait())
            try:
                for event in merge_text(batch):
                    index = await live.live_append(
                        self.chat.user.pk, self.chat.conversation_id, event
                    )
                    await publish(self.chat, event, turn=self.turn_id, index=index)
            except Exception:
                logger.exception("relaying the text of turn %s failed", self.turn_id)
            finally:
                for _ in batch:
                    self.others.task_done()
