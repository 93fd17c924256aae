"""One answer from routing's choice, outside a chat turn: for background work that needs a model
(memory extraction), with the chat turn's failover down the decision's chain.

Lives in ``agents`` because it joins routing (which model) and providers (how to call it) for
apps below both; ``gateway.summarise_with_cheap_model`` does the same inside a turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from django.conf import settings

from providers.adapters.base import ChatMessage, ChatRequest, ErrorKind, ProviderError, TextDelta
from providers.registry import get_adapter
from providers.services import aresolve_credential
from routing.classifier import classify
from routing.engine import RoutingDecision, SessionRouting, resolve

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def complete_with_route(user: User, system: str, text: str, *, routed_as: str) -> str:
    """The whole answer of the model routing picks for a message like ``routed_as``, failing
    over down the decision's chain; raises the last ``ProviderError`` when none answers.

    Synchronous (Celery workers, management commands); the user's credentials apply, as they
    would to the user's own message."""
    decision: RoutingDecision | None = resolve(
        classify(routed_as), user=user, session=SessionRouting()
    )
    last_error: ProviderError | None = None
    while decision is not None:
        try:
            return async_to_sync(_answer)(user, decision, system, text)
        except ProviderError as error:
            last_error = error
            provider_wide = error.kind in (ErrorKind.AUTH, ErrorKind.UNAVAILABLE)
            decision = decision.failover(error.kind.value, avoid_provider=provider_wide)
    raise last_error or ProviderError(ErrorKind.UNAVAILABLE, "no model is available")


async def _answer(user: User, decision: RoutingDecision, system: str, text: str) -> str:
    credential = await aresolve_credential(user=user, provider=decision.provider)
    request = ChatRequest(
        model=decision.model,
        system=system,
        messages=[ChatMessage(role="user", content=text)],
        timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
    )
    adapter = get_adapter(decision.provider)
    parts = [e.text async for e in adapter.stream(request, credential) if isinstance(e, TextDelta)]
    return "".join(parts)
