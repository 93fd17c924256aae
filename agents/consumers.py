"""The chat socket: the WebSocket channel adapter. Thin: authenticate, parse protocol v1 frames
into canonical commands for the gateway, and encode the gateway's events as v1 frames
(``agents/ws_adapter.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.selectors import socket_access_valid
from accounts.socket_access import TOKEN_ID_SCOPE_KEY
from agents import channel as ch
from agents import events, fanout, gateway, ws_adapter
from agents.protocol import parse_client_frame
from agents.session import ChatSession
from core.errors import MosaicError

logger = logging.getLogger("mosaic.socket")

CLOSE_UNAUTHENTICATED = 4401
# While following another client's turn, how long without a channel-layer message before the
# consumer looks in the database for the turn's end (Redis may be down).
CATCH_UP_SECONDS = 2.0


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
        self.chat.frame_at = time.monotonic()
        try:
            frame = parse_client_frame(text_data, limit=settings.MOSAIC_MAX_MESSAGE_BYTES)
        except MosaicError as exc:
            await self.deliver(events.failure_for(exc))
            return
        command = ws_adapter.decode(frame)
        if isinstance(command, ch.PostMessage) and not await self.access_still_valid():
            # Revoked, expired or deactivated since connect (and the close sent through
            # accounts.socket_access was missed): no turn, and the socket goes.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await gateway.receive(self.chat, command)

    async def access_still_valid(self) -> bool:
        assert self.chat is not None
        return bool(
            await database_sync_to_async(socket_access_valid)(
                user_id=self.chat.user.pk, token_id=self.scope.get(TOKEN_ID_SCOPE_KEY)
            )
        )

    # --- the ChannelAdapter side ---------------------------------------------------------------

    async def deliver(self, event: ch.Outbound) -> None:
        frame = ws_adapter.encode(event)
        if frame is not None:  # v1 has no frame for typing, edits, redactions, reactions
            await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    # --- channel-layer messages ------------------------------------------------------------------

    # Channels reads the channel layer through ``self.channel_receive``, which it sets up in
    # ``__call__``. While this client follows another client's turn, ours also asks the gateway
    # now and then to catch the client up from the database: when Redis is down, the group
    # message that ends the turn never comes (the layer keeps waiting, it does not fail). The
    # read itself is never cancelled: cancelling it unsubscribes the channel.
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._receive_from_layer

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._layer_receive = receive

    async def _receive_from_layer(self) -> dict[str, Any]:
        reading = asyncio.ensure_future(self._layer_receive())
        try:
            while True:
                following = self.chat is not None and bool(self.chat.following)
                done, _ = await asyncio.wait(
                    {reading}, timeout=CATCH_UP_SECONDS if following else None
                )
                if done:
                    return reading.result()
                if self.chat is not None:
                    await gateway.catch_up(self.chat)
        except BaseException:
            reading.cancel()
            raise

    async def chat_event(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            await fanout.deliver(self.chat, message)

    async def chat_cancel(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            await gateway.on_cancel_request(self.chat)
