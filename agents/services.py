"""Writes for agents and sessions, scoped to the acting user.

Agents: a user creates, changes and deletes only their own. System agents (``owner`` null) are
read-only for everyone through the API and the socket — staff change them in the admin — and
an attempt answers ``PermissionDenied`` (HTTP 403, the same answer routing gives for system
rules): the agent is visible, so "not found" would be a lie, and the request is well-formed, so
"invalid" would be too. Another user's agent is ``NotFound`` (404), as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.text import slugify

from agents import live
from agents.models import AgentConfig, Session
from agents.selectors import agent_get_by_id
from agents.tools import all_tools
from core.db import commit_without_flush
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.sql import Statement, outside_transaction, run_together
from jobs.models import AgentEvent
from jobs.services import LogEntry, agent_log_record, agent_logs_record, agent_logs_statement
from providers import catalog
from providers.registry import PROVIDERS
from routing import services as routing_services
from routing.classifier import DOMAINS
from routing.decision import RoutingDecision
from routing.rules import validate_model_ref

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_NAME = 100
MAX_DESCRIPTION = 2_000
MAX_PROMPT = 100_000
MAX_SKILLS = 50
MAX_SKILL_LENGTH = 64
MAX_PREFERRED_MODELS = 10
CAPABILITY_KEYS = ("domains", "preferred_models")
# Every field a user may set on an agent; anything else is refused by name.
AGENT_FIELDS = (
    "slug",
    "name",
    "description",
    "system_prompt",
    "default_provider",
    "default_model",
    "tool_allowlist",
    "skills",
    "capabilities",
)
SYSTEM_AGENT_READ_ONLY = "System agents are read-only here; staff change them in the admin."


# --- validation (the API, /agent new and the admin form all go through agent_validate) -----------


def slug_from_name(name: str) -> str:
    """``"Release Notes Writer"`` → ``"release-notes-writer"`` (what ``/agent new`` uses)."""
    return slugify(name).replace("_", "-").strip("-")[:63].rstrip("-")


def agent_validate(*, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a whole agent (every field in ``AGENT_FIELDS``) and return it normalised.

    Raises ``InvalidInput`` whose message starts with the field it is about
    (``"tool_allowlist: unknown tool 'shell'. Available tools: …"``).
    """
    unknown = sorted(set(data) - set(AGENT_FIELDS))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown field. Agent fields: {', '.join(AGENT_FIELDS)}.")
    name = _text(data, "name", MAX_NAME, required=True)
    slug = _text(data, "slug", 64) or slug_from_name(name)
    if not slug:
        raise InvalidInput(f"slug: cannot make one from the name {name!r}; give a slug.")
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            f"slug: {slug!r} is not a slug: use lowercase letters, digits and hyphens "
            "(at most 63, starting with a letter or digit)."
        )
    provider, model = _default_model(
        _text(data, "default_provider", 32), _text(data, "default_model", 200)
    )
    return {
        "slug": slug,
        "name": name,
        "description": _text(data, "description", MAX_DESCRIPTION),
        "system_prompt": _text(data, "system_prompt", MAX_PROMPT, required=True),
        "default_provider": provider,
        "default_model": model,
        "tool_allowlist": _tools(data.get("tool_allowlist")),
        "skills": _skills(data.get("skills")),
        "capabilities": _capabilities(data.get("capabilities")),
    }


def _text(data: Mapping[str, Any], field: str, limit: int, *, required: bool = False) -> str:
    value = data.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected text.")
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{field}: must not be empty.")
    if len(value) > limit:
        raise InvalidInput(f"{field}: at most {limit} characters (got {len(value)}).")
    return value


def _string_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{field}: expected a list of strings.")
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _tools(value: Any) -> list[str]:
    tools = _string_list(value, "tool_allowlist")
    available = sorted(all_tools())
    unknown = [t for t in tools if t not in available]
    if unknown:
        raise InvalidInput(
            f"tool_allowlist: unknown tool{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(t) for t in unknown)}. Available tools: {', '.join(available)}."
        )
    return tools


def _skills(value: Any) -> list[str]:
    skills = _string_list(value, "skills")
    if len(skills) > MAX_SKILLS:
        raise InvalidInput(f"skills: at most {MAX_SKILLS}.")
    long = next((s for s in skills if len(s) > MAX_SKILL_LENGTH), None)
    if long is not None:
        raise InvalidInput(f"skills: {long[:20]!r}… is longer than {MAX_SKILL_LENGTH} characters.")
    return skills


