"""How many failed sign-ins an account and a client address get: the password-guessing brake.

Used by the web sign-in (``mosaic.web``); any other login path can call the same three
functions. Failures are counted in Redis (the cache, so every server process sees the same
numbers) in fixed windows of ``MOSAIC_LOGIN_WINDOW_SECONDS``, separately per account and per
client address:

- per account, so that guessing one person's password from many addresses stops early;
- per address, so that one address cannot walk through many accounts.

Only failures count, and a success clears the account's count: a person who types the right
password is never slowed down by their own sign-ins. While either count is over its limit, the
attempt is refused *before* the password is checked, even a right one: no password hashing work
for an attacker, and no way to tell a right guess from a wrong one. Keys carry a hash of the
username, not the name itself.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

from core.errors import MosaicError

_PREFIX = "login-failures"


class TooManyLoginAttempts(MosaicError):
    """Too many failed sign-ins for this account or address; ``retry_after`` is in seconds."""

    code = "rate_limited"
    retryable = True

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"Too many failed sign-in attempts. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )
        self.retry_after = retry_after


def _window() -> tuple[int, int]:
    """The current window's number and the seconds left in it."""
    length = settings.MOSAIC_LOGIN_WINDOW_SECONDS
    now = time.time()
    number = int(now // length)
    return number, max(1, int((number + 1) * length - now))


def _account_key(username: str, window: int) -> str:
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"{_PREFIX}:account:{digest}:{window}"


def _address_key(client_ip: str, window: int) -> str:
    return f"{_PREFIX}:address:{client_ip or 'unknown'}:{window}"


def login_limit_check(*, username: str, client_ip: str) -> None:
    """Raise ``TooManyLoginAttempts`` if this account or address may not try now."""
    window, left = _window()
    counts = cache.get_many([_account_key(username, window), _address_key(client_ip, window)])
    account = counts.get(_account_key(username, window), 0)
    address = counts.get(_address_key(client_ip, window), 0)
    if (
        account >= settings.MOSAIC_LOGIN_FAILURES_PER_ACCOUNT
        or address >= settings.MOSAIC_LOGIN_FAILURES_PER_ADDRESS
    ):
        raise TooManyLoginAttempts(left)


def login_failure_record(*, username: str, client_ip: str) -> None:
    window, left = _window()
    for key in (_account_key(username, window), _address_key(client_ip, window)):
        # add() then incr(): atomic in Redis, and the key expires with its window.
        cache.add(key, 0, timeout=left + 1)
        cache.incr(key)


def login_success_record(*, username: str, client_ip: str) -> None:
    """A right password clears the account's failures (not the address's: a shared address
    that guesses at many accounts stays limited even if one of its people signs in)."""
    window, _ = _window()
    cache.delete(_account_key(username, window))
