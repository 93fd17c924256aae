"""A provider-neutral OAuth 2.0 client: PKCE authorization code (RFC 6749 + 7636), refresh, and
the device authorization grant (RFC 8628), plus the short-lived flow state kept in Redis.

Which authorization server to talk to is the operator's configuration, read from the
environment at call time (nothing here is a setting with a default, because Mosaic ships no
OAuth client of its own and never borrows another vendor's first-party client id):

    MOSAIC_OAUTH_<PROVIDER>_CLIENT_ID       required
    MOSAIC_OAUTH_<PROVIDER>_CLIENT_SECRET   optional (public clients rely on PKCE alone)
    MOSAIC_OAUTH_<PROVIDER>_AUTHORIZE_URL   the browser flow (with _TOKEN_URL)
    MOSAIC_OAUTH_<PROVIDER>_TOKEN_URL       required
    MOSAIC_OAUTH_<PROVIDER>_DEVICE_URL      optional: enables the device-code flow
    MOSAIC_OAUTH_<PROVIDER>_SCOPES          space- or comma-separated
    MOSAIC_OAUTH_<PROVIDER>_REDIRECT_URI    default: this server's /api/providers/oauth/callback
    MOSAIC_OAUTH_<PROVIDER>_EXTRA_HEADERS   "Name: value; Name2: value2", sent on API requests
                                            made with the access token

This module speaks HTTP and Redis only; storing tokens is ``providers.services``' job.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core import env
from core.errors import InvalidInput

OAUTH_PROVIDERS: tuple[str, ...] = ("anthropic", "openai")

# How long a started login stays valid (state + PKCE verifier in Redis).
STATE_TTL_SECONDS = 600
# Token endpoint calls are server-to-server and small: fail fast rather than hang a request.
HTTP_TIMEOUT_SECONDS = 15.0
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


# --- errors ------------------------------------------------------------------------------------


class OAuthError(InvalidInput):
    """An OAuth step failed; the message is one sentence for the user. ``oauth_code`` is the
    authorization server's own error code (``invalid_grant``, ``access_denied``…) when it sent
    one."""

    code = "oauth_failed"

    def __init__(self, message: str, *, oauth_code: str = "") -> None:
        super().__init__(message)
        self.oauth_code = oauth_code


class OAuthNotConfigured(OAuthError):
    """The operator has not configured an OAuth client for this provider (or this flow)."""

    code = "oauth_not_configured"


class OAuthStateError(OAuthError):
    """The state is unknown, expired, belongs to someone else or does not match."""


class InvalidGrant(OAuthError):
    """The authorization server rejected the code or refresh token (``invalid_grant``)."""


class OAuthUnavailable(OAuthError):
    """The authorization server could not be reached or answered with a server error."""

    code = "oauth_unavailable"
    retryable = True


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OAuthClientConfig:
    provider: str
    client_id: str
    token_url: str
    authorize_url: str = ""
    device_url: str = ""
    client_secret: str = ""
    scopes: tuple[str, ...] = ()
    redirect_uri: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)


def env_prefix(provider: str) -> str:
    return f"MOSAIC_OAUTH_{provider.upper()}_"


def not_configured_message(provider: str) -> str:
    prefix = env_prefix(provider)
    return (
        f"OAuth for {provider} is not configured on this server: ask the operator to set "
        f"{prefix}CLIENT_ID, {prefix}AUTHORIZE_URL and {prefix}TOKEN_URL (see "
        f"docs/providers.md), or add an API key with `mosaic providers add {provider}`."
    )


def _url(name: str) -> str:
    try:
        return env.env_url(name, "", schemes=("http", "https"))
    except ImproperlyConfigured as exc:
        raise OAuthNotConfigured(str(exc)) from None


def _headers(name: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in env.env_str(name).split(";"):
        if not item.strip():
            continue
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            raise OAuthNotConfigured(f"{name} must look like 'Name: value; Name2: value2'.")
        headers[key.strip()] = value.strip()
    return headers


def client_config(provider: str) -> OAuthClientConfig:
    """The operator's OAuth client for ``provider``; ``OAuthNotConfigured`` when there is none."""
    if provider not in OAUTH_PROVIDERS:
        raise OAuthNotConfigured(
            f"Mosaic offers OAuth login for {' and '.join(OAUTH_PROVIDERS)} only; add an API key "
            f"for {provider} with `mosaic providers add {provider}`."
        )
    prefix = env_prefix(provider)
    client_id = env.env_str(prefix + "CLIENT_ID").strip()
    token_url = _url(prefix + "TOKEN_URL")
    authorize_url = _url(prefix + "AUTHORIZE_URL")
    device_url = _url(prefix + "DEVICE_URL")
    if not client_id or not token_url or not (authorize_url or device_url):
        raise OAuthNotConfigured(not_configured_message(provider))
    scopes = tuple(env.env_str(prefix + "SCOPES").replace(",", " ").split())
    return OAuthClientConfig(
        provider=provider,
        client_id=client_id,
        token_url=token_url,
        authorize_url=authorize_url,
        device_url=device_url,
        client_secret=env.env_str(prefix + "CLIENT_SECRET").strip(),
        scopes=scopes,
        redirect_uri=_url(prefix + "REDIRECT_URI"),
        extra_headers=_headers(prefix + "EXTRA_HEADERS"),
    )


