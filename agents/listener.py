"""A channel-layer address for adapters that are not Channels consumers.

A WebSocket consumer gets its channel name and its group messages from Channels. An adapter
that lives elsewhere (a Matrix bridge process, the in-process test adapter) uses a
``ChannelListener``: it takes a fresh channel name on the Redis channel layer and, while
running, hands every group message for its sessions to the gateway, exactly as the consumer's
``chat_event`` / ``chat_cancel`` handlers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer

from agents import channel as ch
from agents import fanout, gateway
from agents.session import ChatSession

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.gateway")

CATCH_UP_SECONDS = 2.0  # as for a WebSocket consumer (agents/consumers.py)


class ChannelListener:
    """One channel-layer address serving one or more sessions of one adapter."""

    def __init__(self, adapter: ch.ChannelAdapter) -> None:
        self.adapter = adapter
        self.channel_name = ""
        self.sessions: list[ChatSession] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        self.channel_name = await layer.new_channel("mosaic.listener.")
        self._task = asyncio.create_task(self._run())

    async def connect(self, user: User) -> ChatSession:
        """A session for ``user`` on this listener's address (call after ``start``)."""
        assert self.channel_name, "start the listener first"
        chat = await gateway.connect(
            user=user, adapter=self.adapter, channel_name=self.channel_name
        )
        self.sessions.append(chat)
        return chat

    async def stop(self) -> None:
        for chat in self.sessions:
            await gateway.disconnect(chat)
        self.sessions.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _receive(self, layer: Any) -> dict[str, Any]:
        """The next group message; meanwhile, as a WebSocket consumer does, sessions following
        a turn are caught up from the database (agents/consumers.py)."""
        reading = asyncio.ensure_future(layer.receive(self.channel_name))
        try:
            while True:
                following = [chat for chat in self.sessions if chat.following]
                done, _ = await asyncio.wait(
                    {reading}, timeout=CATCH_UP_SECONDS if following else None
                )
                if done:
                    message: dict[str, Any] = reading.result()
                    return message
                for chat in following:
                    await gateway.catch_up(chat)
        except BaseException:
            reading.cancel()
            raise

    async def _run(self) -> None:
        layer = get_channel_layer()
        assert layer is not None
        while True:
            message = await self._receive(layer)
            for chat in list(self.sessions):
                try:
                    if message.get("type") == "chat.event":
                        await fanout.deliver(chat, message)
                    elif message.get("type") == "chat.cancel" and message.get(
                        "conversation"
                    ) == str(chat.conversation_id):
                        await gateway.on_cancel_request(chat)
                except Exception:
                    logger.exception(
                        "listener %s: delivering %r failed", self.channel_name, message
                    )