def _capabilities(value: Any) -> dict[str, list[str]]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise InvalidInput('capabilities: expected {"domains": [...], "preferred_models": [...]}.')
    extra = sorted(set(value) - set(CAPABILITY_KEYS))
    if extra:
        raise InvalidInput(
            f"capabilities.{extra[0]}: unknown key; expected {' and '.join(CAPABILITY_KEYS)}."
        )
    domains = _string_list(value.get("domains"), "capabilities.domains")
    bad = [d for d in domains if d not in DOMAINS]
    if bad:
        raise InvalidInput(
            f"capabilities.domains: unknown domain {bad[0]!r}; expected any of {', '.join(DOMAINS)}."
        )
    refs = _string_list(value.get("preferred_models"), "capabilities.preferred_models")
    if len(refs) > MAX_PREFERRED_MODELS:
        raise InvalidInput(f"capabilities.preferred_models: at most {MAX_PREFERRED_MODELS}.")
    preferred = []
    for index, ref in enumerate(refs):
        try:
            preferred.append(":".join(_model_ref(ref)))
        except InvalidInput as exc:
            raise InvalidInput(f"capabilities.preferred_models[{index}]: {exc.message}") from None
    return {"domains": domains, "preferred_models": list(dict.fromkeys(preferred))}


def _default_model(provider: str, model: str) -> tuple[str, str]:
    if not model:
        if provider:
            raise InvalidInput("default_model: give a model with default_provider.")
        return "", ""
    head, sep, _ = model.partition(":")
    if sep and head in PROVIDERS:  # "openai:gpt-5.4" names its provider itself
        if provider and provider != head:
            raise InvalidInput(
                f"default_provider: {provider!r} does not match default_model {model!r}."
            )
        ref = model
    else:  # a bare id ("gpt-5.4"), or an Ollama tag ("llama3.2:3b")
        ref = f"{provider}:{model}" if provider else model
    try:
        return _model_ref(ref)
    except InvalidInput as exc:
        raise InvalidInput(f"default_model: {exc.message}") from None


def _model_ref(ref: str) -> tuple[str, str]:
    return validate_model_ref(ref)


def _check_slug_free(*, user: User, slug: str, agent_id: Any = None) -> None:
    """A user's slug may not repeat one of theirs, nor shadow a system agent's."""
    clash = AgentConfig.objects.filter(slug=slug, owner__isnull=True)
    if clash.exists():
        raise Conflict(f"slug: {slug!r} is a system agent's slug; choose another.")
    mine = AgentConfig.objects.filter(slug=slug, owner=user).exclude(pk=agent_id)
    if mine.exists():
        raise Conflict(f"slug: you already have an agent {slug!r}.")


def _fields_of(agent: AgentConfig) -> dict[str, Any]:
    return {name: getattr(agent, name) for name in AGENT_FIELDS}


# --- agents --------------------------------------------------------------------------------------


def agent_create(*, user: User, name: str, system_prompt: str, **fields: Any) -> AgentConfig:
    """A new agent of the user's own; ``slug`` defaults to one made from the name."""
    cleaned = agent_validate(data={"name": name, "system_prompt": system_prompt, **fields})
    _check_slug_free(user=user, slug=cleaned["slug"])
    try:
        with transaction.atomic():
            return AgentConfig.objects.create(owner=user, **cleaned)
    except IntegrityError:  # a concurrent create with the same slug
        raise Conflict(f"slug: you already have an agent {cleaned['slug']!r}.") from None


def _own_agent(*, user: User, agent_id: Any) -> AgentConfig:
    agent = agent_get_by_id(user=user, agent_id=agent_id)
    if agent.owner_id != user.pk:
        raise PermissionDenied(SYSTEM_AGENT_READ_ONLY)
    return agent


def agent_update(*, user: User, agent_id: Any, **fields: Any) -> AgentConfig:
    """Change some fields of the user's own agent; the result is validated as a whole."""
    agent = _own_agent(user=user, agent_id=agent_id)
    current = _fields_of(agent)
    if "default_model" in fields and "default_provider" not in fields:
        current["default_provider"] = ""  # a new model names its provider, or is looked up
    cleaned = agent_validate(data={**current, **fields})
    if cleaned["slug"] != agent.slug:
        _check_slug_free(user=user, slug=cleaned["slug"], agent_id=agent.pk)
    for key, value in cleaned.items():
        setattr(agent, key, value)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise Conflict(f"slug: you already have an agent {agent.slug!r}.") from None
    return agent


