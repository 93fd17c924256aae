"""Jobs of the agents app, thin wrappers that take ids and delegate: the session GC, and memory
extraction (it needs both memory and routing, which meet here)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from agents import services
from agents.completion import complete_sync
from core.errors import NotFound
from core.jobs import HOUSEKEEPING_QUEUE, Every, job
from memory.extraction import ROUTING_PROBE, insights_extract

if TYPE_CHECKING:
    from django.contrib.auth.models import User

SESSION_GC_INTERVAL_SECONDS = 600
EXTRACT_TASK = "memory.extract_insights"


@job(
    name="agents.end_abandoned_sessions",
    queue=HOUSEKEEPING_QUEUE,
    every=Every(SESSION_GC_INTERVAL_SECONDS, entry="agents: end abandoned sessions"),
)
def end_abandoned_sessions() -> dict[str, int]:
    """End the sessions that a process which died left open (see the service)."""
    grace = dt.timedelta(seconds=settings.MOSAIC_SESSION_GC_GRACE_SECONDS)
    return {"ended": len(services.sessions_end_abandoned(grace=grace))}


def ask_for_memories(user: User, system: str, text: str) -> str:
    """Extraction's model call: routing's choice for a short extraction request."""
    return complete_sync(user, system=system, text=text, routed_as=ROUTING_PROBE)


@shared_task(name=EXTRACT_TASK, acks_late=True, ignore_result=True)
def extract_memories(user_id: int, conversation_id: str, require_idle: bool = True) -> str:
    """Extract memories from one conversation of one user (to be scheduled once the
    conversation has been idle, and at context checkpoints). Idempotent: extraction reads only
    what its mark has not covered, and deduplicates what it saves."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "user gone"
    try:
        outcome = insights_extract(
            user=user,
            conversation_id=conversation_id,
            complete=ask_for_memories,
            require_idle=require_idle,
        )
    except NotFound:
        return "conversation gone"
    return outcome.skipped or f"saved {outcome.saved}, merged {outcome.merged}"
