"""Logging out ends the browser's chat sockets, in every tab and on every server process.

A socket authenticated by the session cookie stays authenticated for its whole life: Channels
checks the session once, at connect. So each such socket also listens, through the channel
layer (Redis), on a group named for its user and session; Django's ``user_logged_out`` signal
(sent by this page's logout and by the admin's) publishes "session ended" to that group, and the
socket is closed with code 4401, the code of an unauthenticated socket, which the page answers
with a link to sign in again. The chat consumer itself knows nothing of this: the middleware
closes the socket towards the browser and tells the consumer that it disconnected.

Sockets with a bearer token (terminals, scripts) are left alone: revoking the token ends them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import HttpRequest

logger = logging.getLogger("mosaic.web.sockets")

CLOSE_SESSION_ENDED = 4401
SESSION_ENDED = "web.session_ended"


def session_group(user_id: int, session_key: str) -> str:
    # The session key is a credential: only a digest of it goes over Redis.
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"web-session.{user_id}.{digest}"


def end_session_sockets(*, user_id: int, session_key: str) -> None:
    """Close every chat socket opened with this session (any process)."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(session_group(user_id, session_key), {"type": SESSION_ENDED})


def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    session_key = request.session.session_key if request is not None else None
    if user is None or not session_key:
        return
    try:
        end_session_sockets(user_id=user.pk, session_key=session_key)
    except Exception:  # a logout must succeed even when Redis is down
        logger.exception("could not end the chat sockets of a logged-out session")


def _cookie_session(scope: dict[str, Any]) -> tuple[int, str] | None:
    """(user id, session key) of a socket authenticated by its session cookie, else None."""
    headers = dict(scope.get("headers", []))
    if b"authorization" in headers:
        return None
    user = scope.get("user")
    session = scope.get("session")
    if user is None or session is None or not user.is_authenticated:
        return None
    session_key = session.session_key
    return (int(user.pk), session_key) if session_key else None


class SessionEndMiddleware:
    """ASGI middleware, inside Channels' auth: closes cookie sockets whose session ended."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        identity = _cookie_session(scope) if scope["type"] == "websocket" else None
        layer = get_channel_layer() if identity is not None else None
        if identity is None or layer is None:
            return await self.app(scope, receive, send)

        group = session_group(*identity)
        channel = await layer.new_channel("web-session.")
        await layer.group_add(group, channel)
        ended: asyncio.Future[Any] = asyncio.ensure_future(layer.receive(channel))
        closed = False
        listening = True

        async def receive_until_ended() -> dict[str, Any]:
            nonlocal closed, listening
            if closed:
                return {"type": "websocket.disconnect", "code": CLOSE_SESSION_ENDED}
            if listening:
                incoming = asyncio.ensure_future(receive())
                try:
                    await asyncio.wait({incoming, ended}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not incoming.done():
                        incoming.cancel()
                if incoming.done() and not incoming.cancelled():
                    return dict(incoming.result())
                if not ended.cancelled() and ended.exception() is None:
                    closed = True
                    await send({"type": "websocket.close", "code": CLOSE_SESSION_ENDED})
                    return {"type": "websocket.disconnect", "code": CLOSE_SESSION_ENDED}
                # Redis failed under the listener: keep the chat going rather than cut it.
                logger.warning("stopped listening for the end of a web session: %r", ended)
                listening = False
            return dict(await receive())

        async def send_while_open(message: dict[str, Any]) -> None:
            if not closed:
                await send(message)

        try:
            return await self.app(scope, receive_until_ended, send_while_open)
        finally:
            ended.cancel()
            await layer.group_discard(group, channel)
