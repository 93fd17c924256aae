"""Jobs of the agents app, thin wrappers that take ids and delegate: the session GC, the context
checkpoint written ahead of need, and memory extraction with the call that schedules it when a
conversation goes quiet (they need routing's model calls, and memory and conversations, which
meet here)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model

from agents import services
from agents.completion import SUMMARY_REQUEST, complete_sync
from agents.failover import FailoverExhausted
from conversations.checkpoints import checkpoint_ahead
from conversations.context import SUMMARY_PROMPT
from core.errors import NotFound, UpstreamError
from core.jobs import HOUSEKEEPING_QUEUE, TRANSIENT_ERRORS, Every, job
from jobs.models import AgentEvent
from jobs.services import agent_log_record
from memory import selectors as memory_selectors
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
CHECKPOINT_TASK = "agents.write_checkpoint"
# Retries after 5-7.5 s, then 10-15 s: an overloaded provider may answer by then, and the user's
# next message is most likely still being written.
CHECKPOINT_BACKOFF_SECONDS = 5.0


@job(
    name="agents.end_abandoned_sessions",
    queue=HOUSEKEEPING_QUEUE,
    every=Every(SESSION_GC_INTERVAL_SECONDS, entry="agents: end abandoned sessions"),
)
def end_abandoned_sessions() -> dict[str, int]:
    """End the sessions that a process which died left open (see the service)."""
    grace = dt.timedelta(seconds=settings.MOSAIC_SESSION_GC_GRACE_SECONDS)
    return {"ended": len(services.sessions_end_abandoned(grace=grace))}


@job(
    name=CHECKPOINT_TASK,
    # FailoverExhausted is an UpstreamError: retried when its last failure says it may pass
    # (overloaded, rate-limited, unreachable), not for a refused credential.
    retry_on=(*TRANSIENT_ERRORS, UpstreamError),
    backoff=CHECKPOINT_BACKOFF_SECONDS,
)
def write_checkpoint(
    user_id: int, conversation_id: str, up_to: int, window: int, system_tokens: int
) -> str:
    """Write the context checkpoint of one conversation ahead of need (after a turn that brought
    it past MOSAIC_CHECKPOINT_AHEAD_THRESHOLD), keyed by the message the turn ended with; then
    extract memories from the conversation, if the user has extraction on."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "user gone"
    try:
        outcome = checkpoint_ahead(
            user=user,
            conversation_id=conversation_id,
            up_to=up_to,
            window=window,
            system_tokens=system_tokens,
            summarise=lambda text: summarise_sync(user, text),
        )
    except NotFound:
        return "conversation gone"
    if outcome.skipped:
        return outcome.skipped
    if not outcome.created:
        return f"already covered by {outcome.checkpoint_id}"
    agent_log_record(
        user=user,
        event=AgentEvent.CHECKPOINT_WRITTEN,
        conversation_id=conversation_id,
        message=f"summary of messages {outcome.covers} written ahead of need",
        data={"kind": "summary", "in_turn": False, "checkpoint_id": outcome.checkpoint_id},
    )
    extract_at_checkpoint(user, conversation_id)
    return f"checkpoint {outcome.checkpoint_id} covers {outcome.covers}"


def summarise_sync(user: User, text: str) -> str:
    """The checkpoint summary of ``text`` by routing's choice for a summarisation."""
    return complete_sync(user, system=SUMMARY_PROMPT, text=text, routed_as=SUMMARY_REQUEST)


def extract_at_checkpoint(user: User, conversation_id: str) -> bool:
    """Memory extraction "at each context checkpoint" (issue 13): enqueue it for the
    conversation, without waiting for it to go idle, if the user has extraction on."""
    if not memory_selectors.memory_settings_get(user=user).auto_extract:
        return False
    extract_memories.delay(user.pk, str(conversation_id), False)
    return True


def ask_for_memories(user: User, system: str, text: str) -> str:
    """Extraction's model call: routing's choice for a short extraction request."""
    return complete_sync(user, system=system, text=text, routed_as=ROUTING_PROBE)


def _extract_countdown() -> float:
    return float(settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS)


@job(
    name=EXTRACT_TASK,
    retry_on=(*TRANSIENT_ERRORS, FailoverExhausted),
    countdown=_extract_countdown,  # sent to wait for the conversation to go idle
)
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
