"""Writes of the providers app, and the credential resolution the chat path calls.

Public surface for the rest of Mosaic:

- ``resolve_credential(*, user, provider, force_refresh=False) -> ResolvedCredential`` and
  ``aresolve_credential``: what an adapter call should authenticate with. Precedence: the user's
  own active credential, then the system-wide credential row, then the ``<PROVIDER>_API_KEY``
  environment key. OAuth tokens that expire within 60 s are refreshed first (one process at a
  time, under a Redis lock); ``force_refresh=True`` refreshes once after the provider answered
  401 to the token.
- ``refresh_credential(*, user, credential_id)``: the same refresh for a known credential.
- credential CRUD and test for the REST API, and the OAuth login flows.

Anything that changes which credentials exist invalidates ``usable_providers``' cache.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from core.db import in_database_thread
from core.errors import Conflict, InvalidInput
from providers import oauth, outbound, selectors
from providers.adapters.base import (
    USER_BASE_URL_FAILURE,
    ErrorKind,
    Health,
    ProviderError,
    ResolvedCredential,
)
from providers.fields import validate_http_url
from providers.models import CredentialKind, ProviderCredential
from providers.probing import probe
from providers.registry import PROVIDERS, UnknownProvider, get_adapter

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# Refresh an OAuth access token when it expires within this long.
REFRESH_MARGIN = dt.timedelta(seconds=60)
# How long one refresh may hold the lock, and how long another process waits for it.
REFRESH_LOCK_SECONDS = 30
REFRESH_WAIT_SECONDS = 20
# Write last_used_at at most this often: a write per message would be waste.
TOUCH_EVERY = dt.timedelta(seconds=60)
# "Test" runs inline because the user asked for it; it must still come back quickly.
TEST_TIMEOUT_SECONDS = 10.0

REVOKED_MESSAGE = (
    "the refresh token was revoked; log in again with `mosaic providers login {provider}`"
)


class CredentialConflict(Conflict):
    """Another write made a different credential active at the same moment."""


class CredentialInvalid(InvalidInput):
    """The input cannot make a credential; the message says why, in one sentence."""


def _owner_id(user: User) -> int:
    if not user.is_authenticated:
        raise CredentialInvalid("Only a signed-in user can own a credential.")
    return int(user.pk)


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise UnknownProvider(provider)


def _check_base_url(base_url: str) -> None:
    """A base URL a user sets: an http(s) URL that ``providers.outbound`` allows."""
    if not base_url:
        return
    try:
        validate_http_url(base_url)
    except ValidationError:
        raise CredentialInvalid("base_url must be an http:// or https:// URL.") from None
    if not outbound.user_base_url_allowed(base_url):
        raise CredentialInvalid(outbound.REFUSED)


def invalidate_usable(*, owner_id: int | None) -> None:
    """Forget cached ``usable_providers``: one user's, or everyone's after a system-wide change.
    Called on commit of every write that changes which credentials exist."""
    if owner_id is not None:
        generation = int(cache.get(selectors.USABLE_GENERATION_KEY) or 0)
        cache.delete(selectors.usable_key(owner_id, generation))
        return
    try:
        cache.incr(selectors.USABLE_GENERATION_KEY)
    except ValueError:
        cache.set(selectors.USABLE_GENERATION_KEY, 1, None)


def _save_active(credential: ProviderCredential) -> ProviderCredential:
    """Save ``credential``; if it is active, the owner's other active one for the provider is
    deactivated in the same transaction (the newest write wins)."""
    try:
        with transaction.atomic():
            if credential.is_active:
                others = ProviderCredential.objects.filter(
                    owner_id=credential.owner_id, provider=credential.provider, is_active=True
                ).exclude(pk=credential.pk)
                others.update(is_active=False, updated_at=timezone.now())
            credential.save()
    except IntegrityError as exc:
        if "one_active_" not in str(exc):
            raise
        raise CredentialConflict(
            f"Another {credential.provider} credential was activated at the same time; try again."
        ) from None
    transaction.on_commit(lambda: invalidate_usable(owner_id=credential.owner_id))
    return credential


# --- credential CRUD ---------------------------------------------------------------------------


def credential_create(
    *,
    user: User,
    provider: str,
    api_key: str,
    label: str = "",
    base_url: str = "",
) -> ProviderCredential:
    """Add an API-key credential for the acting user; it becomes the one in use."""
    owner_id = _owner_id(user)
    _check_provider(provider)
    _check_base_url(base_url)
    api_key = api_key.strip()
    if not api_key and provider not in selectors.KEYLESS_PROVIDERS:
        raise CredentialInvalid(f"An API key is required for {provider}.")
    credential = ProviderCredential(
        owner_id=owner_id,
        provider=provider,
        kind=CredentialKind.API_KEY,
        label=label.strip()[:100],
        api_key=api_key,
        base_url=base_url,
        is_active=True,
    )
    return _save_active(credential)


def credential_update(
    *,
    user: User,
    credential_id: UUID | str,
    label: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    is_active: bool | None = None,
) -> ProviderCredential:
    credential = selectors.credential_get(user=user, credential_id=credential_id)
    if label is not None:
        credential.label = label.strip()[:100]
    if api_key is not None:
        if credential.kind != CredentialKind.API_KEY:
            raise CredentialInvalid(
                "This credential holds OAuth tokens; log in again instead of setting a key."
            )
        if not api_key.strip() and credential.provider not in selectors.KEYLESS_PROVIDERS:
            raise CredentialInvalid(f"An API key is required for {credential.provider}.")
        credential.api_key = api_key.strip()
        credential.last_error = ""
    if base_url is not None:
        _check_base_url(base_url)
        credential.base_url = base_url
    if is_active is not None:
        credential.is_active = is_active
    return _save_active(credential)


def credential_delete(*, user: User, credential_id: UUID | str) -> None:
    credential = selectors.credential_get(user=user, credential_id=credential_id)
    owner_id = credential.owner_id
    credential.delete()
    transaction.on_commit(lambda: invalidate_usable(owner_id=owner_id))


@dataclass(frozen=True, slots=True)
class CredentialTestResult:
    provider: str
    health: Health


def credential_test(*, user: User, credential_id: UUID | str) -> CredentialTestResult:
    """Run the provider's health check with this very credential (not the precedence winner)."""
    credential = selectors.credential_get(user=user, credential_id=credential_id)
    try:
        if credential.kind == CredentialKind.OAUTH:
            credential = _ensure_fresh(credential, force=False)
        resolved = _resolved(credential, source="user")
    except ProviderError as exc:
        health = Health(status="down", error=exc.message)
    else:
        health = async_to_sync(probe)(
            get_adapter(credential.provider), resolved, time_limit=TEST_TIMEOUT_SECONDS
        )
        if health.status != "healthy" and resolved.user_base_url:
            # Through the user's own base URL: one answer for every failure
            # (providers/outbound.py).
            health = replace(
                health, status="down", error=f"{credential.provider} {USER_BASE_URL_FAILURE}"
            )
    error = "" if health.status != "down" else health.error[:2000]
    ProviderCredential.objects.filter(pk=credential.pk).update(last_error=error)
    return CredentialTestResult(credential.provider, health)


