"""Celery tasks of the memory app: thin wrappers that take ids and call the services.

They are plain ``shared_task``s for now; they move onto the project's job base (attempt rows,
agent logs, retries with backoff) when it lands. Both are idempotent: extraction reads only what
its mark has not covered and deduplicates what it saves; decay lowers importance once per
stretch of time however often it runs.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model

from core.errors import NotFound
from memory.extraction import insights_extract
from memory.services import insights_decay_all

EXTRACT_TASK = "memory.extract_insights"
DECAY_TASK = "memory.decay_insights"


@shared_task(name=EXTRACT_TASK, acks_late=True, ignore_result=True)
def extract_insights(user_id: int, conversation_id: str, require_idle: bool = True) -> str:
    """Extract memories from one conversation of one user (scheduled after the conversation
    has been idle, and at context checkpoints)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return "user gone"
    try:
        outcome = insights_extract(
            user=user, conversation_id=conversation_id, require_idle=require_idle
        )
    except NotFound:
        return "conversation gone"
    return outcome.skipped or f"saved {outcome.saved}, merged {outcome.merged}"


@shared_task(name=DECAY_TASK, acks_late=True, ignore_result=True)
def decay_insights() -> int:
    """Decay every user's insights (one UPDATE per user)."""
    return insights_decay_all()


def beat_schedule() -> dict[str, dict[str, Any]]:
    interval = int(settings.MOSAIC_MEMORY_DECAY_INTERVAL)
    return {
        "memory: decay insights": {
            "task": DECAY_TASK,
            "schedule": float(interval),
            "options": {"expire_seconds": interval},
        }
    }


def install_beat_schedule(app: Any) -> None:
    """Merge this app's entries into ``app.conf.beat_schedule`` (idempotent)."""
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}
