"""API tokens: what the terminal client, scripts and the socket authenticate with.

Only a SHA-256 hash of each token is stored (a database leak does not leak working tokens);
the plaintext is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="api")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(
        max_length=12, help_text="The first characters, to recognise a token."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    class Meta:
        db_table = "api_tokens"
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class UsageLimit(models.Model):
    """Limits on a user's chat turns, set by staff in the admin. The row without a user is the
    installation's default; an empty field falls back to the default row, then to the setting
    (``MOSAIC_TURNS_PER_MINUTE``, ``MOSAIC_CONCURRENT_TURNS``, ``MOSAIC_TOKENS_PER_DAY``).
    0 means no limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="usage_limit",
        help_text="Empty: the default for every user without a row of their own.",
    )
    turns_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Messages answered per minute; 0 is unlimited."
    )
    concurrent_turns = models.PositiveIntegerField(
        null=True, blank=True, help_text="Replies generated at the same time; 0 is unlimited."
    )
    tokens_per_day = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Input plus output tokens per day (UTC); 0 is unlimited.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_limits"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(user__isnull=True),
                name="one_default_usage_limit",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"limits of {self.user}" if self.user_id else "default limits"