def credential_admin_save(
    *,
    user: User,
    credential: ProviderCredential,
    new_api_key: str = "",
    delete: bool = False,
) -> ProviderCredential:
    """Save a credential edited in the admin (staff only), or delete it with ``delete=True``.

    A new key replaces the stored one. Cached ``usable_providers`` answers are cleared once the
    transaction commits: the owner's, and the previous owner's when the owner changed (a
    system-wide credential clears everyone's).
    """
    if not user.is_staff:
        raise CredentialInvalid("Only staff may edit credentials in the admin.")
    owners = {credential.owner_id}
    if not credential._state.adding:
        owners.update(
            ProviderCredential.objects.filter(pk=credential.pk).values_list("owner_id", flat=True)
        )
    if delete:
        credential.delete()
    else:
        if new_api_key.strip():
            credential.api_key = new_api_key.strip()
            credential.kind = CredentialKind.API_KEY
            credential.last_error = ""
        credential.save()

    def forget_cached_answers() -> None:
        for owner_id in owners:
            invalidate_usable(owner_id=owner_id)

    transaction.on_commit(forget_cached_answers)
    return credential


# --- resolution (the chat path) ----------------------------------------------------------------


def _resolved(credential: ProviderCredential, *, source: str) -> ResolvedCredential:
    base_url = credential.base_url or selectors.provider_base_url(credential.provider)
    # A user's own base URL is checked again at each use (its name may resolve elsewhere now).
    users_own = source == "user" and bool(credential.base_url)
    if users_own and not outbound.user_base_url_allowed(credential.base_url):
        raise ProviderError(
            ErrorKind.BAD_REQUEST, outbound.REFUSED, provider=credential.provider, retryable=False
        )
    if credential.kind == CredentialKind.OAUTH:
        return ResolvedCredential(
            access_token=credential.access_token,
            base_url=base_url,
            extra_headers=oauth.api_headers(credential.provider),
            source=source,
            user_base_url=users_own,
        )
    return ResolvedCredential(
        api_key=credential.api_key, base_url=base_url, source=source, user_base_url=users_own
    )


