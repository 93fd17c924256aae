"""Reads of the providers app. Every function that touches a user's data takes the acting user
and filters by it: another user's credential is "not found", never returned.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from providers import catalog
from providers.adapters.base import ModelSpec, ProviderError, ResolvedCredential
from providers.health import HealthStatus, health_map, provider_health
from providers.models import ProviderCredential
from providers.registry import PROVIDERS, get_adapter

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "CredentialNotFound",
    "HealthStatus",
    "ModelListing",
    "ProviderModels",
    "active_credentials",
    "available_models",
    "credential_get",
    "credential_list",
    "credential_usable",
    "env_api_key",
    "health_map",
    "invalidate_usable",
    "mask_secret",
    "provider_base_url",
    "provider_health",
    "provider_summary",
    "usable_providers",
]

# Providers that need no key: usable whenever their base URL is set.
KEYLESS_PROVIDERS = frozenset({"ollama"})
# Providers whose model list comes from the upstream (cached), not only from the catalog.
DYNAMIC_MODEL_PROVIDERS = ("openrouter", "ollama")

USABLE_CACHE_SECONDS = 30
MODELS_FRESH_SECONDS = 300
MODELS_RETRY_AFTER_FAILURE_SECONDS = 30
MODELS_KEEP_SECONDS = 24 * 3600
MODELS_FETCH_TIMEOUT_SECONDS = 10.0


# A secret shorter than this is masked as "…" alone: 7 visible characters would be too many.
MASK_MIN_LENGTH = 20


def mask_secret(secret: str) -> str:
    """``sk-…abcd`` (first 3 and last 4 characters) for a long secret, "…" for a short one."""
    if not secret:
        return ""
    if len(secret) < MASK_MIN_LENGTH:
        return "…"
    return f"{secret[:3]}…{secret[-4:]}"


class CredentialNotFound(LookupError):
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


def active_credentials(*, user: User | None, provider: str) -> list[ProviderCredential]:
    """The active credentials that could serve ``user`` for ``provider``: theirs and the system's.

    One query; the caller picks (the user's own wins).
    """
    user_id = acting_user_id(user)
    scope = (
        Q(owner__isnull=True) if user_id is None else Q(owner_id=user_id) | Q(owner__isnull=True)
    )
    return list(ProviderCredential.objects.filter(scope, provider=provider, is_active=True))


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

_USABLE_GENERATION_KEY = "providers:usable:generation"


def _usable_key(user_id: int | None, generation: int) -> str:
    return f"providers:usable:{generation}:{user_id if user_id is not None else 'system'}"


def usable_providers(*, user: User) -> set[str]:
    """Providers the user can send a request to now: own or system credential, env key, Ollama.

    Cached per user for 30 s; credential writes invalidate it (``invalidate_usable``).
    """
    user_id = acting_user_id(user)
    generation = int(cache.get(_USABLE_GENERATION_KEY) or 0)
    key = _usable_key(user_id, generation)
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
    if settings.OLLAMA_BASE_URL:
        providers.add("ollama")
    providers &= set(PROVIDERS)
    cache.set(key, sorted(providers), USABLE_CACHE_SECONDS)
    return providers


def invalidate_usable(*, owner_id: int | None) -> None:
    """Forget cached ``usable_providers``: one user's, or everyone's after a system-wide change."""
    if owner_id is not None:
        generation = int(cache.get(_USABLE_GENERATION_KEY) or 0)
        cache.delete(_usable_key(owner_id, generation))
        return
    try:
        cache.incr(_USABLE_GENERATION_KEY)
    except ValueError:
        cache.set(_USABLE_GENERATION_KEY, 1, None)


# --- models ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderModels:
    provider: str
    models: list[ModelSpec]
    # "catalog" (static list), "upstream" (just fetched) or "cache" (fetched earlier).
    source: str
    stale: bool = False
    error: str = ""
    fetched_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ModelListing:
    providers: list[ProviderModels] = field(default_factory=list)

    @property
    def models(self) -> list[ModelSpec]:
        return [spec for entry in self.providers for spec in entry.models]


def _models_cache_key(provider: str, base_url: str) -> str:
    digest = hashlib.sha256(base_url.encode()).hexdigest()[:16]
    return f"providers:models:{provider}:{digest}"


def _specs_from_cache(data: Sequence[dict[str, Any]]) -> list[ModelSpec]:
    names = {f.name for f in dataclasses.fields(ModelSpec)}
    return [ModelSpec(**{k: v for k, v in item.items() if k in names}) for item in data]


async def _fetch_models(provider: str, credential: ResolvedCredential) -> list[ModelSpec]:
    adapter = get_adapter(provider)
    return await asyncio.wait_for(adapter.list_models(credential), MODELS_FETCH_TIMEOUT_SECONDS)


async def _fetch_all(
    wanted: dict[str, ResolvedCredential],
) -> dict[str, list[ModelSpec] | BaseException]:
    names = list(wanted)
    results = await asyncio.gather(
        *(_fetch_models(name, wanted[name]) for name in names), return_exceptions=True
    )
    return dict(zip(names, results, strict=True))


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.message
    if isinstance(exc, TimeoutError):
        return f"no answer within {MODELS_FETCH_TIMEOUT_SECONDS:g} s"
    return str(exc) or exc.__class__.__name__


def _dynamic_models(credentials: dict[str, ResolvedCredential]) -> dict[str, ProviderModels]:
    """OpenRouter's and Ollama's live lists: fetched at most once per TTL, kept when down."""
    now = timezone.now()
    entries: dict[str, dict[str, Any] | None] = {}
    to_fetch: dict[str, ResolvedCredential] = {}
    for name, credential in credentials.items():
        entry = cache.get(_models_cache_key(name, credential.base_url))
        entry = entry if isinstance(entry, dict) else None
        entries[name] = entry
        if entry is None:
            to_fetch[name] = credential
            continue
        failed_at = entry.get("failed_at")
        if failed_at:
            # The upstream was down a moment ago: do not ask again on every request.
            if now.timestamp() - float(failed_at) >= MODELS_RETRY_AFTER_FAILURE_SECONDS:
                to_fetch[name] = credential
        elif now.timestamp() - float(entry.get("fetched_at") or 0) >= MODELS_FRESH_SECONDS:
            to_fetch[name] = credential

    fetched = async_to_sync(_fetch_all)(to_fetch) if to_fetch else {}

    listing: dict[str, ProviderModels] = {}
    for name, credential in credentials.items():
        key = _models_cache_key(name, credential.base_url)
        entry = entries[name]
        outcome = fetched.get(name)
        if isinstance(outcome, list):
            cache.set(
                key,
                {
                    "fetched_at": now.timestamp(),
                    "models": [dataclasses.asdict(spec) for spec in outcome],
                },
                MODELS_KEEP_SECONDS,
            )
            listing[name] = ProviderModels(name, outcome, "upstream", fetched_at=now)
            continue
        error = ""
        if isinstance(outcome, BaseException):
            error = _error_text(outcome)
            entry = {**(entry or {}), "failed_at": now.timestamp(), "error": error}
            cache.set(key, entry, MODELS_KEEP_SECONDS)
        elif entry is not None:
            error = str(entry.get("error") or "")
        if entry is not None and entry.get("models") is not None:
            specs = _specs_from_cache(entry["models"])
            catalog.register_dynamic(name, specs)
            fetched_at = entry.get("fetched_at")
            listing[name] = ProviderModels(
                name,
                specs,
                "cache",
                stale=bool(error),
                error=error,
                fetched_at=dt.datetime.fromtimestamp(fetched_at, tz=dt.UTC) if fetched_at else None,
            )
        else:
            listing[name] = ProviderModels(
                name, catalog.static_models(name), "catalog", stale=True, error=error
            )
    return listing


def available_models(*, user: User) -> ModelListing:
    """The models the user can use now: the catalog's for providers with a usable credential,
    and the live lists of OpenRouter and Ollama (cached; the catalog or last good list when the
    upstream is down, flagged ``stale`` with the error)."""
    from providers.services import resolve_credential

    usable = usable_providers(user=user)
    dynamic_credentials: dict[str, ResolvedCredential] = {}
    for name in DYNAMIC_MODEL_PROVIDERS:
        if name not in usable:
            continue
        try:
            dynamic_credentials[name] = resolve_credential(user=user, provider=name)
        except ProviderError:
            continue
    dynamic = _dynamic_models(dynamic_credentials)
    providers: list[ProviderModels] = []
    for name in PROVIDERS:
        if name not in usable:
            continue
        if name in dynamic:
            providers.append(dynamic[name])
        elif name not in DYNAMIC_MODEL_PROVIDERS:
            providers.append(ProviderModels(name, catalog.static_models(name), "catalog"))
    return ModelListing(providers)
