"""``Authorization: Bearer <token>`` for the REST API (DRF) and the chat socket (Channels)."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.selectors import token_for_raw, user_for_token
from accounts.socket_access import TOKEN_ID_SCOPE_KEY
from core.db import in_database_thread


def bearer_from_header(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        raw = bearer_from_header(header)
        if raw is None:
            return None
        user = user_for_token(raw, cached=True)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        return user, raw

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="mosaic"'


class SocketAuthMiddleware:
    """Sets ``scope["user"]`` for a socket: from an ``Authorization: Bearer`` header when there is
    one (and the token's id, for ``accounts.socket_access``), else from the session cookie, but
    only with an ``Origin`` header.

    Every browser sends ``Origin`` on a WebSocket handshake, and ``asgi.BrowserOriginValidator``
    checks it against ALLOWED_HOSTS; a client that sends none is not a browser page and must
    authenticate with a token, so a cookie without an Origin is not accepted
    (docs/websocket-protocol.md). Only a cookie socket goes through Channels' cookie, session and
    auth middleware: they wrap every frame the socket sends and keep a session object per
    socket, which a token socket (the terminal client, any program) has no use for.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.with_session = AuthMiddlewareStack(app)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await self.with_session(scope, receive, send)
        headers = dict(scope.get("headers", []))
        header = headers.get(b"authorization", b"").decode("latin-1")
        if header:
            raw = bearer_from_header(header)
            token = await in_database_thread(token_for_raw, raw) if raw else None
            scope = {**scope, "user": token.user if token else AnonymousUser()}
            if token is not None:
                scope[TOKEN_ID_SCOPE_KEY] = token.pk
            return await self.app(scope, receive, send)
        if b"origin" not in headers:
            return await self.app({**scope, "user": AnonymousUser()}, receive, send)
        return await self.with_session(scope, receive, send)


def acting_user(request: HttpRequest | Request) -> User:
    """The authenticated user of a request: API views require IsAuthenticated and admin views
    staff, so this narrows the type; the check is a guard, not the access control."""
    user = request.user
    if not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    return user