def _touch(credential: ProviderCredential) -> None:
    now = timezone.now()
    if credential.last_used_at is None or now - credential.last_used_at > TOUCH_EVERY:
        ProviderCredential.objects.filter(pk=credential.pk).update(last_used_at=now)


def resolve_credential(
    *, user: User | None, provider: str, force_refresh: bool = False
) -> ResolvedCredential:
    """What to authenticate a request to ``provider`` with, on behalf of ``user``.

    ``user=None`` resolves the installation's own credential (health probes, embeddings).
    Returns a credential with ``source="none"`` (and no secret) when there is nothing; use
    ``selectors.credential_usable`` to decide. Raises ``ProviderError(kind=auth)`` when the
    credential in use is an OAuth login whose refresh token was revoked (the credential is then
    deactivated, so the next call falls back to the system credential), and
    ``ProviderError(kind=unavailable)`` when an expired token could not be refreshed because the
    authorization server is down.
    """
    _check_provider(provider)
    rows = selectors.active_credentials(user=user, provider=provider)
    user_id = selectors.acting_user_id(user)
    own = next((row for row in rows if user_id is not None and row.owner_id == user_id), None)
    system = next((row for row in rows if row.owner_id is None), None)
    for candidate, source in ((own, "user"), (system, "system")):
        if candidate is None:
            continue
        credential = (
            _ensure_fresh(candidate, force=force_refresh)
            if candidate.kind == CredentialKind.OAUTH
            else candidate
        )
        _touch(credential)
        return _resolved(credential, source=source)
    key = selectors.env_api_key(provider)
    base_url = selectors.provider_base_url(provider)
    keyless = provider in selectors.KEYLESS_PROVIDERS and bool(base_url)
    return ResolvedCredential(
        api_key=key, base_url=base_url, source="system" if key or keyless else "none"
    )


async def aresolve_credential(
    *, user: User | None, provider: str, force_refresh: bool = False
) -> ResolvedCredential:
    """``resolve_credential`` for async callers (the gateway, the runtime)."""
    return await in_database_thread(
        resolve_credential, user=user, provider=provider, force_refresh=force_refresh
    )


def refresh_credential(*, user: User, credential_id: UUID | str) -> ProviderCredential:
    """Refresh the user's OAuth credential now (e.g. after the provider answered 401)."""
    credential = selectors.credential_get(user=user, credential_id=credential_id)
    if credential.kind != CredentialKind.OAUTH:
        raise CredentialInvalid("Only OAuth credentials can be refreshed.")
    return _ensure_fresh(credential, force=True)


# --- OAuth refresh -----------------------------------------------------------------------------


def _expiring(credential: ProviderCredential) -> bool:
    return credential.expires_at is not None and (
        credential.expires_at - timezone.now() <= REFRESH_MARGIN
    )


def _expired(credential: ProviderCredential) -> bool:
    return credential.expires_at is not None and credential.expires_at <= timezone.now()


def _ensure_fresh(credential: ProviderCredential, *, force: bool) -> ProviderCredential:
    if not force and not _expiring(credential):
        return credential
    seen_token = credential.access_token
    lock = oauth.redis_client().lock(
        f"mosaic:oauth:refresh:{credential.owner_id or 'system'}:{credential.pk}",
        timeout=REFRESH_LOCK_SECONDS,
        blocking_timeout=REFRESH_WAIT_SECONDS,
    )
    try:
        acquired = lock.acquire()
    except RedisError:
        acquired = False
    try:
        current = ProviderCredential.objects.filter(pk=credential.pk).first()
        if current is None or not current.is_active:
            raise ProviderError(
                ErrorKind.AUTH,
                (current.last_error if current else "")
                or f"the {credential.provider} login is no longer active",
                provider=credential.provider,
                retryable=False,
            )
        if current.access_token != seen_token and not _expiring(current):
            return current  # another process refreshed it while we waited
        if not acquired:  # another process holds the lock too long, or Redis is unreachable
            if _expired(current):
                raise ProviderError(
                    ErrorKind.UNAVAILABLE,
                    f"the {current.provider} token has expired and could not be refreshed "
                    "just now; try again",
                    provider=current.provider,
                )
            return current
        if not force and not _expiring(current):
            return current
        return _refresh_now(current)
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:
                logger.warning("OAuth refresh lock for %s expired before release", credential.pk)


