"""Getting a conversation's frames to every socket on it, on any process.

The socket that runs a turn is sent its frames directly (no Redis round trip on the hot path);
the conversation's other sockets get them through the Redis channel layer group
(``live.group_name``), so a socket on another daphne process sees them too. A socket that joins
mid-turn is given the text so far from the live buffer (``live.live_snapshot``) and then the
rest; ``deliver`` drops the overlap by index, so nothing is shown twice.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.layers import get_channel_layer

from agents import live
from agents.frames import merge_deltas
from agents.protocol import DeltaFrame, ServerFrame
from agents.session import ChatSession

logger = logging.getLogger("mosaic.gateway")


async def send_here(chat: ChatSession, frame: ServerFrame) -> None:
    if not chat.connected:
        return  # the socket that started the turn left; the turn goes on for the others
    try:
        await chat.send(frame)
    except Exception:  # a socket closing under us is not the turn's problem
        chat.connected = False


async def publish(chat: ChatSession, frame: ServerFrame, *, turn: str = "", index: int = 0) -> None:
    """To the conversation's other sockets, on any process (this one skips its own events)."""
    layer = get_channel_layer()
    assert layer is not None
    event = {
        "type": "chat.event",
        "frame": frame,
        "turn": turn,
        "index": index,
        "origin": chat.channel_name,
    }
    await layer.group_send(chat.group, event)


async def broadcast(chat: ChatSession, frame: ServerFrame, *, skip_origin: bool = False) -> None:
    """Send a conversation event to every socket on it: this one directly, the others through
    the channel layer."""
    if not skip_origin:
        await send_here(chat, frame)
    await publish(chat, frame)


async def deliver(chat: ChatSession, event: dict[str, Any]) -> None:
    """Forward a conversation event to this socket, without repeats for a socket that joined late."""
    if event.get("origin") == chat.channel_name:
        return
    frame: ServerFrame = event["frame"]
    turn, index = event.get("turn", ""), event.get("index", 0)
    if index:
        if turn == chat.seen_turn and index <= chat.seen_index:
            return  # already replayed from the live buffer
        chat.seen_turn, chat.seen_index = turn, index
    if frame.get("message_id") in chat.known_ids and frame["type"] != "message:done":
        return  # already in the history this socket received
    await chat.send(frame)


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
    """Ask whichever socket runs the conversation's turn, on any process, to stop it."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(chat.group, {"type": "chat.cancel"})


class DeltaRelay:
    """Relays a turn's deltas in order without making the provider's stream wait on Redis.

    Each delta goes to this socket at once; one task then writes it to the live buffer (for
    sockets that join mid-stream) and publishes it to the conversation's other sockets. When
    Redis is slower than the provider, the deltas that piled up are merged into one frame per
    message, so the cost per token stays flat under load. ``drain`` waits until everything
    queued has gone out (called before any other event of the turn, which keeps the order on
    every socket).
    """

    def __init__(self, chat: ChatSession, turn_id: str) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.queue: asyncio.Queue[DeltaFrame] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def push(self, frame: DeltaFrame) -> None:
        await send_here(self.chat, frame)
        if self.task is None:
            self.task = asyncio.create_task(self._run())
        self.queue.put_nowait(frame)

    async def drain(self) -> None:
        if self.task is not None:
            await self.queue.join()

    async def close(self) -> None:
        if self.task is not None:
            await self.drain()
            self.task.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                for frame in merge_deltas(batch):
                    index = await live.live_append(
                        self.chat.user.pk, self.chat.conversation_id, frame
                    )
                    await publish(self.chat, frame, turn=self.turn_id, index=index)
            except Exception:
                logger.exception("relaying deltas of turn %s failed", self.turn_id)
            finally:
                for _ in batch:
                    self.queue.task_done()
