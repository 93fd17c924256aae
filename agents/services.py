"""Writes for agents and sessions, scoped to the acting user."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from agents.models import AgentConfig, Session
from agents.selectors import agent_get_by_id
from mosaic.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MAX_PROMPT = 100_000


def _validate_agent_fields(fields: dict[str, Any]) -> dict[str, Any]:
    from agents.tools import all_tools

    cleaned = dict(fields)
    if "slug" in cleaned and not SLUG_RE.match(cleaned["slug"] or ""):
        raise InvalidInput("slug must be lowercase letters, digits and hyphens (at most 63).")
    if "name" in cleaned and not (cleaned["name"] or "").strip():
        raise InvalidInput("name must not be empty.")
    if "system_prompt" in cleaned:
        prompt = (cleaned["system_prompt"] or "").strip()
        if not prompt:
            raise InvalidInput("system_prompt must not be empty.")
        if len(prompt) > MAX_PROMPT:
            raise InvalidInput(f"system_prompt is longer than {MAX_PROMPT} characters.")
        cleaned["system_prompt"] = prompt
    if "tool_allowlist" in cleaned:
        tools = list(cleaned["tool_allowlist"] or [])
        unknown = sorted(set(tools) - set(all_tools()))
        if unknown:
            raise InvalidInput(
                f"Unknown tool(s): {', '.join(unknown)}. Available tools: {', '.join(sorted(all_tools()))}."
            )
        cleaned["tool_allowlist"] = list(dict.fromkeys(tools))
    if cleaned.get("default_model"):
        provider, model = _model_ref(cleaned.get("default_provider", ""), cleaned["default_model"])
        cleaned["default_provider"], cleaned["default_model"] = provider, model
    if "capabilities" in cleaned:
        caps = cleaned["capabilities"] or {}
        if not isinstance(caps, dict) or set(caps) - {"domains", "preferred_models"}:
            raise InvalidInput("capabilities takes only 'domains' and 'preferred_models'.")
        from routing.classifier import DOMAINS

        bad = sorted(set(caps.get("domains", [])) - set(DOMAINS))
        if bad:
            raise InvalidInput(
                f"Unknown domain(s): {', '.join(bad)}. Domains: {', '.join(DOMAINS)}."
            )
        caps["preferred_models"] = [
            ":".join(_model_ref("", ref)) for ref in caps.get("preferred_models", [])
        ]
        cleaned["capabilities"] = caps
    return cleaned


def _model_ref(provider: str, model: str) -> tuple[str, str]:
    from routing.rules import validate_model_ref

    return validate_model_ref(f"{provider}:{model}" if provider and ":" not in model else model)


def agent_create(
    *, user: User, slug: str, name: str, system_prompt: str, **fields: Any
) -> AgentConfig:
    cleaned = _validate_agent_fields(
        {"slug": slug, "name": name, "system_prompt": system_prompt, **fields}
    )
    try:
        with transaction.atomic():
            return AgentConfig.objects.create(owner=user, **cleaned)
    except IntegrityError:
        raise Conflict(f"You already have an agent with the slug {slug!r}.") from None


def agent_update(*, user: User, agent_id: Any, **fields: Any) -> AgentConfig:
    agent = agent_get_by_id(user=user, agent_id=agent_id)
    if agent.owner_id != user.pk:
        # System agents are visible to everyone but changed only by staff, in the admin.
        raise InvalidInput("System agents cannot be changed through the API.")
    cleaned = _validate_agent_fields(fields)
    for key, value in cleaned.items():
        setattr(agent, key, value)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:
        raise Conflict(f"You already have an agent with the slug {agent.slug!r}.") from None
    return agent


def agent_delete(*, user: User, agent_id: Any) -> None:
    agent = agent_get_by_id(user=user, agent_id=agent_id)
    if agent.owner_id != user.pk:
        raise InvalidInput("System agents cannot be deleted through the API.")
    agent.delete()


def session_start(
    *, user: User, conversation_id: Any, agent_slug: str, model_override: str = ""
) -> Session:
    return Session.objects.create(
        user=user,
        conversation_id=conversation_id,
        agent_slug=agent_slug,
        model_override=model_override,
    )


def session_rebind(
    *, user: User, session: Session, conversation_id: Any, agent_slug: str
) -> Session:
    updates: dict[str, Any] = {"conversation_id": conversation_id}
    if agent_slug != session.agent_slug:
        updates["agent_slug"] = agent_slug
        updates["agent_switches"] = F("agent_switches") + 1
    Session.objects.filter(pk=session.pk, user=user).update(**updates)
    session.refresh_from_db()
    return session


def session_set_model(*, user: User, session_id: Any, model_override: str) -> None:
    Session.objects.filter(pk=session_id, user=user).update(
        model_override=model_override, model_switches=F("model_switches") + 1
    )


def session_set_agent(*, user: User, session_id: Any, agent_slug: str) -> None:
    Session.objects.filter(pk=session_id, user=user).update(
        agent_slug=agent_slug, agent_switches=F("agent_switches") + 1
    )


def session_record_turn(
    *,
    user: User,
    session_id: Any,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float | None,
) -> None:
    Session.objects.filter(pk=session_id, user=user).update(
        turns=F("turns") + 1,
        input_tokens=F("input_tokens") + input_tokens,
        output_tokens=F("output_tokens") + output_tokens,
        cost_usd=F("cost_usd") + Decimal(str(round(cost_usd or 0.0, 6))),
        last_provider=provider,
        last_model=model,
    )


def session_end(*, user: User, session_id: Any) -> None:
    Session.objects.filter(pk=session_id, user=user, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )
