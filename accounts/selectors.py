"""Reads of accounts: which user an API token belongs to, a user's tokens and limits.

Every REST call asks which user a token is, so with ``cached=True`` a process remembers a
checked token for ``MOSAIC_TOKEN_CACHE_SECONDS`` (1 s): a burst of calls (a client searching as
the user types, a page loading its lists) pays for one lookup. Nothing invalidates an entry
across processes; it simply expires, so a token revoked or a user deactivated anywhere (the API,
the admin, a shell) is refused by every process within that time, and at once by the process
that revoked it (``forget_tokens``). Chat sockets check their token uncached, on connect and on
each turn (``socket_turn_access``: the check and the user's limits in one query), and are
closed when it is revoked.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
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


# The two reads below run before every chat turn: written out, not built by the ORM each time
# (which costs several times their execution).
_USERS = get_user_model()._meta.db_table
_TOKEN_VALID_SQL = (
    f"SELECT EXISTS (SELECT 1 FROM {ApiToken._meta.db_table} t JOIN {_USERS} u "  # noqa: S608 - our tables
    "ON u.id = t.user_id WHERE t.id = %s AND t.user_id = %s AND NOT t.revoked "
    "AND t.expires_at > %s AND u.is_active)"
)
_USER_ACTIVE_SQL = f"SELECT EXISTS (SELECT 1 FROM {_USERS} WHERE id = %s AND is_active)"  # noqa: S608


def socket_turn_access(*, user_id: int, token_id: int | None) -> TurnLimits | None:
    """What a socket's message needs before its turn, in one indexed query: None if the socket
    may no longer act (its token is revoked or expired, or its user inactive), else the user's
    limits (``turn_limits_for``)."""
    access, params = _access_query(user_id, token_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.ok, l.* FROM ({access}) a(ok) LEFT JOIN ({_LIMITS_SQL}) l ON a.ok",  # noqa: S608 - our SQL
            [*params, user_id],
        )
        rows = cursor.fetchall()
    if not rows or not rows[0][0]:
        return None
    # No limit rows: one row of NULLs, which counts as a default row that sets nothing.
    return _limits_from([row[1:] for row in rows], user_id)


def _access_query(user_id: int, token_id: int | None) -> tuple[str, list[Any]]:
    if token_id is not None:
        return _TOKEN_VALID_SQL, [token_id, user_id, timezone.now()]
    return _USER_ACTIVE_SQL, [user_id]


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


_LIMITS_SQL = (
    f"SELECT user_id, {', '.join(_LIMIT_SETTINGS)} FROM {UsageLimit._meta.db_table} "  # noqa: S608 - our table
    "WHERE user_id = %s OR user_id IS NULL"
)


def turn_limits_for(*, user: User) -> TurnLimits:
    """Each limit from the user's own row, else the default row, else the setting (one query,
    before every turn: written out like ``socket_turn_access``'s)."""
    with connection.cursor() as cursor:
        cursor.execute(_LIMITS_SQL, [user.pk])
        return _limits_from(cursor.fetchall(), user.pk)


def _limits_from(found: Sequence[Sequence[Any]], user_id: int) -> TurnLimits:
    """The limits from ``_LIMITS_SQL``'s rows: (user_id or None for the default, *limits)."""
    rows = {row[0]: row[1:] for row in found}
    chain = [row for row in (rows.get(user_id), rows.get(None)) if row is not None]

    def pick(index: int, field: str) -> int:
        for row in chain:
            if row[index] is not None:
                return int(row[index])
        return int(getattr(settings, _LIMIT_SETTINGS[field]))

    return TurnLimits(**{field: pick(i, field) for i, field in enumerate(_LIMIT_SETTINGS)})
