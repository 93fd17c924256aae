"""The chat socket: the WebSocket channel adapter. Thin: authenticate, parse protocol v1 frames
into canonical commands for the gateway, and encode the gateway's events as v1 frames
(``agents/ws_adapter.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

from agents import channel as ch
from agents import events, fanout, gateway, ws_adapter
from agents.protocol import parse_client_frame
from agents.session import ChatSession
from core.errors import MosaicError

logger = logging.getLogger("mosaic.socket")

CLOSE_UNAUTHENTICATED = 4401
# How often a consumer tries the channel layer again while Redis is down.
LAYER_RETRY_SECONDS = 1.0


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    channel: ClassVar[str] = "websocket"
    chat: ChatSession | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept-then-close so the client sees our 4401 rather than a bare HTTP 403.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.chat = await gateway.connect(user=user, adapter=self, channel_name=self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.chat is not None:
            await gateway.disconnect(self.chat)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.chat is None:
            return
        try:
            frame = parse_client_frame(text_data, limit=settings.MOSAIC_MAX_MESSAGE_BYTES)
        except MosaicError as exc:
            await self.deliver(events.failure_for(exc))
            return
        await gateway.receive(self.chat, ws_adapter.decode(frame))

    # --- the ChannelAdapter side ---------------------------------------------------------------

    async def deliver(self, event: ch.Outbound) -> None:
        frame = ws_adapter.encode(event)
        if frame is not None:  # v1 has no frame for typing, edits, redactions, reactions
            await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    # --- channel-layer messages ------------------------------------------------------------------

    # Channels reads the channel layer through ``self.channel_receive``, which it sets up in
    # ``__call__``; a failed read (Redis down) would end the consumer and drop the socket. Ours
    # waits for Redis instead, and meanwhile lets the gateway catch the client up from the
    # database (a turn it was following may have ended).
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._layer_receive = receive

    async def _receive_from_layer(self) -> dict[str, Any]:
        while True:
            try:
                return await self._layer_receive()
            except (OSError, RedisError):
                logger.warning("the channel layer cannot be read; retrying", exc_info=True)
            if self.chat is not None:
                await gateway.catch_up(self.chat)
            await asyncio.sleep(LAYER_RETRY_SECONDS)

    async def chat_event(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            await fanout.deliver(self.chat, message)

    async def chat_cancel(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            await gateway.on_cancel_request(self.chat)