def agent_delete(*, user: User, agent_id: Any) -> None:
    _own_agent(user=user, agent_id=agent_id).delete()


# --- sessions ------------------------------------------------------------------------------------


def session_start(
    *,
    user: User,
    conversation_id: Any,
    agent_slug: str,
    model_override: str = "",
    client: str = "",
) -> Session:
    """``client`` is the channel the session came through ("websocket", "memory", …)."""
    return Session.objects.create(
        user=user,
        conversation_id=conversation_id,
        agent_slug=agent_slug,
        model_override=model_override,
        client=client[:64],
    )


def session_rebind(
    *, user: User, session: Session, conversation_id: Any, agent_slug: str
) -> Session:
    """The socket opened another conversation (or the same one with another agent)."""
    updates: dict[str, Any] = {"conversation_id": conversation_id}
    if agent_slug != session.agent_slug:
        updates["agent_slug"] = agent_slug
        updates["agent_switches"] = F("agent_switches") + 1
    Session.objects.filter(pk=session.pk, user=user).update(**updates)
    session.refresh_from_db()
    return session


def session_set_model(*, user: User, session_id: Any, model_override: str) -> bool:
    """Pin (or with "" unpin) the session's model; counts a switch only when it changes."""
    changed = (
        Session.objects.filter(pk=session_id, user=user)
        .exclude(model_override=model_override)
        .update(model_override=model_override, model_switches=F("model_switches") + 1)
    )
    return bool(changed)


def session_set_agent(*, user: User, session_id: Any, agent_slug: str) -> bool:
    """Switch the session's agent; counts a switch only when it changes."""
    changed = (
        Session.objects.filter(pk=session_id, user=user)
        .exclude(agent_slug=agent_slug)
        .update(agent_slug=agent_slug, agent_switches=F("agent_switches") + 1)
    )
    return bool(changed)


_RECORD_TURN = (
    f"UPDATE {Session._meta.db_table} SET turns = turns + 1, "  # noqa: S608 - our table's name
    "input_tokens = input_tokens + %s, output_tokens = output_tokens + %s, "
    "cost_usd = cost_usd + %s, last_provider = %s, last_model = %s "
    "WHERE id = %s AND user_id = %s"
)


def _record_turn_statement(
    *,
    user: User,
    session_id: Any,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float | None,
) -> Statement:
    """Add one turn's usage to its session; ``cost_usd`` is None when the catalog has no prices
    for the model. Written out: every turn runs it (Django compiled the UPDATE in longer than
    it ran)."""
    return Statement(
        _RECORD_TURN,
        [
            input_tokens,
            output_tokens,
            Decimal(str(round(cost_usd or 0.0, 6))),
            provider,
            model,
            uuid.UUID(str(session_id)),
            user.pk,
        ],
    )


def session_end(*, user: User, session_id: Any) -> None:
    Session.objects.filter(pk=session_id, user=user, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )


def turn_record(
    *,
    user: User,
    session_id: Any,
    decision: RoutingDecision,
    message_id: uuid.UUID | None,
    input_tokens: int,
    output_tokens: int,
    conversation_id: Any = None,
    log: Sequence[LogEntry] = (),
) -> None:
    """A turn's accounting: the session's usage and cost, the routing decision stored with the
    message it chose the model for, and the turn's agent log (``agents.turn_log``). One
    transaction that does not wait for the disk (the messages themselves are durable; core.db),
    sent in one round trip; if the database refuses any of it (a log it cannot store), the
    accounting is written again in steps, the log in a savepoint of its own."""
    spec = catalog.get_spec(decision.provider, decision.model)
    usage = _record_turn_statement(
        user=user,
        session_id=session_id,
        provider=decision.provider,
        model=decision.model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=catalog.estimate_cost(spec, input_tokens, output_tokens) if spec else None,
    )
    if outside_transaction():  # else the steps, in the caller's transaction
        try:
            statements = [
                usage,
                routing_services.decision_statement(
                    user=user,
                    decision=decision,
                    message_id=message_id,
                    failover=decision.failed_over,
                ),
            ]
            if log:
                statements.append(
                    agent_logs_statement(
                        user=user,
                        entries=log,
                        session_id=session_id,
                        conversation_id=conversation_id,
                    )
                )
            run_together(statements, wait_for_disk=False)
            return
        except DatabaseError:
            logger.warning("writing a turn's accounting at once failed; in steps", exc_info=True)
    with commit_without_flush():
        with connection.cursor() as cursor:
            cursor.execute(*usage)
        routing_services.decision_record(
            user=user, decision=decision, message_id=message_id, failover=decision.failed_over
        )
        if log:
            _turn_log_record(
                user=user, entries=log, session_id=session_id, conversation_id=conversation_id
            )


