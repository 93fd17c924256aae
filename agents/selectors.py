"""Reads of agents and sessions, scoped to the acting user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from agents.models import AgentConfig, Session
from mosaic.errors import NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEFAULT_AGENT = "general"


def agents_accessible(*, user: User) -> QuerySet[AgentConfig]:
    """System agents and the user's own (M2-006); a user's agent shadows a system one of the same slug."""
    return AgentConfig.objects.filter(Q(owner__isnull=True) | Q(owner=user)).order_by(
        "slug", "owner_id"
    )


def agent_get(*, user: User, slug: str) -> AgentConfig:
    agents = list(AgentConfig.objects.filter(Q(owner__isnull=True) | Q(owner=user), slug=slug))
    if not agents:
        available = ", ".join(sorted({a.slug for a in agents_accessible(user=user)}))
        raise NotFound(f"Unknown agent {slug!r}. Available agents: {available}.")
    # The user's own agent wins over a system agent with the same slug.
    return next((a for a in agents if a.owner_id is not None), agents[0])


def agent_get_by_id(*, user: User, agent_id: Any) -> AgentConfig:
    try:
        return AgentConfig.objects.get(Q(owner__isnull=True) | Q(owner=user), pk=agent_id)
    except (AgentConfig.DoesNotExist, ValueError, TypeError):
        raise NotFound("Agent not found.") from None


def session_get(*, user: User, session_id: Any) -> Session:
    try:
        return Session.objects.get(pk=session_id, user=user)
    except (Session.DoesNotExist, ValueError, TypeError):
        raise NotFound("Session not found.") from None


def session_list(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(user=user).order_by("-started_at")
