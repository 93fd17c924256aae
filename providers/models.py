"""Provider credentials (encrypted at rest) and the last known health of each provider."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from providers.fields import EncryptedTextField, validate_http_url
from providers.registry import PROVIDERS

PROVIDER_CHOICES = [(name, name) for name in PROVIDERS]


class CredentialKind(models.TextChoices):
    API_KEY = "api_key", "API key"
    OAUTH = "oauth", "OAuth tokens"


class ProviderCredential(models.Model):
    """A user's (or, with no owner, the whole installation's) way into one provider.

    At most one credential is *active* per (owner, provider); that is the one used. Adding a new
    one deactivates the previous one, which stays listed until deleted, so switching back is a
    matter of re-activating it. Two partial unique constraints enforce this in the database,
    one for owned rows and one for system-wide rows (NULL owners are distinct in a plain
    unique constraint, so a single constraint would not cover them).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="provider_credentials",
        help_text="Empty for a system-wide credential that every user may use.",
    )
    provider = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    label = models.CharField(max_length=100, blank=True)
    kind = models.CharField(
        max_length=16, choices=CredentialKind.choices, default=CredentialKind.API_KEY
    )
    api_key = EncryptedTextField(blank=True, default="")
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the OAuth access token expires."
    )
    scopes = models.CharField(max_length=500, blank=True, help_text="Space-separated.")
    base_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_http_url],
        help_text="Overrides the provider's base URL setting for this credential.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        db_table = "provider_credentials"
        ordering = ["provider", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "provider"],
                condition=Q(is_active=True, owner__isnull=False),
                name="one_active_credential_per_user_provider",
                violation_error_message=(
                    "This user already has an active credential for this provider: "
                    "deactivate it first."
                ),
            ),
            models.UniqueConstraint(
                fields=["provider"],
                condition=Q(is_active=True, owner__isnull=True),
                name="one_active_system_credential_per_provider",
                violation_error_message=(
                    "There is already an active system-wide credential for this provider: "
                    "deactivate it first."
                ),
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[CredentialKind.API_KEY, CredentialKind.OAUTH]),
                name="provider_credential_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["owner", "provider", "is_active"])]

    def __str__(self) -> str:
        whose = self.owner.get_username() if self.owner_id and self.owner else "system"
        return f"{self.provider} ({self.label or self.kind}, {whose})"

    @property
    def secret(self) -> str:
        """The secret that authenticates requests: the API key or the OAuth access token."""
        return str(self.access_token if self.kind == CredentialKind.OAUTH else self.api_key)


class HealthState(models.TextChoices):
    HEALTHY = "healthy", "healthy"
    DEGRADED = "degraded", "degraded"
    DOWN = "down", "down"
    UNKNOWN = "unknown", "unknown"


class ProviderHealth(models.Model):
    """The outcome of the last scheduled probe of one provider (one row per provider)."""

    provider = models.CharField(max_length=32, choices=PROVIDER_CHOICES, unique=True)
    status = models.CharField(
        max_length=16, choices=HealthState.choices, default=HealthState.UNKNOWN
    )
    latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    # The last probe that found it usable (healthy or degraded); null: never.
    last_healthy_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "provider_health"
        ordering = ["provider"]
        verbose_name_plural = "provider health"

    def __str__(self) -> str:
        return f"{self.provider}: {self.status}"
