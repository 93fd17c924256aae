"""Reads of the providers app: credentials, which providers a user can use, and provider health.

Every function that touches a user's data takes the acting user and filters by it: another
user's credential is "not found", never returned. Nothing here writes or calls a provider:
writes (and the cache invalidation they cause) are in ``services``, probing in ``health``, live
model lists in ``model_lists``. Two reads keep a short-lived cache of what they read
(``usable_providers``, ``health_map``): a cache fill is not a state change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet

from core.errors import NotFound
from providers import chat_health
from providers.adapters.base import ResolvedCredential
from providers.models import ProviderCredential, ProviderHealth
from providers.registry import PROVIDERS, get_adapter

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Providers that need no key: usable whenever their base URL is set.
KEYLESS_PROVIDERS = frozenset({"ollama"})

USABLE_CACHE_SECONDS = 30


# A secret shorter than this is masked as "…" alone: 7 visible characters would be too many.
MASK_MIN_LENGTH = 20


def mask_secret(secret: str) -> str:
    """``sk-…abcd`` (first 3 and last 4 characters) for a long secret, "…" for a short one."""
    if not secret:
        return ""
    if len(secret) < MASK_MIN_LENGTH:
        return "…"
    return f"{secret[:3]}…{secret[-4:]}"


class CredentialNotFound(NotFound):
    """No such credential for this user (whether it does not exist or is someone else's)."""


def acting_user_id(user: User | None) -> int | None:
    """The user's id; None for the installation itself (``user=None``) and, defensively, for an
    anonymous user, who then sees only what the installation has."""
    if user is None or not user.is_authenticated:
        return None
    return int(user.pk)


# --- credentials -------------------------------------------------------------------------------


def credential_list(*, user: User) -> QuerySet[ProviderCredential]:
    """The acting user's own credentials (system-wide rows are not listed to users)."""
    user_id = acting_user_id(user)
    if user_id is None:
        return ProviderCredential.objects.none()
    return ProviderCredential.objects.filter(owner_id=user_id).order_by("provider", "-created_at")


def credential_get(*, user: User, credential_id: UUID | str) -> ProviderCredential:
    try:
        return credential_list(user=user).get(pk=credential_id)
    except (ProviderCredential.DoesNotExist, ValueError):
        raise CredentialNotFound("No such credential.") from None


_ACTIVE_CREDENTIALS_SQL = (
    f"SELECT * FROM {ProviderCredential._meta.db_table} "  # noqa: S608 - our table
    "WHERE provider = %s AND is_active AND (owner_id IS NULL OR owner_id = %s)"
)


def active_credentials(*, user: User | None, provider: str) -> list[ProviderCredential]:
    """The active credentials that could serve ``user`` for ``provider``: theirs and the system's.

    One query; the caller picks (the user's own wins).
    """
    user_id = acting_user_id(user)
    # Written out (it runs before every turn); the owner's test matches the ORM's
    # Q(owner_id=…) | Q(owner__isnull=True), the system's alone when there is no user.
    return list(ProviderCredential.objects.raw(_ACTIVE_CREDENTIALS_SQL, [provider, user_id]))


def env_api_key(provider: str) -> str:
    """The system-wide key from the environment (``ANTHROPIC_API_KEY`` etc.), "" when unset."""
    return str(getattr(settings, f"{provider.upper()}_API_KEY", "") or "")


def provider_base_url(provider: str) -> str:
    """The configured base URL (``ANTHROPIC_BASE_URL`` etc.), else the adapter's default."""
    configured = str(getattr(settings, f"{provider.upper()}_BASE_URL", "") or "")
    if configured:
        return configured
    return str(get_adapter(provider).default_base_url)


def credential_usable(provider: str, credential: ResolvedCredential) -> bool:
    """Whether requests can be made with ``credential``; keyless providers need only a URL."""
    if provider in KEYLESS_PROVIDERS:
        return bool(credential.base_url)
    return credential.usable


@dataclass(frozen=True, slots=True)
class ProviderSummary:
    provider: str
    in_use: Literal["user", "system", "none"]
    credential_id: UUID | None = None
    secret_hint: str = ""


def provider_summary(*, user: User) -> list[ProviderSummary]:
    """For each provider, which credential a request by ``user`` would use (no secret shown
    beyond its mask; the system's own secrets not even that)."""
    own = {c.provider: c for c in credential_list(user=user).filter(is_active=True)}
    usable = usable_providers(user=user)
    summary = []
    for name in PROVIDERS:
        credential = own.get(name)
        if credential is not None:
            summary.append(
                ProviderSummary(name, "user", credential.pk, mask_secret(credential.secret))
            )
        elif name in usable:
            summary.append(ProviderSummary(name, "system"))
        else:
            summary.append(ProviderSummary(name, "none"))
    return summary


# --- usable providers (on every message: cached) -----------------------------------------------

USABLE_GENERATION_KEY = "providers:usable:generation"


def _environment_fingerprint() -> str:
    """Which providers this process's environment configures: part of the cache key, so that a
    restart with a key removed from the environment never reads the previous run's answer."""
    configured = [name for name in PROVIDERS if env_api_key(name)]
    configured.append(f"ollama={settings.OLLAMA_CONFIGURED}:{settings.OLLAMA_BASE_URL}")
    return hashlib.sha256(",".join(configured).encode()).hexdigest()[:8]


def usable_key(user_id: int | None, generation: int) -> str:
    who = user_id if user_id is not None else "system"
    return f"providers:usable:{generation}:{_environment_fingerprint()}:{who}"


def usable_providers(*, user: User) -> set[str]:
    """Providers the user can send a request to now: their own or a system credential, or an
    environment key. Ollama needs no key: it counts when its URL is configured
    (``OLLAMA_BASE_URL`` set), when someone stored a credential for it, or once it has answered a
    probe; an Ollama nobody configured and that never answered is not tried.

    Cached per user for 30 s; credential writes invalidate it (``services.invalidate_usable``).
    """
    user_id = acting_user_id(user)
    generation = int(cache.get(USABLE_GENERATION_KEY) or 0)
    key = usable_key(user_id, generation)
    cached = cache.get(key)
    if cached is not None:
        return set(cached)
    scope = (
        Q(owner__isnull=True) if user_id is None else Q(owner_id=user_id) | Q(owner__isnull=True)
    )
    # Only the provider column is read: no secret is decrypted to answer this.
    providers = set(
        ProviderCredential.objects.filter(scope, is_active=True)
        .values_list("provider", flat=True)
        .distinct()
    )
    providers |= {name for name in PROVIDERS if env_api_key(name)}
    if "ollama" not in providers and _ollama_reachable():
        providers.add("ollama")
    providers &= set(PROVIDERS)
    cache.set(key, sorted(providers), USABLE_CACHE_SECONDS)
    return providers


def _ollama_reachable() -> bool:
    if not settings.OLLAMA_BASE_URL:
        return False
    if settings.OLLAMA_CONFIGURED or settings.OLLAMA_BASE_URL != settings.OLLAMA_DEFAULT_BASE_URL:
        return True
    status = health_map().get("ollama")
    return status is not None and status.last_healthy_at is not None


# --- health (probed by ``providers.health``; read here) -----------------------------------------
HEALTH_CACHE_KEY = "providers:health"
Status = Literal["healthy", "degraded", "down", "unknown"]


@dataclass(frozen=True, slots=True)
class HealthStatus:
    provider: str
    status: Status
    latency_ms: float | None = None
    error: str = ""
    checked_at: dt.datetime | None = None
    # When a probe last found it healthy or degraded (None: never, as far as the table knows).
    last_healthy_at: dt.datetime | None = None

    @property
    def available(self) -> bool:
        """Whether routing may send a request there ("unknown" counts as available)."""
        return self.status != "down"

    def as_cache(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "last_healthy_at": self.last_healthy_at.isoformat() if self.last_healthy_at else None,
        }

    @classmethod
    def from_cache(cls, provider: str, data: dict[str, Any]) -> HealthStatus:
        checked, healthy = data.get("checked_at"), data.get("last_healthy_at")
        return cls(
            provider=provider,
            status=data.get("status", "unknown"),
            latency_ms=data.get("latency_ms"),
            error=str(data.get("error") or ""),
            checked_at=dt.datetime.fromisoformat(checked) if checked else None,
            last_healthy_at=dt.datetime.fromisoformat(healthy) if healthy else None,
        )

    @classmethod
    def from_row(cls, row: ProviderHealth) -> HealthStatus:
        return cls(
            row.provider,
            cast(Status, row.status),
            row.latency_ms,
            row.last_error,
            row.checked_at,
            row.last_healthy_at,
        )


def health_cache_timeout() -> int:
    # Long enough to outlive several missed beats; the table is the fallback after that.
    return int(settings.MOSAIC_PROVIDER_HEALTH_INTERVAL) * 10


def _unknown(provider: str) -> HealthStatus:
    return HealthStatus(provider=provider, status="unknown")


def health_map() -> dict[str, HealthStatus]:
    """The last known health of every registered provider (never probes)."""
    found = cache.get_many([HEALTH_CACHE_KEY, *(chat_health.failures_key(n) for n in PROVIDERS)])
    cached = found.get(HEALTH_CACHE_KEY)
    if isinstance(cached, dict):
        known = {name: HealthStatus.from_cache(name, data) for name, data in cached.items()}
    else:
        known = {row.provider: HealthStatus.from_row(row) for row in ProviderHealth.objects.all()}
        cache.set(
            HEALTH_CACHE_KEY,
            {name: status.as_cache() for name, status in known.items()},
            health_cache_timeout(),
        )
    health = {name: known.get(name) or _unknown(name) for name in PROVIDERS}
    # Chat calls that keep failing count as down until they pass (providers.chat_health).
    for name, count in chat_health.failing(found, PROVIDERS).items():
        health[name] = replace(
            health[name], status="down", error=f"{count} chat calls in a row failed"
        )
    return health


def provider_health(provider: str) -> HealthStatus | None:
    """The last known health of one provider ("unknown" if never probed; None if unregistered)."""
    return health_map().get(provider)
