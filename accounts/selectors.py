from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, UsageLimit, hash_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User


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


def user_for_token(raw: str) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None."""
    token = token_for_raw(raw)
    return token.user if token is not None else None


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
