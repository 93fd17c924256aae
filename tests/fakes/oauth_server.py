"""A fake OAuth 2.0 authorization server on loopback, strict where a real one is.

Endpoints (all under ``base_url``):

- ``GET /authorize`` — the user "approves" at once: redirects (302) to ``redirect_uri`` with a
  fresh ``code`` and the ``state`` it was given. The code remembers the client, redirect URI and
  PKCE challenge. Missing or wrong parameters answer 400, as a real server shows an error page.
- ``POST /token`` (form-encoded, RFC 6749 §4.1.3, §6; RFC 8628 §3.4):
  ``authorization_code`` checks client id (and secret when one is set), redirect URI, that the
  code is unused and unexpired, and that ``S256(code_verifier) == code_challenge``;
  ``refresh_token`` rotates the refresh token, or answers ``invalid_grant`` for a revoked one;
  ``urn:ietf:params:oauth:grant-type:device_code`` answers ``authorization_pending`` until the
  device is approved (``approve_device``), then tokens; ``access_denied`` once denied.
- ``POST /device/code`` — a device code, a user code and the verification URI.

Tokens are random strings; ``access_token_ttl`` sets their ``expires_in``. Every request is
recorded (``requests``), like the LLM fakes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from mosaic.fakes.base import FakeUpstream

CLIENT_ID = "mosaic-test-client"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class IssuedCode:
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class DeviceGrant:
    user_code: str
    scope: str
    approved: bool = False
    denied: bool = False
    polls: int = 0
    redeemed: bool = False


@dataclass
class FakeOAuthState:
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> scope
    revoked: set[str] = field(default_factory=set)
    access_tokens: list[str] = field(default_factory=list)
    devices: dict[str, DeviceGrant] = field(default_factory=dict)


class FakeOAuthServer(FakeUpstream):
    provider = "oauth"

    def __init__(self) -> None:
        super().__init__()
        self.client_id = CLIENT_ID
        self.client_secret = ""
        self.access_token_ttl = 3600
        self.device_interval = 0
        self.rotate_refresh_tokens = True
        # Device flow: approve by itself after this many pending polls (None: wait for a test).
        self.auto_approve_after_polls: int | None = None
        self.state = FakeOAuthState()

    def reset(self) -> None:
        super().reset()
        self.client_id = CLIENT_ID
        self.client_secret = ""
        self.access_token_ttl = 3600
        self.device_interval = 0
        self.rotate_refresh_tokens = True
        self.auto_approve_after_polls = None
        self.state = FakeOAuthState()

    # --- URLs for the configuration under test -----------------------------------------------

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def device_url(self) -> str:
        return f"{self.base_url}/device/code"

    def env(
        self, provider: str, *, device: bool = True, scopes: str = "user:inference"
    ) -> dict[str, str]:
        """The MOSAIC_OAUTH_<PROVIDER>_* variables pointing at this server."""
        prefix = f"MOSAIC_OAUTH_{provider.upper()}_"
        values = {
            prefix + "CLIENT_ID": self.client_id,
            prefix + "AUTHORIZE_URL": self.authorize_url,
            prefix + "TOKEN_URL": self.token_url,
            prefix + "SCOPES": scopes,
        }
        if device:
            values[prefix + "DEVICE_URL"] = self.device_url
        if self.client_secret:
            values[prefix + "CLIENT_SECRET"] = self.client_secret
        return values

    # --- test controls -----------------------------------------------------------------------

    def revoke(self, refresh_token: str) -> None:
        self.state.revoked.add(refresh_token)

    def approve_device(self, user_code: str) -> None:
        self.device_by_user_code(user_code).approved = True

    def deny_device(self, user_code: str) -> None:
        self.device_by_user_code(user_code).denied = True

    def device_by_user_code(self, user_code: str) -> DeviceGrant:
        return next(d for d in self.state.devices.values() if d.user_code == user_code)

    def token_requests(self, grant_type: str | None = None) -> list[Any]:
        return [
            r
            for r in self.requests
            if r.path == "/token"
            and (grant_type is None or _form_of(r.body).get("grant_type") == grant_type)
        ]

    # --- server ------------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_post("/device/code", self._device_code)

    @staticmethod
    def _oauth_error(error: str, description: str = "", status: int = 400) -> web.Response:
        body = {"error": error}
        if description:
            body["error_description"] = description
        return web.json_response(body, status=status)

    def _issue_tokens(self, scope: str) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        refresh = "rt-" + secrets.token_urlsafe(24)
        self.state.access_tokens.append(access)
        self.state.refresh_tokens[refresh] = scope
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh,
            "scope": scope,
        }

    def _client_ok(self, form: dict[str, str]) -> bool:
        if form.get("client_id") != self.client_id:
            return False
        return not self.client_secret or form.get("client_secret") == self.client_secret

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        required = ("response_type", "client_id", "redirect_uri", "state", "code_challenge")
        if any(not q.get(name) for name in required) or q.get("response_type") != "code":
            return web.Response(status=400, text="invalid_request")
        if q["client_id"] != self.client_id:
            return web.Response(status=400, text="unauthorized_client")
        if q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="PKCE S256 required")
        code = "code-" + secrets.token_urlsafe(16)
        self.state.codes[code] = IssuedCode(
            client_id=q["client_id"],
            redirect_uri=q["redirect_uri"],
            challenge=q["code_challenge"],
            method=q["code_challenge_method"],
            scope=q.get("scope", ""),
            expires_at=time.time() + 600,
        )
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        raise web.HTTPFound(target)

    async def _token(self, request: web.Request) -> web.Response:
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return self._oauth_error("invalid_request", "the body must be form-encoded")
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not self._client_ok(form):
            return self._oauth_error("invalid_client", status=401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._authorization_code(form)
        if grant == "refresh_token":
            return self._refresh(form)
        if grant == DEVICE_GRANT:
            return self._device_token(form)
        return self._oauth_error("unsupported_grant_type")

    def _authorization_code(self, form: dict[str, str]) -> web.Response:
        issued = self.state.codes.get(form.get("code", ""))
        if issued is None or issued.used or issued.expires_at < time.time():
            return self._oauth_error("invalid_grant", "unknown, used or expired code")
        issued.used = True
        if issued.redirect_uri != form.get("redirect_uri"):
            return self._oauth_error("invalid_grant", "redirect_uri mismatch")
        verifier = form.get("code_verifier", "")
        if not verifier or s256(verifier) != issued.challenge:
            return self._oauth_error("invalid_grant", "PKCE verification failed")
        return web.json_response(self._issue_tokens(issued.scope))

    def _refresh(self, form: dict[str, str]) -> web.Response:
        token = form.get("refresh_token", "")
        if token in self.state.revoked or token not in self.state.refresh_tokens:
            return self._oauth_error("invalid_grant", "refresh token revoked")
        scope = self.state.refresh_tokens[token]
        body = self._issue_tokens(scope)
        if self.rotate_refresh_tokens:
            self.state.revoked.add(token)  # a used refresh token cannot be replayed
        else:
            self.state.refresh_tokens.pop(body.pop("refresh_token"))
        return web.json_response(body)

    async def _device_code(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        if not self._client_ok(form):
            return self._oauth_error("invalid_client", status=401)
        device_code = "dc-" + secrets.token_urlsafe(16)
        user_code = f"{secrets.randbelow(10_000):04d}-{secrets.randbelow(10_000):04d}"
        self.state.devices[device_code] = DeviceGrant(
            user_code=user_code, scope=form.get("scope", "")
        )
        return web.json_response(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": f"{self.base_url}/device",
                "verification_uri_complete": f"{self.base_url}/device?user_code={user_code}",
                "expires_in": 600,
                "interval": self.device_interval,
            }
        )

    def _device_token(self, form: dict[str, str]) -> web.Response:
        grant = self.state.devices.get(form.get("device_code", ""))
        if grant is None or grant.redeemed:
            return self._oauth_error("expired_token")
        grant.polls += 1
        if (
            self.auto_approve_after_polls is not None
            and grant.polls > self.auto_approve_after_polls
        ):
            grant.approved = True
        if grant.denied:
            return self._oauth_error("access_denied")
        if not grant.approved:
            return self._oauth_error("authorization_pending")
        grant.redeemed = True
        return web.json_response(self._issue_tokens(grant.scope))


def _form_of(body: Any) -> dict[str, str]:
    if isinstance(body, str):
        from urllib.parse import parse_qsl

        return dict(parse_qsl(body))
    return {}
