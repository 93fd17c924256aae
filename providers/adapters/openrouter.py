"""OpenRouter: hundreds of models behind one OpenAI-compatible Chat Completions API.

- Base URL ``https://openrouter.ai/api/v1``; ``Authorization: Bearer <key>``.
- Attribution headers ``X-Title: Mosaic`` and ``HTTP-Referer`` (the installation's URL, passed as
  ``OpenRouterAdapter(referer=...)``) are sent on every request, as OpenRouter recommends: they
  label the traffic in the key owner's activity page.
- Reasoning is asked for with ``reasoning: {"effort": ...}`` and streamed in ``delta.reasoning``.
- Errors are ``{"error": {"code": <http status>, "message", "metadata"}}``; a 403 is a moderation
  or guardrail refusal (bad request), 402 is out of credits. Errors after the stream started
  arrive as an SSE data event with an ``error`` object.
- The model list (``GET /models``, public) is mapped into ``ModelSpec`` and cached per base URL
  for ``MODELS_TTL_SECONDS`` so a chat turn never waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from time import monotonic
from typing import Any, ClassVar

from providers import catalog
from providers.adapters.base import (
    ChatRequest,
    ErrorKind,
    Health,
    ModelSpec,
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

MODELS_TTL_SECONDS = 600.0
# When OpenRouter does not say how long a model's replies may be, assume this much (and never
# more than the context): small enough that every listed model accepts it.
DEFAULT_MAX_OUTPUT = 8_192

# base_url -> (expires at, specs); per process, shared by every request and user.
_models_cache: dict[str, tuple[float, list[ModelSpec]]] = {}


def _per_mtok(per_token: Any) -> float | None:
    """OpenRouter prices are USD per token as strings; "-1" means "varies" (routers)."""
    try:
        value = float(per_token)
    except (TypeError, ValueError):
        return None
    if value < 0:
        return None
    return round(value * 1_000_000, 6)


def model_spec(entry: Mapping[str, Any]) -> ModelSpec | None:
    """One entry of OpenRouter's ``/models`` as a ``ModelSpec``; None for an unusable entry."""
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    top = entry.get("top_provider") or {}
    architecture = entry.get("architecture") or {}
    pricing = entry.get("pricing") or {}
    parameters = set(entry.get("supported_parameters") or [])
    context = entry.get("context_length") or top.get("context_length") or 0
    max_output = top.get("max_completion_tokens") or min(DEFAULT_MAX_OUTPUT, int(context) or 0)
    input_cost = _per_mtok(pricing.get("prompt"))
    output_cost = _per_mtok(pricing.get("completion"))
    return ModelSpec(
        provider="openrouter",
        id=model_id,
        display_name=str(entry.get("name") or model_id),
        tier=catalog.tier_for_price(input_cost, output_cost),
        context_window=int(context),
        max_output=int(max_output),
        tools="tools" in parameters,
        vision="image" in (architecture.get("input_modalities") or []),
        reasoning="reasoning" in parameters or "include_reasoning" in parameters,
        streaming=True,
        input_cost_per_mtok=input_cost,
        output_cost_per_mtok=output_cost,
    )


def clear_models_cache() -> None:
    _models_cache.clear()


class OpenRouterAdapter(ChatCompletionsAdapter):
    name: ClassVar[str] = "openrouter"
    display_name: ClassVar[str] = "OpenRouter"
    default_base_url: ClassVar[str] = "https://openrouter.ai/api/v1"
    reasoning_fields: ClassVar[tuple[str, ...]] = ("reasoning", "reasoning_content")

    def __init__(self, *, referer: str = "", title: str = "Mosaic") -> None:
        # HTTP-Referer is the installation's public URL, which only the deployment knows; it is
        # left out rather than made up when none is given. Set before the base class builds the
        # client cache, which reads default_headers().
        self._attribution = {"X-Title": title}
        if referer:
            self._attribution["HTTP-Referer"] = referer
        super().__init__()

    def default_headers(self) -> dict[str, str]:
        return dict(self._attribution)

    def extra_body(self, request: ChatRequest) -> dict[str, Any] | None:
        if request.reasoning:
            return {"reasoning": {"effort": "medium"}}
        return None

    def classify_code(self, code: str) -> Verdict | None:
        if code.strip() == "403":
            return (ErrorKind.BAD_REQUEST, None)  # moderation or guardrail, not a bad key
        return classify_error_code(code)

    async def list_models(self, credential: ResolvedCredential) -> list[ModelSpec]:
        base_url = self.base_url(credential)
        cached = _models_cache.get(base_url)
        now = monotonic()
        if cached is not None and cached[0] > now:
            return list(cached[1])
        try:
            page = await self.client(credential).models.list(timeout=request_timeout(15.0))
        except UPSTREAM_ERRORS as exc:
            raise self.map_error(exc) from exc
        specs = [
            spec
            for spec in (model_spec(model.to_dict()) for model in page.data)
            if spec is not None
        ]
        _models_cache[base_url] = (now + MODELS_TTL_SECONDS, specs)
        catalog.register_dynamic(self.name, specs)
        return list(specs)

    async def health_check(self, credential: ResolvedCredential) -> Health:
        """``GET /key``: authenticated, free, and it tells whether the key has credit left.

        (``/models`` would not do: it is public, so it succeeds with a revoked key.)
        """

        async def probe() -> None:
            try:
                info = await self.client(credential).get(
                    "/key", cast_to=object, options={"timeout": request_timeout(10.0)}
                )
            except UPSTREAM_ERRORS as exc:
                raise self.map_error(exc) from exc
            data = info.get("data", {}) if isinstance(info, Mapping) else {}
            remaining = data.get("limit_remaining") if isinstance(data, Mapping) else None
            if isinstance(remaining, int | float) and remaining <= 0:
                raise ProviderError(
                    ErrorKind.AUTH,
                    "the OpenRouter key has no credit left",
                    provider=self.name,
                    retryable=False,
                )

        return await timed_health(probe, provider=self.name)
