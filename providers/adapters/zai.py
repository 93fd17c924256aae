"""Z.ai (Zhipu's GLM models, GLM-5 by default), on its OpenAI-compatible Chat Completions API.

What Z.ai's documentation says (sources in docs/providers-zai-notes.md):

- Base URL ``https://api.z.ai/api/paas/v4`` (pay-as-you-go). GLM Coding Plan keys only work on
  ``https://api.z.ai/api/coding/paas/v4``; mainland China accounts use BigModel,
  ``https://open.bigmodel.cn/api/paas/v4``. Keys are not interchangeable between them: a key
  on the wrong endpoint answers 429 with business code 1113 ("in arrears"). Set the credential's
  base URL accordingly.
- ``Authorization: Bearer <api key>``.
- Thinking is on by default for GLM-5, GLM-5.1 and GLM-4.7 and is switched per request with
  ``thinking: {"type": "enabled" | "disabled"}``; Mosaic sends it explicitly both ways so a turn
  that did not ask for reasoning does not pay for it. Reasoning streams in
  ``delta.reasoning_content``; with tools, Z.ai asks for the reasoning to be sent back on the
  assistant message ("interleaved thinking"), so history thinking is returned there.
- Errors: the HTTP status plus a business code, ``{"error": {"code": "1302", "message": ...}}``.
  Mid-stream failures are reported in ``finish_reason`` (``network_error``, ``sensitive``) rather
  than as an error.
- No models endpoint is documented, so the model list comes from the catalog.
"""

from __future__ import annotations

from typing import Any, ClassVar

from providers.adapters.base import (
    ChatRequest,
    ErrorKind,
    Health,
    ProviderError,
    ResolvedCredential,
)
from providers.adapters.openai_compat import (
    UPSTREAM_ERRORS,
    ChatCompletionsAdapter,
    Verdict,
    classify_error_code,
    request_timeout,
    timed_health,
)

CODING_PLAN_BASE_URL = "https://api.z.ai/api/coding/paas/v4"
BIGMODEL_BASE_URL = "https://open.bigmodel.cn/api/paas/v4"

_AUTH = (ErrorKind.AUTH, None)
_ACCOUNT = (ErrorKind.AUTH, False)  # a person must act (recharge, unlock, renew)
_BAD = (ErrorKind.BAD_REQUEST, None)
_DOWN = (ErrorKind.UNAVAILABLE, None)

# Business codes from https://docs.z.ai/api-reference/api-code.
ZAI_ERROR_CODES: dict[str, Verdict] = {
    "500": _DOWN,  # internal error
    "1000": _AUTH,  # authentication failed
    "1001": _AUTH,  # no authentication header
    "1002": _AUTH,  # invalid token
    "1003": _AUTH,  # token expired
    "1004": _AUTH,  # authentication failed with the token
    "1100": _ACCOUNT,
    "1110": _ACCOUNT,  # account inactive
    "1111": _ACCOUNT,  # account does not exist
    "1112": _ACCOUNT,  # account locked
    "1113": _ACCOUNT,  # in arrears (also: a key used on the wrong endpoint)
    "1120": _DOWN,  # account unreachable, try later
    "1121": _ACCOUNT,  # locked for irregular activity
    "1200": _BAD,
    "1210": _BAD,  # bad parameters
    "1211": _BAD,  # model does not exist
    "1212": _BAD,  # model does not support this method
    "1213": _BAD,  # missing field
    "1214": _BAD,  # invalid field
    "1215": _BAD,  # conflicting fields
    "1220": _ACCOUNT,  # no permission for this API
    "1221": _BAD,  # API taken offline
    "1222": _BAD,  # API does not exist
    "1230": _DOWN,  # API call process error
    "1231": _BAD,  # duplicate request id
    "1234": _DOWN,  # network error
    "1300": _BAD,  # blocked by policy
    "1301": _BAD,  # unsafe or sensitive content
    "1302": (ErrorKind.RATE_LIMIT, None),  # concurrency limit
    "1303": (ErrorKind.RATE_LIMIT, None),  # frequency limit
    "1304": (ErrorKind.RATE_LIMIT, False),  # daily limit: no use retrying today
    "1305": (ErrorKind.RATE_LIMIT, None),  # rate limit triggered
    "1308": (ErrorKind.RATE_LIMIT, False),  # plan usage limit, resets hours later
    "1309": _ACCOUNT,  # Coding Plan expired
}


class ZaiAdapter(ChatCompletionsAdapter):
    name: ClassVar[str] = "zai"
    display_name: ClassVar[str] = "Z.ai"
    default_base_url: ClassVar[str] = "https://api.z.ai/api/paas/v4"
    reasoning_fields: ClassVar[tuple[str, ...]] = ("reasoning_content",)
    history_reasoning_field: ClassVar[str | None] = "reasoning_content"

    def __init__(self, *, health_model: str = "glm-5") -> None:
        super().__init__()
        self.health_model = health_model
        # Base URLs that answered 404 to GET /models, so the probe goes straight to a completion.
        self._no_models_endpoint: set[str] = set()

    def extra_body(self, request: ChatRequest) -> dict[str, Any] | None:
        return {"thinking": {"type": "enabled" if request.reasoning else "disabled"}}

    def classify_code(self, code: str) -> Verdict | None:
        return ZAI_ERROR_CODES.get(code.strip()) or classify_error_code(code)

    async def health_check(self, credential: ResolvedCredential) -> Health:
        """An authenticated call, as cheap as Z.ai allows.

        ``GET /models`` first (free; BigModel serves it, Z.ai does not document it). Where it is
        missing, a one-token completion with thinking off: about ten input tokens and one output
        token, roughly $0.00001 at GLM-5's prices, so probing every minute costs about $0.015 a
        day per credential. That is the price of knowing the key and the endpoint really work.
        """
        client = self.client(credential)
        base_url = self.base_url(credential)
        options = request_timeout(10.0)

        async def completion() -> None:
            await client.chat.completions.create(
                model=self.health_model,
                messages=[{"role": "user", "content": "ping"}],
                max_tokens=1,
                extra_body={"thinking": {"type": "disabled"}},
                timeout=options,
            )

        async def probe() -> None:
            try:
                if base_url in self._no_models_endpoint:
                    await completion()
                    return
                try:
                    await client.models.list(timeout=options)
                except UPSTREAM_ERRORS as exc:
                    error = self.map_error(exc)
                    if error.status != 404:
                        raise error from exc
                    self._no_models_endpoint.add(base_url)
                    await completion()
            except UPSTREAM_ERRORS as exc:
                raise self.map_error(exc) from exc
            except ProviderError:
                raise

        return await timed_health(probe, provider=self.name)