def _refresh_now(credential: ProviderCredential) -> ProviderCredential:
    provider = credential.provider
    if not credential.refresh_token:
        if _expired(credential):
            _deactivate(
                credential,
                f"the login expired; log in again with `mosaic providers login {provider}`",
            )
            raise ProviderError(
                ErrorKind.AUTH, credential.last_error, provider=provider, retryable=False
            )
        return credential
    try:
        config = oauth.client_config(provider)
        tokens = oauth.refresh(config, credential.refresh_token)
    except oauth.InvalidGrant:
        _deactivate(credential, REVOKED_MESSAGE.format(provider=provider))
        raise ProviderError(
            ErrorKind.AUTH, credential.last_error, provider=provider, retryable=False
        ) from None
    except oauth.OAuthError as exc:
        # Not a verdict on the login: keep using the current token while it lasts.
        ProviderCredential.objects.filter(pk=credential.pk).update(last_error=exc.message[:2000])
        if _expired(credential):
            raise ProviderError(
                ErrorKind.UNAVAILABLE,
                f"could not refresh the {provider} token: {exc.message}",
                provider=provider,
            ) from None
        return credential
    _apply_tokens(credential, tokens)
    credential.last_error = ""
    credential.save(
        update_fields=[
            "access_token",
            "refresh_token",
            "expires_at",
            "scopes",
            "last_error",
            "updated_at",
        ]
    )
    return credential


def _deactivate(credential: ProviderCredential, reason: str) -> None:
    credential.is_active = False
    credential.last_error = reason
    credential.save(update_fields=["is_active", "last_error", "updated_at"])
    transaction.on_commit(lambda: invalidate_usable(owner_id=credential.owner_id))


def _apply_tokens(credential: ProviderCredential, tokens: oauth.TokenSet) -> None:
    credential.access_token = tokens.access_token
    if tokens.refresh_token:  # servers that do not rotate refresh tokens omit it
        credential.refresh_token = tokens.refresh_token
    credential.expires_at = (
        timezone.now() + dt.timedelta(seconds=tokens.expires_in)
        if tokens.expires_in is not None
        else None
    )
    if tokens.scope:
        credential.scopes = tokens.scope[:500]


def refresh_expiring_credentials(*, within: dt.timedelta = dt.timedelta(minutes=10)) -> int:
    """Refresh every active OAuth credential expiring soon (the beat job); returns how many."""
    soon = timezone.now() + within
    refreshed = 0
    candidates = ProviderCredential.objects.filter(
        kind=CredentialKind.OAUTH, is_active=True, expires_at__lte=soon
    ).values_list("pk", flat=True)
    for pk in list(candidates):
        credential = ProviderCredential.objects.filter(pk=pk, is_active=True).first()
        if credential is None:
            continue
        try:
            _ensure_fresh(credential, force=True)
        except ProviderError as exc:
            logger.info("OAuth refresh of credential %s failed: %s", pk, exc.message)
            continue
        refreshed += 1
    return refreshed


# --- OAuth login flows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthStart:
    provider: str
    authorize_url: str
    state: str
    redirect_uri: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class DeviceStart:
    provider: str
    device_id: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class DevicePoll:
    status: Literal["pending", "complete"]
    interval: int
    credential: ProviderCredential | None = None


def oauth_start(*, user: User, provider: str, default_redirect_uri: str) -> OAuthStart:
    """Begin a PKCE login: remember state and verifier under the user's id; return the URL."""
    owner_id = _owner_id(user)
    _check_provider(provider)
    config = oauth.client_config(provider)
    state = oauth.new_state()
    verifier = oauth.new_code_verifier()
    redirect_uri = config.redirect_uri or default_redirect_uri
    url = oauth.authorize_url(config, state=state, verifier=verifier, redirect_uri=redirect_uri)
    oauth.save_flow(
        oauth.state_key(owner_id, state),
        {"provider": provider, "verifier": verifier, "redirect_uri": redirect_uri},
    )
    return OAuthStart(provider, url, state, redirect_uri, oauth.STATE_TTL_SECONDS)


