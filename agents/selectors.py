"""Reads of agents and sessions, scoped to the acting user."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db.models import F, Q, QuerySet

from agents.models import AgentConfig, Session
from core.errors import NotFound
from routing.decision import AgentProfile

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEFAULT_AGENT = "general"


def _visible_to(user: User) -> Q:
    return Q(owner__isnull=True) | Q(owner=user)


def _as_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(f"{what} not found.") from None


def agents_accessible(*, user: User) -> QuerySet[AgentConfig]:
    """System agents and the user's own (M2-006), system agents first, then by slug."""
    return AgentConfig.objects.filter(_visible_to(user)).order_by(
        F("owner_id").asc(nulls_first=True), "slug"
    )


def agent_get(*, user: User, slug: str) -> AgentConfig:
    """The agent ``slug`` among those the user may use; the error lists those."""
    agents = list(AgentConfig.objects.filter(_visible_to(user), slug=slug))
    if not agents:
        available = ", ".join(sorted({a.slug for a in agents_accessible(user=user)}))
        raise NotFound(f"Unknown agent {slug!r}. Available agents: {available}.")
    # The user's own agent wins over a system agent that took the same slug after it.
    return next((a for a in agents if a.owner_id is not None), agents[0])


def agent_for_conversation(*, user: User, requested: str | None, stored: str) -> AgentConfig:
    """The agent a socket gets when it opens a conversation: the one the client asks for (an
    unknown slug is ``NotFound``), else the conversation's own, else the default agent.

    The conversation's own may have been deleted or renamed since it was last used; that must
    not lock the user out of the conversation, so it falls back to the default agent.
    """
    if requested:
        return agent_get(user=user, slug=requested)
    if stored:
        try:
            return agent_get(user=user, slug=stored)
        except NotFound:
            pass
    return agent_get(user=user, slug=DEFAULT_AGENT)


def agent_routing_profile(agent: AgentConfig) -> AgentProfile:
    """What routing needs to know of an agent (its declared domains and models), as data: the
    one place an agent's capabilities are read for routing."""
    return AgentProfile.from_config(
        agent.slug, agent.capabilities, agent.default_provider, agent.default_model
    )


def agent_get_by_id(*, user: User, agent_id: Any) -> AgentConfig:
    try:
        return AgentConfig.objects.get(_visible_to(user), pk=_as_uuid(agent_id, "Agent"))
    except AgentConfig.DoesNotExist:
        raise NotFound("Agent not found.") from None


def session_get(*, user: User, session_id: Any) -> Session:
    try:
        return Session.objects.get(pk=_as_uuid(session_id, "Session"), user=user)
    except Session.DoesNotExist:
        raise NotFound("Session not found.") from None


def session_list(*, user: User, conversation_id: Any = None) -> QuerySet[Session]:
    """The user's sessions, newest first; only those of one conversation when it is given."""
    sessions = Session.objects.filter(user=user)
    if conversation_id is not None:
        sessions = sessions.filter(conversation_id=_as_uuid(conversation_id, "Conversation"))
    return sessions.order_by("-started_at")
