"""The routing engine: from a message's classification to the provider and model that answer it.

``resolve()`` runs on every chat message, so it makes no network call to decide. The rules are
parsed once and cached in process; the provider health and the user's usable providers (from
the providers app, which keeps them in Redis) and the Redis rules version are re-read at most
once per ``REFRESH_SECONDS`` (default 1 s) per process (and per user for credentials). A Redis
GET costs 0.1-0.3 ms, several times a whole resolve from the process cache (~11 µs), so a
warm resolve does no I/O at all; see bench/bench_routing.py and docs/routing.md.

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

Invalidation: every write goes through ``routing.services``, which clears this process's cache
at once and increments the Redis key ``routing:rules-version`` after commit; other processes
notice within ``REFRESH_SECONDS`` and reload. A new credential or health probe reaches routing
within the same interval.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from core.errors import InvalidInput
from providers.registry import PROVIDERS
from routing.classifier import Classification
from routing.rules import (
    Predicate,
    compile_conditions,
    is_catch_all,
    validate_conditions,
    validate_model_ref,
)

logger = logging.getLogger("mosaic.routing")

RULES_VERSION_KEY = "routing:rules-version"
# How long this process trusts what it read from Redis (the rules version, provider health, a
# user's usable providers) before reading again, in seconds; 0 reads on every call.
REFRESH_SECONDS: float = float(getattr(settings, "MOSAIC_ROUTING_REFRESH_SECONDS", 1.0))
# The seeded rule 99. The engine falls back to it when nothing else is usable, and to the
# built-in OFFLINE_PROVIDER:OFFLINE_MODEL when an admin has disabled or renamed it.
OFFLINE_RULE_NAME = "offline"
OFFLINE_PROVIDER = "ollama"
OFFLINE_MODEL = "llama3.2"
# Per-user rule lists kept in process (least recently used dropped first).
MAX_CACHED_USERS = 10_000


if TYPE_CHECKING:
    from django.contrib.auth.models import User


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
        decision = _decision_for(
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
        _log(decision)
        return decision


def _decision_for(
    chosen: Candidate,
    classification: Classification,
    *,
    reason: str,
    skipped: tuple[Skipped, ...],
    fallbacks: tuple[Candidate, ...],
    override: bool = False,
    failed_over: bool = False,
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
        user_id=user_id,
    )


# --- parsed rules and their cache ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedRule:
    id: int
    name: str
    priority: int
    is_system: bool
    matches: Predicate
    catch_all: bool
    candidates: tuple[Candidate, ...]

    @property
    def is_offline(self) -> bool:
        return self.is_system and self.name == OFFLINE_RULE_NAME


def rule_label(name: str, priority: int, *, is_system: bool) -> str:
    return f"{'rule' if is_system else 'your rule'} {priority} '{name}'"


def parse_rule(row: Mapping[str, Any]) -> ParsedRule:
    """A stored rule (``id, name, priority, owner_id, conditions, action``) in engine form."""
    is_system = row["owner_id"] is None
    label = rule_label(row["name"], row["priority"], is_system=is_system)
    route = row["action"]["route_to"]
    tools = route.get("tool_allowlist")
    common: dict[str, Any] = {
        "rule": row["name"],
        "rule_id": row["id"],
        "rule_label": label,
        "agent": route.get("agent") or None,
        "system_prompt_override": route.get("system_prompt_override") or None,
        "tool_allowlist": tuple(tools) if tools is not None else None,
        "offline": is_system and row["name"] == OFFLINE_RULE_NAME,
    }
    chain = [(route["provider"], route["model"])]
    chain += [(f["provider"], f["model"]) for f in route.get("fallbacks") or ()]
    candidates = tuple(
        Candidate(provider, model, note=f"fallback {i}" if i else "", **common)
        for i, (provider, model) in enumerate(chain)
    )
    # Checked again here (once per load) so that a row written around the services cannot make
    # a predicate that raises on every message.
    conditions = validate_conditions(row["conditions"])
    return ParsedRule(
        id=row["id"],
        name=row["name"],
        priority=row["priority"],
        is_system=is_system,
        matches=compile_conditions(conditions),
        catch_all=is_catch_all(conditions),
        candidates=candidates,
    )


def _parse_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[ParsedRule, ...]:
    parsed = []
    for row in rows:
        try:
            parsed.append(parse_rule(row))
        except Exception:  # a row written around the services: skip it, never break routing
            logger.warning(
                "routing rule %s (%r) is malformed; skipped",
                row.get("id"),
                row.get("name"),
                exc_info=True,
            )
    return tuple(parsed)


_UNSET: Any = object()


@dataclass
class _RuleCache:
    version: Any = _UNSET
    checked_at: float = -math.inf
    system: tuple[ParsedRule, ...] | None = None
    users: OrderedDict[int, tuple[ParsedRule, ...]] = field(default_factory=OrderedDict)


@dataclass
class _LookupCache:
    """Provider health and users' usable providers as last read, with when they were read."""

    health: Mapping[str, str] | None = None
    health_at: float = -math.inf
    usable: OrderedDict[Any, tuple[frozenset[str] | None, float]] = field(
        default_factory=OrderedDict
    )


class _CacheHolder:
    # The state is replaced wholesale on invalidation, so a reader that loaded rules for an old
    # version writes them into an orphaned state, never into the new one.
    state = _RuleCache()
    lookups = _LookupCache()


_cache_lock = threading.Lock()
_clock = time.monotonic