def _turn_log_record(**entries: Any) -> None:
    """The turn's log, in a savepoint: a log that cannot be written is logged and dropped, never
    a reason to lose the accounting beside it (or the turn)."""
    try:
        with transaction.atomic():
            agent_logs_record(**entries)
    except DatabaseError:
        logger.warning("could not write the agent log of a turn", exc_info=True)


# --- sessions left open by a process that died (the session GC job) ----------------------------

PUBSUB_LAYER = "channels_redis.pubsub.RedisPubSubChannelLayer"
GC_BATCH = 1_000


def _conversations_with_sockets(groups: Iterable[str]) -> set[str] | None:
    """Which of these conversation groups a live socket still holds, or None if that cannot be
    known (another channel layer): a daphne process subscribes to a conversation's group on the
    Redis channel layer while a socket has it open, and Redis drops the subscription the moment
    the process dies. PUBSUB NUMSUB counts the subscribers of every daphne process at once.
    (The channel name is channels_redis' ``<prefix>__group__<group>``.)"""
    layer: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"] != PUBSUB_LAYER:
        return None
    names = sorted(set(groups))
    if not names:
        return set()
    prefix = layer["CONFIG"].get("prefix", "asgi")
    channels = {f"{prefix}__group__{name}": name for name in names}
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        counts = client.pubsub_numsub(*channels)
    finally:
        client.close()
    return {
        channels[channel.decode() if isinstance(channel, bytes) else channel]
        for channel, count in counts
        if int(count) > 0
    }


def sessions_end_abandoned(*, grace: dt.timedelta, now: dt.datetime | None = None) -> list[Session]:
    """End the sessions that a process which died left open, with their metrics as they stood.

    A system job's service (it acts on every user's sessions, so it takes no acting user). A
    session counts as abandoned when no live socket holds its conversation and nothing happened
    in it for ``grace`` (which covers the instant between a session's start and its socket
    joining the conversation's group). It ends at its last activity (the conversation's last
    message, or its own start), not at the time the job found it, so its duration stays true.
    Idempotent: a session is ended once, whoever gets there first.
    """
    current = now or timezone.now()
    idle = (
        Session.objects.filter(ended_at__isnull=True)
        .annotate(
            last_active=Greatest("started_at", Coalesce("conversation__updated_at", "started_at"))
        )
        .filter(last_active__lt=current - grace)
        .select_related("user")
        .order_by("pk")
    )
    ended: list[Session] = []
    after = None
    while True:  # in batches: sessions of live sockets are skipped, and may be many
        batch = list((idle.filter(pk__gt=after) if after else idle)[:GC_BATCH])
        if not batch:
            return ended
        ended += _end_abandoned(batch, current)
        if len(batch) < GC_BATCH:
            return ended
        after = batch[-1].pk


def _end_abandoned(candidates: Sequence[Session], current: dt.datetime) -> list[Session]:
    groups = {
        s.pk: live.group_name(s.user_id, s.conversation_id)
        for s in candidates
        if s.conversation_id is not None
    }
    held = _conversations_with_sockets(groups.values())
    if held is None:
        logger.warning("Session GC skipped: the channel layer cannot tell which sockets are open.")
        return []
    ended: list[Session] = []
    for session in candidates:
        if groups.get(session.pk) in held:
            continue
        ended_at = min(current, getattr(session, "last_active", current))  # annotated above
        with transaction.atomic():
            if not Session.objects.filter(pk=session.pk, ended_at__isnull=True).update(
                ended_at=ended_at
            ):
                continue
            session.ended_at = ended_at
            agent_log_record(
                user=session.user,
                event=AgentEvent.SESSION_ENDED,
                session_id=session.pk,
                conversation_id=session.conversation_id,
                message="Session left open by a process that died; ended by the session GC.",
                data=_session_metrics(session, reason="abandoned"),
            )
        ended.append(session)
    return ended


def _session_metrics(session: Session, *, reason: str) -> dict[str, Any]:
    return {
        "reason": reason,
        "turns": session.turns,
        "input_tokens": session.input_tokens,
        "output_tokens": session.output_tokens,
        "model_switches": session.model_switches,
        "agent_switches": session.agent_switches,
        "cost_usd": str(session.cost_usd),
        "duration_seconds": session.duration_seconds,
    }
