"""Reads of accounts: which user an API token belongs to, a user's tokens and limits.

Every REST call asks which user a token is, so with ``cached=True`` a process remembers a
checked token for ``MOSAIC_TOKEN_CACHE_SECONDS`` (1 s): a burst of calls (a client searching as
the user types, a page loading its lists) pays for one lookup. Nothing invalidates an entry
across processes; it simply expires, so a token revoked or a user deactivated anywhere (the API,
the admin, a shell) is refused by every process within that time, and at once by the process
that revoked it (``forget_tokens``). Chat sockets check their token uncached, on connect and on
each turn (``socket_access_valid``), and are closed when it is revoked.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, UsageLimit, hash_token

if TYPE_CHECKING:
    import datetime as dt

    from django.contrib.auth.models import User

_MAX_REMEMBERED = 10_000
# token hash → (when it was checked, on the monotonic clock; the token's expiry; its user)
_checked: dict[str, tuple[float, dt.datetime, User]] = {}


def token_for_raw(raw: str) -> ApiToken | None:
    """The valid, unexpired, unrevoked token of an active user that ``raw`` is, or None (with
    its ``user`` loaded)."""
    if not raw or len(raw) > 200:
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(raw), revoked=False, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    # Touch last_used at most once a minute: a write per request would be a waste.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def user_for_token(raw: str, *, cached: bool = False) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None.

    ``cached``: trust this process's check of the last ``MOSAIC_TOKEN_CACHE_SECONDS``.
    """
    if not raw or len(raw) > 200:
        return None
    digest = hash_token(raw)
    remembered = _checked.get(digest) if cached else None
    if (
        remembered is not None
        and time.monotonic() - remembered[0] < settings.MOSAIC_TOKEN_CACHE_SECONDS
        and remembered[1] > timezone.now()
    ):
        # A copy: a request that changes its user must not change another request's.
        return copy.copy(remembered[2])
    token = token_for_raw(raw)
    if token is None:
        return None
    if settings.MOSAIC_TOKEN_CACHE_SECONDS > 0:
        if len(_checked) >= _MAX_REMEMBERED:
            _checked.clear()
        _checked[digest] = (time.monotonic(), token.expires_at, token.user)
    return token.user


def forget_tokens(*token_hashes: str) -> None:
    """Drop tokens from this process's memory (they were just revoked here)."""
    for digest in token_hashes:
        _checked.pop(digest, None)


def token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's own tokens, newest first (revoked and expired ones included, marked so)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def socket_access_valid(*, user_id: int, token_id: int | None) -> bool:
    """Whether a socket opened by this user (with this token, if any) may still act: the token
    is unrevoked and unexpired, and the user active. One indexed query."""
    if token_id is not None:
        return ApiToken.objects.filter(
            pk=token_id,
            user_id=user_id,
            revoked=False,
            expires_at__gt=timezone.now(),
            user__is_active=True,
        ).exists()
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


@dataclass(frozen=True, slots=True)
class TurnLimits:
    """A user's chat limits; 0 means no limit."""

    turns_per_minute: int
    concurrent_turns: int
    tokens_per_day: int


_LIMIT_SETTINGS = {
    "turns_per_minute": "MOSAIC_TURNS_PER_MINUTE",
    "concurrent_turns": "MOSAIC_CONCURRENT_TURNS",
    "tokens_per_day": "MOSAIC_TOKENS_PER_DAY",
}


def turn_limits_for(*, user: User) -> TurnLimits:
    """Each limit from the user's own row, else the default row, else the setting (one query)."""
    rows = {row.user_id: row for row in UsageLimit.objects.filter(Q(user=user) | Q(user=None))}
    chain = [row for row in (rows.get(user.pk), rows.get(None)) if row is not None]

    def pick(field: str) -> int:
        for row in chain:
            value = getattr(row, field)
            if value is not None:
                return int(value)
        return int(getattr(settings, _LIMIT_SETTINGS[field]))

    return TurnLimits(**{field: pick(field) for field in _LIMIT_SETTINGS})
