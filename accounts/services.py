from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from accounts import login_limit
from accounts.models import ApiToken, hash_token
from accounts.selectors import forget_tokens
from accounts.socket_access import end_sockets, token_group, user_group
from core.errors import NotFound

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.models import User

TOKEN_PREFIX = "mos_"  # noqa: S105 - a public prefix, not a secret


class InvalidCredentials(Exception):
    """Username and password do not match an active user."""


def token_issue(
    *,
    username: str,
    password: str,
    name: str = "api",
    client_ip: str = "",
) -> tuple[ApiToken, str]:
    """Check the password and issue a new token; returns the row and the plaintext (shown once).

    Failed attempts count against the account and the client address
    (``accounts.login_limit``); over the limit, ``TooManyLoginAttempts`` is raised before the
    password is checked."""
    login_limit.login_limit_check(username=username, client_ip=client_ip)
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        login_limit.login_failure_record(username=username, client_ip=client_ip)
        raise InvalidCredentials("Invalid username or password.")
    login_limit.login_success_record(username=username, client_ip=client_ip)
    return token_create(user=user, name=name)


def token_create(*, user: User, name: str = "api") -> tuple[ApiToken, str]:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        token_hash=hash_token(raw),
        prefix=raw[:10],
        expires_at=timezone.now() + dt.timedelta(days=settings.MOSAIC_TOKEN_TTL_DAYS),
    )
    return token, raw


def _revoke(tokens: Iterable[ApiToken]) -> int:
    """Mark ``tokens`` revoked and, once that is committed, close the sockets opened with them."""
    pending = [token for token in tokens if not token.revoked]
    if not pending:
        return 0
    ApiToken.objects.filter(pk__in=[t.pk for t in pending]).update(revoked=True)
    # Refused at once by this process; the others stop trusting it within
    # MOSAIC_TOKEN_CACHE_SECONDS (accounts.selectors).
    forget_tokens(*(t.token_hash for t in pending))
    groups = [token_group(t.user_id, t.pk) for t in pending]
    transaction.on_commit(lambda: end_sockets(*groups))
    return len(pending)


def token_revoke(*, user: User, raw: str) -> bool:
    """Revoke the user's token whose plaintext is ``raw`` (logging out); False if there is none."""
    return bool(_revoke(ApiToken.objects.filter(user=user, token_hash=hash_token(raw))))


def token_revoke_by_id(*, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; another user's (or no such) token is ``NotFound``."""
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFound("No such token.")
    _revoke([token])


def tokens_revoke_selected(*, tokens: Iterable[ApiToken]) -> int:
    """Revoke tokens chosen by staff in the admin."""
    return _revoke(tokens)


def user_access_ended(*, user_id: int) -> None:
    """The user was deactivated or deleted: once committed, close every socket of theirs."""
    transaction.on_commit(lambda: end_sockets(user_group(user_id)))
