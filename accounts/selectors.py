from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone

from accounts.models import ApiToken, hash_token

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def user_for_token(raw: str) -> User | None:
    """The active user a valid, unexpired, unrevoked token belongs to, or None."""
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
    return token.user