def api_headers(provider: str) -> dict[str, str]:
    """Headers to send with API requests made with an OAuth token ({} when unconfigured)."""
    try:
        return client_config(provider).extra_headers
    except OAuthNotConfigured:
        return {}


# --- PKCE and the authorize URL ----------------------------------------------------------------


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    # RFC 7636 §4.1: 43-128 characters from the unreserved set; 64 random bytes give 86.
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """S256: BASE64URL(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    config: OAuthClientConfig, *, state: str, verifier: str, redirect_uri: str
) -> str:
    if not config.authorize_url:
        raise OAuthNotConfigured(
            f"The OAuth client for {config.provider} on this server offers only the device "
            f"flow: run `mosaic providers login {config.provider} --device`."
        )
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(config.scopes),
        "state": state,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if not config.scopes:
        del params["scope"]
    separator = "&" if urlparse(config.authorize_url).query else "?"
    return f"{config.authorize_url}{separator}{urlencode(params)}"


# --- the token endpoint ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str = ""
    expires_in: int | None = None
    scope: str = ""
    token_type: str = "Bearer"  # noqa: S105 - the name of a token type, not a secret


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class AuthorizationPending(OAuthError):
    """Device flow: the user has not finished yet (``slow_down`` sets ``slow_down``)."""

    def __init__(self, message: str, *, slow_down: bool = False) -> None:
        super().__init__(message, oauth_code="slow_down" if slow_down else "authorization_pending")
        self.slow_down = slow_down


def _post_form(config: OAuthClientConfig, url: str, data: dict[str, str]) -> dict[str, Any]:
    form = {**data, "client_id": config.client_id}
    if config.client_secret:
        form["client_secret"] = config.client_secret
    try:
        response = httpx.post(
            url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise OAuthUnavailable(
            f"The {config.provider} authorization server could not be reached ({exc.__class__.__name__})."
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 500:
        raise OAuthUnavailable(
            f"The {config.provider} authorization server answered {response.status_code}; try again shortly."
        )
    if response.status_code >= 400 or "error" in body:
        code = str(body.get("error") or f"http_{response.status_code}")
        description = str(body.get("error_description") or "").strip()
        detail = f"{code}: {description}" if description else code
        message = f"The {config.provider} authorization server refused the request ({detail})."
        if code == "invalid_grant":
            raise InvalidGrant(message, oauth_code=code)
        if code in ("authorization_pending", "slow_down"):
            raise AuthorizationPending(message, slow_down=code == "slow_down")
        raise OAuthError(message, oauth_code=code)
    return body


def _token_set(config: OAuthClientConfig, body: dict[str, Any]) -> TokenSet:
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuthError(f"The {config.provider} authorization server sent no access token.")
    expires_in = body.get("expires_in")
    try:
        expires = int(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        expires = None
    return TokenSet(
        access_token=access,
        refresh_token=str(body.get("refresh_token") or ""),
        expires_in=expires,
        scope=str(body.get("scope") or ""),
        token_type=str(body.get("token_type") or "Bearer"),
    )


def exchange_code(
    config: OAuthClientConfig, *, code: str, verifier: str, redirect_uri: str
) -> TokenSet:
    body = _post_form(
        config,
        config.token_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    return _token_set(config, body)


def refresh(config: OAuthClientConfig, refresh_token: str) -> TokenSet:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if config.scopes:
        data["scope"] = " ".join(config.scopes)
    return _token_set(config, _post_form(config, config.token_url, data))


def start_device_authorization(config: OAuthClientConfig) -> DeviceAuthorization:
    if not config.device_url:
        raise OAuthNotConfigured(
            f"The OAuth client for {config.provider} on this server has no device endpoint "
            f"({env_prefix(config.provider)}DEVICE_URL): run `mosaic providers login "
            f"{config.provider}` without --device."
        )
    data = {"scope": " ".join(config.scopes)} if config.scopes else {}
    body = _post_form(config, config.device_url, data)
    try:
        return DeviceAuthorization(
            device_code=str(body["device_code"]),
            user_code=str(body["user_code"]),
            verification_uri=str(body.get("verification_uri") or body["verification_url"]),
            verification_uri_complete=str(body.get("verification_uri_complete") or ""),
            expires_in=int(body.get("expires_in") or STATE_TTL_SECONDS),
            # RFC 8628 §3.2: 5 seconds when the server does not say.
            interval=max(0, int(body.get("interval", 5))),
        )
    except (KeyError, TypeError, ValueError):
        raise OAuthError(
            f"The {config.provider} device endpoint answered without a device code."
        ) from None


def poll_device_token(config: OAuthClientConfig, device_code: str) -> TokenSet:
    """One poll of the token endpoint; ``AuthorizationPending`` until the user has approved."""
    body = _post_form(
        config, config.token_url, {"grant_type": DEVICE_GRANT_TYPE, "device_code": device_code}
    )
    return _token_set(config, body)


# --- flow state in Redis -----------------------------------------------------------------------


@functools.cache
def _redis(url: str) -> redis.Redis[bytes]:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis[bytes]:
    """A client of the project's Redis (the same server as the cache; keys are namespaced)."""
    return _redis(settings.REDIS_URL)


def state_key(user_id: int | str, state: str) -> str:
    return f"mosaic:oauth:{user_id}:{state}"


def device_key(user_id: int | str, device_id: str) -> str:
    return f"mosaic:oauth:{user_id}:device:{device_id}"


def save_flow(key: str, payload: dict[str, Any], ttl: int = STATE_TTL_SECONDS) -> None:
    redis_client().set(key, json.dumps(payload), ex=max(1, ttl))


def load_flow(key: str) -> dict[str, Any] | None:
    raw = redis_client().get(key)
    return _decode(raw)


def pop_flow(key: str) -> dict[str, Any] | None:
    """Read and delete in one step, so a code can be redeemed once only."""
    raw = redis_client().getdel(key)
    return _decode(raw)


def delete_flow(key: str) -> None:
    redis_client().delete(key)


def _decode(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def split_pasted_code(pasted: str) -> tuple[str, str]:
    """``"code#state"`` (what some providers' code pages show) → (code, state); else (code, "")."""
    text = pasted.strip()
    code, sep, state = text.partition("#")
    return (code.strip(), state.strip()) if sep else (text, "")
