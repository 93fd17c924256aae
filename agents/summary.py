"""Summaries by the model routing picks for a summarisation (the cheap tier by default), failing
over down its chain: what a context checkpoint is made of.

Used inside a turn when the context would otherwise overflow, and by the checkpoint job that
writes checkpoints ahead of need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


async def summarise(user: User, text: str) -> str:
    """The summary of ``text``; raises ``FailoverExhausted`` when no candidate answers (the caller
    then truncates instead)."""
    decision = await aresolve(classify(SUMMARY_REQUEST), user=user, session=NO_SESSION)

    async def attempt(candidate: RoutingDecision) -> str:
        request = ChatRequest(
            model=candidate.model,
            system=SUMMARY_PROMPT,
            messages=[ChatMessage(role="user", content=text)],
            timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
        )
        credential = await credential_for(user, candidate.provider)
        return await _collect(candidate.provider, request, credential)

    return await attempt_in_order(decision, attempt)


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
