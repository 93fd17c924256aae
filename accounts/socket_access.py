"""Ending the chat sockets whose access ended: a revoked token, a deactivated user, a logout.

A socket authenticates once, at connect; after that it would live on whatever happened to the
credential it came with. So each authenticated socket listens, through the channel layer
(Redis, every server process), on the groups of what let it in:

- its user's group: deactivating (or deleting) the user ends every socket of theirs;
- its token's group, for a bearer socket: revoking that token ends the sockets opened with it;
- its browser session's group, for a cookie socket: logging out ends that session's sockets.

A message to any of them closes the socket with code 4401 (the code of an unauthenticated
socket); the server then tells the consumer that it disconnected, as for any close. The services
that revoke or deactivate publish after their transaction commits. Messages over Redis can be
missed (a Redis restart), so the chat consumer also re-checks the token and the user before each
turn (``accounts.selectors.socket_turn_access``, one indexed query).

One listener per process (``AccessListener``) holds one channel-layer channel, joined to the
groups of the process's sockets (each group once, however many sockets it has), and closes the
sockets of a group when its message comes: an idle socket costs a callback in a set, not a
channel, a subscription and a waiting task of its own, and a frame passes through unwrapped.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger("mosaic.sockets")

CLOSE_ACCESS_ENDED = 4401
ACCESS_ENDED = "access.ended"
# Where SocketAuthMiddleware leaves the id of the token a socket came with.
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
            async_to_sync(layer.group_send)(group, {"type": ACCESS_ENDED, "group": group})
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


OnEnd = Callable[[], None]


class AccessListener:
    """This process's ear for the end of its sockets' access (one per event loop)."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel = ""
        self.watchers: dict[str, set[OnEnd]] = {}
        self.lock = asyncio.Lock()  # joining and leaving groups, one at a time
        self.task: asyncio.Task[None] | None = None

    async def watch(self, groups: list[str], on_end: OnEnd) -> None:
        async with self.lock:
            if not self.channel:
                self.channel = await self.layer.new_channel("access.")
                self.task = asyncio.create_task(self._listen())
            for group in groups:
                watchers = self.watchers.setdefault(group, set())
                if not watchers:
                    await self.layer.group_add(group, self.channel)
                watchers.add(on_end)

    async def unwatch(self, groups: list[str], on_end: OnEnd) -> None:
        async with self.lock:
            for group in groups:
                watchers = self.watchers.get(group)
                if watchers is None:
                    continue
                watchers.discard(on_end)
                if not watchers:
                    del self.watchers[group]
                    await self.layer.group_discard(group, self.channel)

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis failed under the listener: the per-turn check still holds
                logger.warning("listening for the end of sockets' access failed", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if message.get("type") != ACCESS_ENDED:
                continue
            for on_end in list(self.watchers.get(message.get("group", ""), ())):
                on_end()


_listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AccessListener] = (
    weakref.WeakKeyDictionary()
)


def access_listener(layer: Any) -> AccessListener:
    loop = asyncio.get_running_loop()
    listener = _listeners.get(loop)
    if listener is None:
        listener = _listeners[loop] = AccessListener(layer)
    return listener


class AccessEndMiddleware:
    """ASGI middleware, inside the authentication: closes sockets whose access ended."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        groups = socket_groups(scope) if scope["type"] == "websocket" else []
        layer = get_channel_layer() if groups else None
        if layer is None:
            return await self.app(scope, receive, send)

        closed = False
        closing: asyncio.Task[Any] | None = None

        def on_end() -> None:
            nonlocal closed, closing
            if not closed:  # the server tells the app that the socket closed, as for any close
                closed = True
                closing = asyncio.create_task(
                    send({"type": "websocket.close", "code": CLOSE_ACCESS_ENDED})
                )

        async def send_while_open(message: dict[str, Any]) -> None:
            if not closed:
                await send(message)

        listener = access_listener(layer)
        await listener.watch(groups, on_end)
        try:
            return await self.app(scope, receive, send_while_open)
        finally:
            await listener.unwatch(groups, on_end)
