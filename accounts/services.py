from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone

from accounts.models import ApiToken, hash_token
from accounts.selectors import forget_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOKEN_PREFIX = "mos_"  # noqa: S105 - a public prefix, not a secret


class InvalidCredentials(Exception):
    """Username and password do not match an active user."""


def token_issue(*, username: str, password: str, name: str = "api") -> tuple[ApiToken, str]:
    """Check the password and issue a new token; returns the row and the plaintext (shown once)."""
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Invalid username or password.")
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


def token_revoke(*, user: User, raw: str) -> bool:
    revoked = bool(
        ApiToken.objects.filter(user=user, token_hash=hash_token(raw), revoked=False).update(
            revoked=True
        )
    )
    # Refused at once here; other processes stop trusting it within MOSAIC_TOKEN_CACHE_SECONDS.
    forget_token(raw)
    return revoked
