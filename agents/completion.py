"""One whole answer from the model routing picks, outside the user's own turn: for context
checkpoint summaries (inside a turn, or ahead of need in a job) and for background work such as
memory extraction. Failover goes down the decision's chain as in a turn (``agents/failover.py``);
the user's own credentials apply, as they would to the user's own message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from django.conf import settings

from agents.failover import attempt_in_order, credential_for
from agents.runtime import TurnFailed
from conversations.context import SUMMARY_PROMPT
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    ResolvedCredential,
    TextDelta,
)
from providers.registry import get_adapter
from routing.classifier import classify
from routing.decision import NO_SESSION, RoutingDecision
from routing.engine import aresolve

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SUMMARY_REQUEST = "Summarize this conversation."


async def complete(user: User, *, system: str, text: str, routed_as: str) -> str:
    """The answer to ``text`` (under ``system``) of the model routing picks for a message like
    ``routed_as``; raises ``FailoverExhausted`` when no candidate answers."""
    decision = await aresolve(classify(routed_as), user=user, session=NO_SESSION)

    async def attempt(candidate: RoutingDecision) -> str:
        request = ChatRequest(
            model=candidate.model,
            system=system,
            messages=[ChatMessage(role="user", content=text)],
            timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
        )
        credential = await credential_for(user, candidate.provider)
        return await _collect(candidate.provider, request, credential)

    return await attempt_in_order(decision, attempt)


def complete_sync(user: User, *, system: str, text: str, routed_as: str) -> str:
    """``complete`` for synchronous callers (Celery jobs, management commands)."""
    return async_to_sync(complete)(user, system=system, text=text, routed_as=routed_as)


async def summarise(user: User, text: str) -> str:
    """A checkpoint summary of ``text`` by routing's choice for a summarisation (the cheap tier
    by default); raises ``FailoverExhausted`` when no candidate answers (the caller then
    truncates instead)."""
    return await complete(user, system=SUMMARY_PROMPT, text=text, routed_as=SUMMARY_REQUEST)


async def _collect(provider: str, request: ChatRequest, credential: ResolvedCredential) -> str:
    try:
        parts = [
            event.text
            async for event in get_adapter(provider).stream(request, credential)
            if isinstance(event, TextDelta)
        ]
    except ProviderError as error:
        raise TurnFailed(error, started=False) from error
    return "".join(parts)
