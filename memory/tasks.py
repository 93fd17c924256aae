"""Celery tasks of the memory app: thin wrappers that call the services.

A plain ``shared_task`` for now; it moves onto the project's job base (attempt rows, agent logs,
retries with backoff) when that lands. Decay is idempotent: it lowers importance once per stretch
of time however often it runs. (Extraction's task is ``agents.tasks.extract_memories``: it needs
routing to pick the model, and routing sits beside memory, not below it.)
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from memory.services import insights_decay_all

DECAY_TASK = "memory.decay_insights"


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
