"""Jobs of the agents app, thin wrappers that take ids and delegate: the session GC, and memory
extraction (it needs both memory and routing, which meet here), with the call that schedules it
when a conversation goes quiet."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model

from agents import services
from agents.completion import complete_sync
from agents.failover import FailoverExhausted
from core.errors import NotFound
from core.jobs import HOUSEKEEPING_QUEUE, TRANSIENT_ERRORS, Every, job
from memory.extraction import (
    ROUTING_PROBE,
    extraction_due_claim,
    extraction_due_release,
    extraction_due_renew,
    insights_extract,
)

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


@job(name=EXTRACT_TASK, retry_on=(*TRANSIENT_ERRORS, FailoverExhausted))
def extract_memories(user_id: int, conversation_id: str, require_idle: bool = True) -> str:
    """Extract memories from one conversation of one user: once it has been idle (the chat
    turn schedules this with a countdown; a run that finds it active again waits the rest of
    the idle time), or at once (``require_idle=False``, e.g. at a context checkpoint).
    Idempotent: extraction reads only what its mark has not covered, and deduplicates what it
    saves. A model that could not answer is retried (FailoverExhausted, when retryable)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if require_idle:
        extraction_due_release(user_id=user_id, conversation_id=conversation_id)
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
    if outcome.skipped == "not idle":
        schedule_extraction(
            user_id=user_id, conversation_id=conversation_id, countdown=outcome.due_in, renew=True
        )
        return f"not idle; again in {outcome.due_in:.0f} s"
    return outcome.skipped or f"saved {outcome.saved}, merged {outcome.merged}"


def schedule_extraction(
    *,
    user_id: int,
    conversation_id: Any,
    countdown: float | None = None,
    renew: bool = False,
) -> bool:
    """Send ``extract_memories`` to run once the conversation has been idle for
    ``MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS`` (or ``countdown``), unless a run is already waiting
    for it (True: one was sent). The chat turn calls this when a turn ends. To extract at
    once instead (a context checkpoint), send ``extract_memories.delay(user_id,
    conversation_id, False)``."""
    wait = float(settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS if countdown is None else countdown)
    wait = max(1.0, wait)  # a message stored in the same second still counts as activity
    if renew:
        extraction_due_renew(user_id=user_id, conversation_id=conversation_id, countdown=wait)
    elif not extraction_due_claim(user_id=user_id, conversation_id=conversation_id, countdown=wait):
        return False
    extract_memories.apply_async((user_id, str(conversation_id), True), countdown=wait)
    return True
