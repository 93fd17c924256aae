"""The routing engine: from a message's classification to the provider and model that answer it.

``resolve()`` runs on every chat message, so it makes no network call to decide: rules, health
and usable providers come from ``routing.cache`` (see there for how long each is trusted and how
it is invalidated); see bench/bench_routing.py and docs/routing.md for what it costs. The types
it takes and returns are in ``routing.decision``; parsed rules in ``routing.rules``.

Order of candidates (the first usable one wins; the usable ones after it are the fallbacks the
gateway tries when the chosen provider fails before the first token):

1. the session's ``/model`` override — always wins unless the user has no usable credential
   for its provider (a provider that is down is still tried: the user asked for it); an
   override has no fallbacks;
2. the user's own matching rules by priority, each followed by its fallback chain;
3. the session agent's preferred models, when the message's domain is one of the agent's
   domains (or the agent's default model when only the catch-all rule matched);
4. the matching system rules by priority, each followed by its chain — after a rule's chain is
   exhausted the next matching rule is tried, down to the fallback rule;
5. the offline rule (Ollama). When nothing at all is usable, the decision is still the offline
   rule's model, with a reason that says nothing else was available.

A candidate is skipped when the user has no usable credential for its provider or the provider
is ``down`` in the stored health (never probed counts as available; ``degraded`` is used and
noted); the decision records each skip and why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.db import in_database_thread
from core.errors import InvalidInput
from providers.registry import PROVIDERS
from routing import cache as route_cache
from routing.classifier import Classification
from routing.decision import (
    NO_SESSION,
    AgentProfile,
    Candidate,
    RoutingDecision,
    SessionRouting,
    Skipped,
    decision_for,
    log_decision,
)
from routing.rules import (
    OFFLINE_MODEL,
    OFFLINE_PROVIDER,
    ParsedRule,
    validate_model_ref,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.routing")

__all__ = [
    "NO_SESSION",
    "AgentProfile",
    "Candidate",
    "RoutingDecision",
    "SessionRouting",
    "Skipped",
    "aresolve",
    "parse_ref",
    "resolve",
]


# --- resolution ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def parse_ref(text: str) -> tuple[str, str] | None:
    """ "provider:model" (or a bare catalog id) as a pair; None when it names no known model."""
    head, sep, rest = text.partition(":")
    if sep and head in PROVIDERS and rest:
        return head, rest
    try:
        return validate_model_ref(text)
    except InvalidInput:
        return None


def _unusable(
    provider: str, usable: set[str] | frozenset[str] | None, health: Mapping[str, str]
) -> str:
    if usable is not None and provider not in usable:
        return f"no usable credential for {provider}"
    if health.get(provider) == "down":
        return f"{provider} down"
    return ""


def _health_word(provider: str, health: Mapping[str, str]) -> str:
    status = health.get(provider)
    if status in (None, "", "unknown"):
        return f"{provider} not yet probed"
    return f"{provider} {status}"


def _builtin_offline() -> Candidate:
    return Candidate(
        OFFLINE_PROVIDER, OFFLINE_MODEL, offline=True, note="built-in offline fallback"
    )


def resolve(
    classification: Classification,
    *,
    user: User,
    session: SessionRouting = NO_SESSION,
    usable_providers: set[str] | frozenset[str] | None = None,
    health: Mapping[str, str] | None = None,
    log: bool = True,
) -> RoutingDecision:
    """The routing decision for one message; never raises (see the module docstring).

    ``usable_providers`` and ``health`` default to the providers app's cached lookups; pass
    them to decide against a given state (tests, the explain box, benchmarks).
    """
    return _resolve_safely(
        classification,
        user=user,
        session=session,
        usable_in=usable_providers,
        health_in=health,
        log=log,
        allow_io=True,
    )


async def aresolve(
    classification: Classification,
    *,
    user: User,
    session: SessionRouting = NO_SESSION,
    usable_providers: set[str] | frozenset[str] | None = None,
    health: Mapping[str, str] | None = None,
) -> RoutingDecision:
    """``resolve`` for async callers (the gateway).

    When everything is in the process cache (the usual case) the decision is made right here in
    the event loop, in microseconds; when a refresh from Redis or the database is due, the whole
    resolve runs in a database thread instead (``in_database_thread``), where the ORM and cache
    reads belong.
    """
    try:
        return _resolve_safely(
            classification,
            user=user,
            session=session,
            usable_in=usable_providers,
            health_in=health,
            log=True,
            allow_io=False,
        )
    except route_cache.NeedsIO:
        return await in_database_thread(
            resolve,
            classification,
            user=user,
            session=session,
            usable_providers=usable_providers,
            health=health,
        )


def _resolve_safely(
    classification: Classification,
    *,
    user: User,
    session: SessionRouting,
    usable_in: set[str] | frozenset[str] | None,
    health_in: Mapping[str, str] | None,
    log: bool,
    allow_io: bool,
) -> RoutingDecision:
    user_id = getattr(user, "pk", None)
    try:
        decision = _resolve(
            classification,
            user=user,
            user_id=user_id,
            session=session,
            usable_in=usable_in,
            health_in=health_in,
            allow_io=allow_io,
        )
    except route_cache.NeedsIO:
        raise
    except Exception:
        logger.exception("routing failed for user %s; using the offline model", user_id)
        offline = _builtin_offline()
        decision = decision_for(
            offline,
            classification,
            reason=f"routing failed internally → {offline.model} (built-in offline fallback)",
            skipped=(),
            fallbacks=(),
            user_id=user_id,
        )
    if log:
        log_decision(decision)
    return decision


def _resolve(
    classification: Classification,
    *,
    user: User,
    user_id: Any,
    session: SessionRouting,
    usable_in: set[str] | frozenset[str] | None,
    health_in: Mapping[str, str] | None,
    allow_io: bool,
) -> RoutingDecision:
    now = route_cache.clock()
    system_rules, user_rules = route_cache.rules_for(user_id, now, allow_io=allow_io)
    usable: set[str] | frozenset[str] | None
    if usable_in is not None:
        usable = usable_in
    else:
        usable = route_cache.usable_cached(user, user_id, now, allow_io=allow_io)
    health = (
        health_in if health_in is not None else route_cache.health_cached(now, allow_io=allow_io)
    )
    skipped: list[Skipped] = []
    prefix = ""

    if session.model_override:
        ref = parse_ref(session.model_override)
        if ref is None:
            why = "not a known model"
            skipped.append(Skipped("", session.model_override, f"override: {why}"))
            prefix = f"/model {session.model_override} ignored ({why}); "
        else:
            provider, model = ref
            why = _unusable(provider, usable, {})  # a provider that is down is still tried
            if not why:
                chosen = Candidate(provider, model, note="/model override")
                return decision_for(
                    chosen,
                    classification,
                    reason=f"/model override → {model}; {_health_word(provider, health)}",
                    skipped=(),
                    fallbacks=(),
                    override=True,
                    user_id=user_id,
                )
            skipped.append(Skipped(provider, model, f"override: {why}"))
            prefix = f"/model {model} skipped ({why}); "

    candidates, first_rule = _candidates(classification, session.agent, user_rules, system_rules)

    seen: set[tuple[str, str]] = set()
    chosen_candidate: Candidate | None = None
    fallbacks: list[Candidate] = []
    for candidate in candidates:
        key = (candidate.provider, candidate.model)
        if key in seen:
            continue
        seen.add(key)
        why = _unusable(candidate.provider, usable, health)
        if why:
            if chosen_candidate is None:
                skipped.append(Skipped(candidate.provider, candidate.model, why))
            continue
        if chosen_candidate is None:
            chosen_candidate = candidate
        else:
            fallbacks.append(candidate)

    summary = classification.summary()
    if chosen_candidate is None:
        offline = next((c for c in reversed(candidates) if c.offline), _builtin_offline())
        tried = "; ".join(f"{s.model}: {s.reason}" for s in skipped) or "no candidates"
        if _unusable(offline.provider, usable, {}):
            # Not even the offline model can be reached (Ollama never configured, never
            # healthy): say what is wrong instead of naming a model nobody can call.
            return decision_for(
                offline,
                classification,
                reason=f"{prefix}no provider you can use is available for {summary} ({tried})",
                skipped=tuple(skipped),
                fallbacks=(),
                usable=False,
                user_id=user_id,
            )
        status = _health_word(offline.provider, health)
        where = (
            f"the offline {offline.rule_label}"
            if offline.rule_label
            else "the built-in offline fallback"
        )
        trying = f"{status}, trying it anyway" if health.get(offline.provider) == "down" else status
        return decision_for(
            offline,
            classification,
            reason=(
                f"{prefix}{summary}: nothing else was available ({tried}) → {offline.model} "
                f"via {where}; {trying}"
            ),
            skipped=tuple(skipped),
            fallbacks=(),
            user_id=user_id,
        )

    if first_rule is None:
        head = f"{summary} matched no rule"
    else:
        head = f"{summary} matched {first_rule.candidates[0].rule_label}"
    rule_skips = [s for s in skipped if not s.reason.startswith("override")]
    if rule_skips:
        head += "; skipped " + ", ".join(f"{s.model} ({s.reason})" for s in rule_skips)
    tail = f" → {chosen_candidate.model}"
    if first_rule is None or chosen_candidate.rule_id != first_rule.id:
        tail += f" via {chosen_candidate.rule_label or 'the built-in offline fallback'}"
        if chosen_candidate.note and chosen_candidate.rule_label:
            tail += f" ({chosen_candidate.note})"
    elif chosen_candidate.note:
        tail += f" ({chosen_candidate.note})"
    tail += f"; {_health_word(chosen_candidate.provider, health)}"
    return decision_for(
        chosen_candidate,
        classification,
        reason=prefix + head + tail,
        skipped=tuple(skipped),
        fallbacks=tuple(fallbacks),
        user_id=user_id,
    )


def _candidates(
    classification: Classification,
    agent: AgentProfile | None,
    user_rules: Sequence[ParsedRule],
    system_rules: Sequence[ParsedRule],
) -> tuple[list[Candidate], ParsedRule | None]:
    """Every candidate in order (duplicates included), and the first rule that matched."""
    out: list[Candidate] = []
    first: ParsedRule | None = None
    agent_pending = agent is not None
    offline_seen = False
    for rule in (*user_rules, *system_rules):
        if not rule.matches(classification):
            continue
        if first is None:
            first = rule
        if agent_pending and rule.is_system and agent is not None:
            agent_pending = False
            out.extend(_agent_candidates(agent, classification, rule))
        out.extend(rule.candidates)
        offline_seen = offline_seen or rule.is_offline
    if not offline_seen:
        out.append(_builtin_offline())
    return out, first


def _agent_candidates(
    agent: AgentProfile, classification: Classification, rule: ParsedRule
) -> list[Candidate]:
    """The agent's preferred models for a message in its domains (or its default model when
    only the catch-all matched), carrying the matched system rule's other settings."""
    base = rule.candidates[0]
    if classification.domain in agent.domains and agent.preferred_models:
        refs, note = agent.preferred_models, f"{agent.slug} prefers it for {classification.domain}"
    elif rule.catch_all and agent.default_model:
        refs, note = (agent.default_model,), f"{agent.slug}'s default model"
    else:
        return []
    out = []
    for text in refs:
        ref = parse_ref(text)
        if ref is None:
            continue
        out.append(
            Candidate(
                ref[0],
                ref[1],
                rule=base.rule,
                rule_id=base.rule_id,
                rule_label=base.rule_label,
                note=note,
                agent=base.agent,
                system_prompt_override=base.system_prompt_override,
                tool_allowlist=base.tool_allowlist,
            )
        )
    return out
