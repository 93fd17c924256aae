"""Trying a routing decision's candidates in order until one answers: the one failover loop.

A provider that fails before its first token is replaced by the decision's next fallback
(``RoutingDecision.failover``); an auth or outage failure passes over the failed provider's
other models too. Once something was streamed to the user, nothing is retried. The chat turn
and the summariser both go through ``attempt_in_order``.

When every candidate failed, or routing found nothing usable at all, the error says first what
the user can act on ("anthropic is down; no other provider you have can answer this"), then
what else was tried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from agents.runtime import TurnFailed
from core.errors import UpstreamError
from providers import services as provider_services
from providers.adapters.base import ErrorKind, ProviderError, ResolvedCredential
from routing.decision import RoutingDecision

if TYPE_CHECKING:
    from django.contrib.auth.models import User

T = TypeVar("T")

NOTHING_ELSE = "no other provider you have can answer this"

_KIND_WORDS = {
    ErrorKind.AUTH: "refused the credential",
    ErrorKind.RATE_LIMIT: "rate-limited",
    ErrorKind.OVERLOADED: "overloaded",
    ErrorKind.TIMEOUT: "not answering in time",
    ErrorKind.BAD_REQUEST: "refused the request",
    ErrorKind.UNAVAILABLE: "unreachable",
    ErrorKind.INTERRUPTED: "cut off mid-reply",
}


@dataclass
class Attempt:
    decision: RoutingDecision
    error: ProviderError


class FailoverExhausted(UpstreamError):
    """Every candidate failed; ``attempts`` in the order they were tried (at least one). Its code
    and ``retryable`` are the last failure's (``provider_overloaded``…)."""

    def __init__(self, attempts: list[Attempt], *, started: bool = False) -> None:
        self.attempts = attempts
        self.started = started
        super().__init__(self.message_text(), code=f"provider_{attempts[-1].error.kind.value}")
        self.retryable = attempts[-1].error.retryable

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def error(self) -> ProviderError:
        return self.attempts[-1].error

    def message_text(self) -> str:
        first = self.attempts[0]
        head = f"{first.decision.provider} is {_KIND_WORDS.get(first.error.kind, 'failing')}"
        detail = f"{first.decision.model_ref}: {first.error.message}"
        if self.started:
            return f"{head} ({detail}); the reply was cut off and could not be continued."
        others = [f"{a.decision.model_ref}: {a.error.message}" for a in self.attempts[1:]]
        tried = f" Also tried {'; '.join(others)}." if others else ""
        later = self.error.retry_after
        wait = f" Try again in {later:.0f} s." if later else ""
        return f"{head}; {NOTHING_ELSE} ({detail}).{tried}{wait}"


def next_decision(decision: RoutingDecision, error: ProviderError) -> RoutingDecision | None:
    # Auth and outage failures hit the whole provider: skip its other models too.
    provider_wide = error.kind in (ErrorKind.AUTH, ErrorKind.UNAVAILABLE)
    return decision.failover(error.kind.value, avoid_provider=provider_wide)


async def credential_for(user: User, provider: str) -> ResolvedCredential:
    """The user's credential for ``provider``; a failure (a revoked OAuth token, a refresh that
    cannot happen now) is a provider failure before the first token, so routing fails over."""
    try:
        return await provider_services.aresolve_credential(user=user, provider=provider)
    except ProviderError as error:
        raise TurnFailed(error, started=False) from error


async def attempt_in_order(
    decision: RoutingDecision,
    attempt: Callable[[RoutingDecision], Awaitable[T]],
    *,
    on_failover: Callable[[RoutingDecision], Awaitable[None]] | None = None,
) -> T:
    """``attempt(decision)``, then each fallback in turn while the failure came before any
    output; raises ``FailoverExhausted`` with every attempt when none answered."""
    attempts: list[Attempt] = []
    current: RoutingDecision | None = decision
    while current is not None:
        try:
            return await attempt(current)
        except TurnFailed as failure:
            attempts.append(Attempt(current, failure.error))
            if failure.started:
                raise FailoverExhausted(attempts, started=True) from failure
            current = next_decision(current, failure.error)
            if current is not None and on_failover is not None:
                await on_failover(current)
    raise FailoverExhausted(attempts)


def nothing_usable_message(decision: RoutingDecision) -> str:
    """Routing found no candidate the user can use: say why, starting with what they wanted."""
    skipped = decision.candidates_skipped
    if not skipped:
        return f"No provider you have can answer this; {decision.reason}"
    first = skipped[0]
    why = first.reason
    head = (
        f"{first.provider} is down"
        if why.endswith(" down")
        else f"{first.model} cannot be used ({why})"
    )
    others = sorted(
        {s.provider for s in skipped[1:] if s.provider and s.provider != first.provider}
    )
    tail = f" (also unavailable: {', '.join(others)})" if others else ""
    return f"{head}; {NOTHING_ELSE}{tail}."