def oauth_complete(
    *, user: User, code: str, state: str = "", provider: str | None = None
) -> ProviderCredential:
    """Finish a login with the code from the callback or pasted by the user.

    ``code`` may be the ``code#state`` form some providers' code pages show; a state given both
    ways must agree. The state must have been started by this user, for this provider, less
    than ``oauth.STATE_TTL_SECONDS`` ago, and is single-use.
    """
    owner_id = _owner_id(user)
    code, pasted_state = oauth.split_pasted_code(code)
    state = state.strip()
    if pasted_state and state and pasted_state != state:
        raise oauth.OAuthStateError(
            "The pasted code belongs to a different login (state mismatch); start again."
        )
    state = state or pasted_state
    if not code:
        raise oauth.OAuthStateError("No authorization code was given.")
    if not state:
        raise oauth.OAuthStateError(
            "The state is missing: paste the whole `code#state` text, or give --state."
        )
    flow = oauth.pop_flow(oauth.state_key(owner_id, state))
    if flow is None:
        raise oauth.OAuthStateError(
            "This login has expired or was not started by you (state mismatch); run "
            f"`mosaic providers login {provider or '<provider>'}` again."
        )
    flow_provider = str(flow.get("provider", ""))
    if provider is not None and flow_provider != provider:
        raise oauth.OAuthStateError(
            f"This code is for a {flow_provider} login, not {provider} (state mismatch)."
        )
    config = oauth.client_config(flow_provider)
    tokens = oauth.exchange_code(
        config,
        code=code,
        verifier=str(flow["verifier"]),
        redirect_uri=str(flow["redirect_uri"]),
    )
    return _store_oauth_tokens(owner_id=owner_id, provider=flow_provider, tokens=tokens)


def _store_oauth_tokens(
    *, owner_id: int, provider: str, tokens: oauth.TokenSet
) -> ProviderCredential:
    credential = ProviderCredential(
        owner_id=owner_id,
        provider=provider,
        kind=CredentialKind.OAUTH,
        label="OAuth login",
        is_active=True,
    )
    _apply_tokens(credential, tokens)
    return _save_active(credential)


def oauth_device_start(*, user: User, provider: str) -> DeviceStart:
    """Begin a device-code login (RFC 8628); the device code itself stays on the server."""
    owner_id = _owner_id(user)
    _check_provider(provider)
    config = oauth.client_config(provider)
    authorization = oauth.start_device_authorization(config)
    device_id = secrets.token_urlsafe(16)
    oauth.save_flow(
        oauth.device_key(owner_id, device_id),
        {
            "provider": provider,
            "device_code": authorization.device_code,
            "interval": authorization.interval,
            "next_poll": 0.0,
        },
        ttl=authorization.expires_in,
    )
    return DeviceStart(
        provider=provider,
        device_id=device_id,
        user_code=authorization.user_code,
        verification_uri=authorization.verification_uri,
        verification_uri_complete=authorization.verification_uri_complete,
        expires_in=authorization.expires_in,
        interval=authorization.interval,
    )


def oauth_device_poll(*, user: User, provider: str, device_id: str) -> DevicePoll:
    """Ask the authorization server once whether the user has approved (never faster than it
    allows); stores the tokens when they arrive."""
    owner_id = _owner_id(user)
    key = oauth.device_key(owner_id, device_id)
    flow = oauth.load_flow(key)
    if flow is None or flow.get("provider") != provider:
        raise oauth.OAuthStateError(
            f"This device login has expired or was not started by you; run "
            f"`mosaic providers login {provider} --device` again."
        )
    interval = int(flow.get("interval", 5))
    now = timezone.now().timestamp()
    if now < float(flow.get("next_poll", 0)):
        return DevicePoll("pending", interval)
    config = oauth.client_config(provider)
    try:
        tokens = oauth.poll_device_token(config, str(flow["device_code"]))
    except oauth.AuthorizationPending as pending:
        if pending.slow_down:
            interval += 5  # RFC 8628 §3.5
        _save_device_flow(key, flow, interval=interval, next_poll=now + interval)
        return DevicePoll("pending", interval)
    except oauth.OAuthUnavailable:
        _save_device_flow(key, flow, interval=interval, next_poll=now + interval)
        raise
    except oauth.OAuthError as exc:
        oauth.delete_flow(key)
        if exc.oauth_code == "access_denied":
            raise oauth.OAuthError(
                "The login was denied at the provider.", oauth_code=exc.oauth_code
            ) from None
        if exc.oauth_code == "expired_token":
            raise oauth.OAuthStateError(
                f"The device code expired before it was approved; run `mosaic providers login "
                f"{provider} --device` again.",
                oauth_code=exc.oauth_code,
            ) from None
        raise
    oauth.delete_flow(key)
    credential = _store_oauth_tokens(owner_id=owner_id, provider=provider, tokens=tokens)
    return DevicePoll("complete", interval, credential)


def _save_device_flow(key: str, flow: dict[str, Any], *, interval: int, next_poll: float) -> None:
    ttl = oauth.redis_client().ttl(key)
    if isinstance(ttl, int) and ttl > 0:
        oauth.save_flow(key, {**flow, "interval": interval, "next_poll": next_poll}, ttl=ttl)