def invalidate_local_cache() -> None:
    """Forget this process's parsed rules and lookups; the next resolve reads them again."""
    with _cache_lock:
        _CacheHolder.state = _RuleCache()
        _CacheHolder.lookups = _LookupCache()


def bump_rules_version() -> None:
    """Tell every process that the rules changed (call after the change is committed)."""
    try:
        cache.add(RULES_VERSION_KEY, 0, timeout=None)
        cache.incr(RULES_VERSION_KEY)
    except Exception:
        logger.exception(
            "could not bump %s; other processes see rule changes late", RULES_VERSION_KEY
        )


def rules_version() -> Any:
    return cache.get(RULES_VERSION_KEY)


class _NeedsIO(Exception):
    """Raised instead of doing I/O when resolving inside the event loop; aresolve then hops to a
    thread."""


def _rules_for(
    user_id: Any, now: float, *, allow_io: bool = True
) -> tuple[tuple[ParsedRule, ...], tuple[ParsedRule, ...]]:
    """(system rules, the user's rules), enabled only, by priority; loaded once per version."""
    state = _CacheHolder.state
    if now - state.checked_at >= REFRESH_SECONDS:
        if not allow_io:
            raise _NeedsIO
        # Read the version before the rules: a writer bumps after commit, so rules loaded after
        # this read are at least as new as the version they are filed under.
        try:
            version = rules_version()
        except Exception:
            logger.warning(
                "could not read %s; keeping cached rules", RULES_VERSION_KEY, exc_info=True
            )
            version = state.version
        with _cache_lock:
            if version != state.version:
                state = _CacheHolder.state = _RuleCache(version=version, checked_at=now)
            else:
                state.checked_at = now
    from routing import selectors  # the ORM, imported on first use so importing stays cheap

    system = state.system
    if system is None:
        if not allow_io:
            raise _NeedsIO
        system = state.system = _parse_rows(selectors.system_rules_for_routing())
    if user_id is None:
        return system, ()
    with _cache_lock:
        mine = state.users.get(user_id)
        if mine is not None:
            state.users.move_to_end(user_id)
    if mine is None:
        if not allow_io:
            raise _NeedsIO
        mine = _parse_rows(selectors.user_rules_for_routing(user_id=user_id))
        with _cache_lock:
            state.users[user_id] = mine
            while len(state.users) > MAX_CACHED_USERS:
                state.users.popitem(last=False)
    return system, mine


# --- credentials and health, from the providers app ------------------------------------------------


def default_usable_providers(user: User) -> set[str] | None:
    """Providers the user has a usable credential for (None: unknown, do not filter)."""
    from providers import selectors as provider_selectors

    try:
        return provider_selectors.usable_providers(user=user)
    except Exception:
        logger.warning("usable_providers failed; not filtering by credential", exc_info=True)
        return None


def default_health() -> dict[str, str]:
    """Provider -> "healthy" | "degraded" | "down" | "unknown" from the stored probes."""
    from providers import selectors as provider_selectors

    try:
        return {name: state.status for name, state in provider_selectors.health_map().items()}
    except Exception:
        logger.warning("health_map failed; treating providers as available", exc_info=True)
        return {}


def _health_cached(now: float, *, allow_io: bool = True) -> Mapping[str, str]:
    lookups = _CacheHolder.lookups
    if lookups.health is None or now - lookups.health_at >= REFRESH_SECONDS:
        if not allow_io:
            raise _NeedsIO
        lookups.health, lookups.health_at = default_health(), now
    return lookups.health


def _usable_cached(
    user: User, user_id: Any, now: float, *, allow_io: bool = True
) -> frozenset[str] | None:
    lookups = _CacheHolder.lookups
    with _cache_lock:
        hit = lookups.usable.get(user_id)
    if hit is not None and now - hit[1] < REFRESH_SECONDS:
        return hit[0]
    if not allow_io:
        raise _NeedsIO
    found = default_usable_providers(user)
    usable = frozenset(found) if found is not None else None
    with _cache_lock:
        lookups.usable[user_id] = (usable, now)
        lookups.usable.move_to_end(user_id)
        while len(lookups.usable) > MAX_CACHED_USERS:
            lookups.usable.popitem(last=False)
    return usable


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
    resolve runs in a thread instead (``sync_to_async``), where the ORM and cache reads belong.
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
    except _NeedsIO:
        return await sync_to_async(resolve)(
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
    except _NeedsIO:
        raise
    except Exception:
        logger.exception("routing failed for user %s; using the offline model", user_id)
        offline = _builtin_offline()
        decision = _decision_for(
            offline,
            classification,
            reason=f"routing failed internally → {offline.model} (built-in offline fallback)",
            skipped=(),
            fallbacks=(),
            user_id=user_id,
        )
    if log:
        _log(decision)
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
    now = _clock()
    system_rules, user_rules = _rules_for(user_id, now, allow_io=allow_io)
    usable: set[str] | frozenset[str] | None
    if usable_in is not None:
        usable = usable_in
    else:
        usable = _usable_cached(user, user_id, now, allow_io=allow_io)
    health = health_in if health_in is not None else _health_cached(now, allow_io=allow_io)
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
                return _decision_for(
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
        status = _health_word(offline.provider, health)
        where = (
            f"the offline {offline.rule_label}"
            if offline.rule_label
            else "the built-in offline fallback"
        )
        trying = f"{status}, trying it anyway" if health.get(offline.provider) == "down" else status
        return _decision_for(
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
    return _decision_for(
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


def _log(decision: RoutingDecision) -> None:
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
