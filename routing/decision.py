"""What routing decides with and what it decides: the inputs a session brings (``AgentProfile``,
``SessionRouting``) and the outcome (``RoutingDecision`` with its ``Candidate`` fallbacks and
``Skipped`` candidates).

Plain frozen dataclasses with no I/O: the engine builds them, the gateway reads them, the
routing app stores them. ``RoutingDecision.failover()`` is here because moving down the chain
needs nothing but the decision itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from routing.classifier import Classification

logger = logging.getLogger("mosaic.routing")

# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What routing needs to know about the session's agent (the gateway builds it from
    ``AgentConfig``: routing never imports the agents app)."""

    slug: str
    domains: tuple[str, ...] = ()
    preferred_models: tuple[str, ...] = ()  # "provider:model", best first
    default_model: str = ""  # "provider:model" or ""

    @classmethod
    def from_config(
        cls,
        slug: str,
        capabilities: Mapping[str, Any] | None,
        default_provider: str = "",
        default_model: str = "",
    ) -> AgentProfile:
        """From an AgentConfig's fields: ``capabilities`` is ``{"domains", "preferred_models"}``."""
        caps = capabilities or {}
        default = ""
        if default_model:
            default = f"{default_provider}:{default_model}" if default_provider else default_model
        return cls(
            slug=slug,
            domains=tuple(str(d) for d in caps.get("domains") or ()),
            preferred_models=tuple(str(m) for m in caps.get("preferred_models") or ()),
            default_model=default,
        )


@dataclass(frozen=True, slots=True)
class SessionRouting:
    """The session's say in routing: a ``/model`` override ("provider:model" or "") and its agent."""

    model_override: str = ""
    agent: AgentProfile | None = None


NO_SESSION = SessionRouting()


# --- outputs -----------------------------------------------------------------------------------


class Skipped(NamedTuple):
    provider: str
    model: str
    reason: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A provider/model the engine may route to, with where it came from."""

    provider: str
    model: str
    rule: str | None = None
    rule_id: int | None = None
    rule_label: str = ""  # "rule 1 'coding-complex'", "your rule 2 'mine'"
    note: str = ""  # "fallback 1", "coding-agent prefers it for backend"
    agent: str | None = None
    system_prompt_override: str | None = None
    tool_allowlist: tuple[str, ...] | None = None
    offline: bool = False

    @property
    def ref(self) -> str:
        return f"{self.provider}:{self.model}"

    def describe(self) -> str:
        """Where the candidate came from: "fallback 1 of rule 1 'coding-complex'"."""
        if self.note and self.rule_label and self.note.startswith("fallback"):
            return f"{self.note} of {self.rule_label}"
        return self.note or self.rule_label or "built-in offline fallback"

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where a message goes and why. ``agent`` is the agent a rule asks for (None: keep the
    session's); ``system_prompt_override`` and ``tool_allowlist`` are None unless a rule sets
    them; ``fallbacks`` are the usable candidates after this one, in order."""

    provider: str
    model: str
    reason: str
    classification: Classification
    agent: str | None = None
    rule: str | None = None
    rule_id: int | None = None
    candidates_skipped: tuple[Skipped, ...] = ()
    fallbacks: tuple[Candidate, ...] = ()
    override: bool = False
    system_prompt_override: str | None = None
    tool_allowlist: tuple[str, ...] | None = None
    failed_over: bool = False
    note: str = ""
    # False when nothing the user can use matched: the provider named is only what would have
    # answered, and the gateway says so instead of calling it.
    usable: bool = True
    user_id: Any = None  # for the log line of a failover; not part of to_dict()

    @property
    def model_ref(self) -> str:
        return f"{self.provider}:{self.model}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for socket frames (``session:info``/``message:done`` ``routing``) and rows."""
        return {
            "provider": self.provider,
            "model": self.model,
            "agent": self.agent,
            "rule": self.rule,
            "rule_id": self.rule_id,
            "reason": self.reason,
            "classification": self.classification.to_dict(),
            "candidates_skipped": [s._asdict() for s in self.candidates_skipped],
            "fallbacks": [c.to_dict() for c in self.fallbacks],
            "override": self.override,
            "failover": self.failed_over,
            "usable": self.usable,
            "system_prompt_override": self.system_prompt_override,
            "tool_allowlist": list(self.tool_allowlist)
            if self.tool_allowlist is not None
            else None,
        }

    def failover(
        self, failure: str = "failed", *, to_index: int = 0, avoid_provider: bool = False
    ) -> RoutingDecision | None:
        """The decision for the next fallback after this one failed (None when none is left).

        ``failure`` is a short cause for the reason ("overloaded", "timeout"). ``to_index``
        jumps further down the list; ``avoid_provider`` also passes over every fallback on the
        failed provider (useful for provider-wide failures such as auth or unavailable).
        """
        skipped = [
            *self.candidates_skipped,
            Skipped(self.provider, self.model, f"failed ({failure})"),
        ]
        rest = list(self.fallbacks)
        skipped += [
            Skipped(c.provider, c.model, "passed over on failover") for c in rest[:to_index]
        ]
        rest = rest[to_index:]
        if avoid_provider:
            skipped += [
                Skipped(c.provider, c.model, f"{self.provider} failed")
                for c in rest
                if c.provider == self.provider
            ]
            rest = [c for c in rest if c.provider != self.provider]
        if not rest:
            return None
        chosen, remaining = rest[0], tuple(rest[1:])
        decision = decision_for(
            chosen,
            self.classification,
            reason=(
                f"{self.provider} failed ({failure}) → fell back to {chosen.model} "
                f"({chosen.describe()})"
            ),
            skipped=tuple(skipped),
            fallbacks=remaining,
            failed_over=True,
            user_id=self.user_id,
        )
        log_decision(decision)
        return decision


def decision_for(
    chosen: Candidate,
    classification: Classification,
    *,
    reason: str,
    skipped: tuple[Skipped, ...],
    fallbacks: tuple[Candidate, ...],
    override: bool = False,
    failed_over: bool = False,
    usable: bool = True,
    user_id: Any = None,
) -> RoutingDecision:
    return RoutingDecision(
        provider=chosen.provider,
        model=chosen.model,
        reason=reason,
        classification=classification,
        agent=chosen.agent,
        rule=chosen.rule,
        rule_id=chosen.rule_id,
        candidates_skipped=skipped,
        fallbacks=fallbacks,
        override=override,
        system_prompt_override=chosen.system_prompt_override,
        tool_allowlist=chosen.tool_allowlist,
        failed_over=failed_over,
        note=chosen.note,
        usable=usable,
        user_id=user_id,
    )


def log_decision(decision: RoutingDecision) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    logger.info(
        "route user=%s %s → %s rule=%s override=%s failover=%s skipped=%d classification=%s reason=%s",
        decision.user_id if decision.user_id is not None else "-",
        decision.classification.summary(),
        decision.model_ref,
        json.dumps(decision.rule),
        decision.override,
        decision.failed_over,
        len(decision.candidates_skipped),
        json.dumps(decision.classification.to_dict(), separators=(",", ":")),
        json.dumps(decision.reason, ensure_ascii=False),
    )
