"""Ending the chat sockets whose access ended: a revoked token, a deactivated user, a logout.

A socket authenticates once, at connect; after that it would live on whatever happened to the
credential it came with. So each authenticated socket listens, through the channel layer
(Redis, every server process), on the groups of what let it in:

- its user's group: deactivating (or deleting) the user ends every socket of theirs;
- its token's group, for a bearer socket: revoking that token ends the sockets opened with it;
- its browser session's group, for a cookie socket: logging out ends that session's sockets.

A message to any of them closes the socket with code 4401 (the code of an unauthenticated
socket) and tells the consumer that it disconnected. The services that revoke or deactivate
publish after their transaction commits. Messages over Redis can be missed (a Redis restart),
so the chat consumer also re-checks the token and the user before each turn
(``accounts.selectors.socket_access_valid``, one indexed query).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger("mosaic.sockets")

CLOSE_ACCESS_ENDED = 4401
ACCESS_ENDED = "access.ended"
# Where BearerTokenWebsocketMiddleware leaves the id of the token a socket came with.
TOKEN_ID_SCOPE_KEY = "api_token_id"  # noqa: S105 - a scope key, not a secret


def user_group(user_id: int) -> str:
    return f"access-user.{user_id}"


def token_group(user_id: int, token_id: int) -> str:
    return f"access-token.{user_id}.{token_id}"


def session_group(user_id: int, session_key: str) -> str:
    # The session key is a credential: only a digest of it goes over Redis.
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"web-session.{user_id}.{digest}"


def end_sockets(*groups: str) -> None:
    """Close every chat socket listening on any of ``groups`` (any process). Never raises: the
    revocation or logout that calls this must succeed even when Redis is down."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, {"type": ACCESS_ENDED})
    except Exception:
        logger.exception("could not end the chat sockets of %s", ", ".join(groups))


def socket_groups(scope: dict[str, Any]) -> list[str]:
    """The groups an authenticated socket listens on; none for an anonymous one."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return []
    groups = [user_group(user.pk)]
    token_id = scope.get(TOKEN_ID_SCOPE_KEY)
    if token_id is not None:
        groups.append(token_group(user.pk, token_id))
    else:
        session = scope.get("session")
        session_key = session.session_key if session is not None else None
        if session_key:
            groups.append(session_group(user.pk, session_key))
    return groups


class AccessEndMiddleware:
    """ASGI middleware, inside the authentication: closes sockets whose access ended."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        groups = socket_groups(scope) if scope["type"] == "websocket" else []
        layer = get_channel_layer() if groups else None
        if layer is None:
            return await self.app(scope, receive, send)

        channel = await layer.new_channel("access.")
        for group in groups:
            await layer.group_add(group, channel)
        ended: asyncio.Future[Any] = asyncio.ensure_future(layer.receive(channel))
        closed = False
        listening = True

        async def receive_until_ended() -> dict[str, Any]:
            nonlocal closed, listening
            if closed:
                return {"type": "websocket.disconnect", "code": CLOSE_ACCESS_ENDED}
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
                    await send({"type": "websocket.close", "code": CLOSE_ACCESS_ENDED})
                    return {"type": "websocket.disconnect", "code": CLOSE_ACCESS_ENDED}
                # Redis failed under the listener: keep the chat going rather than cut it (the
                # per-turn check still applies).
                logger.warning("stopped listening for the end of a socket's access: %r", ended)
                listening = False
            return dict(await receive())

        async def send_while_open(message: dict[str, Any]) -> None:
            if not closed:
                await send(message)

        try:
            return await self.app(scope, receive_until_ended, send_while_open)
        finally:
            ended.cancel()
            for group in groups:
                await layer.group_discard(group, channel)
