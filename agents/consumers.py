"""The chat socket: the WebSocket channel adapter. Thin: authenticate, parse protocol v1 frames
into canonical commands for the gateway, and encode the gateway's events as v1 frames
(``agents/ws_adapter.py``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, ClassVar

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from accounts.selectors import socket_turn_access
from accounts.socket_access import TOKEN_ID_SCOPE_KEY
from agents import channel as ch
from agents import events, fanout, gateway, ws_adapter
from agents.protocol import parse_client_frame
from agents.session import ChatSession
from core.db import in_database_thread
from core.errors import MosaicError

logger = logging.getLogger("mosaic.socket")

CLOSE_UNAUTHENTICATED = 4401
# While following another client's turn, how long without a channel-layer message before the
# consumer looks in the database for the turn's end (Redis may be down).
CATCH_UP_SECONDS = 2.0


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    channel: ClassVar[str] = "websocket"
    chat: ChatSession | None = None
    layer_heard = 0.0  # when the channel layer last brought this client an event
    catching_up: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections`` before every handler: a hop
        to asgiref's sync thread per frame and per channel-layer message, to tidy connections
        this consumer never uses (its database calls run in ``core.db.in_database_thread``,
        whose threads look after their own)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
        if self.catching_up is not None:
            self.catching_up.cancel()
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
        limits = None
        if isinstance(command, ch.PostMessage):
            limits = await in_database_thread(
                socket_turn_access,
                user_id=self.chat.user.pk,
                token_id=self.scope.get(TOKEN_ID_SCOPE_KEY),
            )
            if limits is None:
                # Revoked, expired or deactivated since connect (and the close sent through
                # accounts.socket_access was missed): no turn, and the socket goes.
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
        await gateway.receive(self.chat, command, limits=limits)
        self._watch_following()  # opening a conversation mid-turn follows that turn

    # --- the ChannelAdapter side ---------------------------------------------------------------

    async def deliver(self, event: ch.Outbound) -> None:
        frame = ws_adapter.encode(event)
        if frame is not None:  # v1 has no frame for typing, edits, redactions, reactions
            await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))

    # --- channel-layer messages ------------------------------------------------------------------

    # While this client follows another client's turn (``ChatSession.following``), a watchdog asks
    # the gateway to catch the client up from the database whenever the channel layer has been
    # silent for CATCH_UP_SECONDS: when Redis is down, the group message that ends the turn never
    # comes (the layer keeps waiting, it does not fail). Following starts on a layer message or
    # on opening a conversation mid-turn; the watchdog runs only meanwhile, so an idle socket's
    # reads of the layer are plain awaits.

    async def chat_event(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            self.layer_heard = time.monotonic()
            await fanout.deliver(self.chat, message)
            self._watch_following()

    def _watch_following(self) -> None:
        if self.chat is None or not self.chat.following:
            return
        if self.catching_up is None or self.catching_up.done():
            self.layer_heard = max(self.layer_heard, time.monotonic())
            self.catching_up = asyncio.create_task(self._catch_up_while_following(self.chat))

    async def _catch_up_while_following(self, chat: ChatSession) -> None:
        while chat.following:
            quiet = time.monotonic() - self.layer_heard
            if quiet < CATCH_UP_SECONDS:
                await asyncio.sleep(CATCH_UP_SECONDS - quiet)
                continue
            await gateway.catch_up(chat)
            self.layer_heard = time.monotonic()  # again after another quiet interval

    async def chat_cancel(self, message: dict[str, Any]) -> None:
        if self.chat is not None:
            await gateway.on_cancel_request(self.chat)
