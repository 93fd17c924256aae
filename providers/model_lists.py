"""The models a user can use now: the catalog's for providers with a usable credential, and the
live lists of OpenRouter and Ollama, fetched from the upstream at most every few minutes and
cached in Redis. Not a selector: it calls upstreams and may refresh an OAuth token.

A provider whose live list cannot be fetched right now is listed with the error and no models
(``stale``): "the models you can use now" must not offer a down Ollama's thirty models. The last
good list stays cached so that routing still knows those model ids once the upstream is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.utils import timezone

from providers import catalog, selectors, services
from providers.adapters.base import ModelSpec, ProviderError, ResolvedCredential
from providers.registry import PROVIDERS, get_adapter

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Providers whose model list comes from the upstream (cached), not only from the catalog.
DYNAMIC_MODEL_PROVIDERS = ("openrouter", "ollama")
MODELS_FRESH_SECONDS = 300
MODELS_RETRY_AFTER_FAILURE_SECONDS = 30
MODELS_KEEP_SECONDS = 24 * 3600
MODELS_FETCH_TIMEOUT_SECONDS = 10.0


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
        fetched_at = entry.get("fetched_at") if entry is not None else None
        when = dt.datetime.fromtimestamp(fetched_at, tz=dt.UTC) if fetched_at else None
        if entry is not None and entry.get("models") is not None:
            specs = _specs_from_cache(entry["models"])
            catalog.register_dynamic(name, specs)  # routing keeps knowing the ids meanwhile
            # Failing now: none of its models can be used now, whatever it listed before.
            usable_now = [] if error else specs
            listing[name] = ProviderModels(
                name, usable_now, "cache", stale=bool(error), error=error, fetched_at=when
            )
        else:
            listing[name] = ProviderModels(
                name,
                [] if error else catalog.static_models(name),
                "catalog",
                stale=True,
                error=error,
            )
    return listing


def available_models(*, user: User) -> ModelListing:
    """The models the user can use now: the catalog's for providers with a usable credential,
    and the live lists of OpenRouter and Ollama (cached; the catalog or last good list when the
    upstream is down, flagged ``stale`` with the error)."""
    usable = selectors.usable_providers(user=user)
    dynamic_credentials: dict[str, ResolvedCredential] = {}
    for name in DYNAMIC_MODEL_PROVIDERS:
        if name not in usable:
            continue
        try:
            dynamic_credentials[name] = services.resolve_credential(user=user, provider=name)
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
