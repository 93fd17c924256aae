"""The chat socket. Thin: authenticate, parse frames, delegate to the gateway, forward events."""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from agents import fanout, gateway
from agents.frames import error_frame_for, internal_error_frame
from agents.protocol import (
    CommandExecute,
    ConversationOpen,
    MessageCancel,
    MessageSend,
    Ping,
    Pong,
    ServerFrame,
    parse_client_frame,
)
from agents.session import ChatSession
from core.errors import MosaicError

logger = logging.getLogger("mosaic.socket")

CLOSE_UNAUTHENTICATED = 4401


class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    chat: ChatSession | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept-then-close so the client sees our 4401 rather than a bare HTTP 403.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.chat = ChatSession(user=user, channel_name=self.channel_name, send=self.send_frame)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.chat is not None:
            await gateway.close(self.chat)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.chat is None:
            return
        try:
            frame = parse_client_frame(text_data, limit=settings.MOSAIC_MAX_MESSAGE_BYTES)
            if isinstance(frame, ConversationOpen):
                await gateway.open_conversation(self.chat, frame)
            elif isinstance(frame, MessageSend):
                await gateway.send_message(self.chat, frame)
            elif isinstance(frame, CommandExecute):
                await gateway.execute_command(self.chat, frame)
            elif isinstance(frame, MessageCancel):
                await gateway.cancel_turn(self.chat)
            elif isinstance(frame, Ping):
                await self.send_frame(Pong(type="pong"))
        except MosaicError as exc:
            await self.send_frame(error_frame_for(exc))
        except Exception:
            logger.exception("error handling a frame")
            await self.send_frame(internal_error_frame("The server could not handle that frame."))

    # --- group events ------------------------------------------------------------------------

    async def chat_event(self, event: dict[str, Any]) -> None:
        if self.chat is not None:
            await fanout.deliver(self.chat, event)

    async def chat_cancel(self, event: dict[str, Any]) -> None:
        if self.chat is not None:
            await gateway.on_cancel_event(self.chat)

    async def send_frame(self, frame: ServerFrame) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False, separators=(",", ":")))
