"""Reads of accounts: which user an API token belongs to.

Every REST call asks this, so with ``cached=True`` a process remembers a checked token for
``MOSAIC_TOKEN_CACHE_SECONDS`` (1 s): a burst of calls (a client searching as the user types,
a page loading its lists) pays for one lookup. Nothing invalidates an entry across processes;
it simply expires, so a token revoked or a user deactivated anywhere (the API, the admin, a
shell) is refused by every process within that time, and at once by the process that revoked
it (``forget_token``). The chat socket checks its token once per connection, uncached.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiToken, hash_token

if TYPE_CHECKING:
    import datetime as dt

    from django.contrib.auth.models import User

_MAX_REMEMBERED = 10_000
# token hash → (when it was checked, on the monotonic clock; the token's expiry; its user)
_checked: dict[str, tuple[float, dt.datetime, User]] = {}


def user_for_token(raw: str, *, cached: bool = False) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None.

    ``cached``: trust this process's check of the last ``MOSAIC_TOKEN_CACHE_SECONDS``.
    """
    if not raw or len(raw) > 200:
        return None
    digest = hash_token(raw)
    now = timezone.now()
    remembered = _checked.get(digest) if cached else None
    if (
        remembered is not None
        and time.monotonic() - remembered[0] < settings.MOSAIC_TOKEN_CACHE_SECONDS
        and remembered[1] > now
    ):
        # A copy: a request that changes its user must not change another request's.
        return copy.copy(remembered[2])
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=digest, revoked=False, expires_at__gt=now)
        .only("id", "expires_at", "last_used_at", "user")
        .first()
    )
    if token is None or not token.user.is_active:
        _checked.pop(digest, None)
        return None
    # Touch last_used at most once a minute: a write per request would be a waste.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    if settings.MOSAIC_TOKEN_CACHE_SECONDS > 0:
        if len(_checked) >= _MAX_REMEMBERED:
            _checked.clear()
        _checked[digest] = (time.monotonic(), token.expires_at, token.user)
    return token.user


def forget_token(raw: str) -> None:
    """Drop a token from this process's memory (it was just revoked here)."""
    _checked.pop(hash_token(raw), None)
