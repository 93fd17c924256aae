"""Jobs of the memory app: thin wrappers that call the services.

Decay is periodic (``every=``; the interval follows ``MOSAIC_MEMORY_DECAY_INTERVAL``, copied into
django-celery-beat's tables when beat starts, where the admin can change or pause it) and
idempotent: it lowers importance once per stretch of time however often it runs. (Extraction's
job is ``agents.tasks.extract_memories``: it needs routing to pick the model, and routing sits
beside memory, not below it.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from core.jobs import HOUSEKEEPING_QUEUE, Every, beat_entries, job
from memory.services import insights_decay_all

DECAY_TASK = "memory.decay_insights"


def _decay_interval() -> float:
    return float(settings.MOSAIC_MEMORY_DECAY_INTERVAL)


@job(
    name=DECAY_TASK,
    queue=HOUSEKEEPING_QUEUE,
    every=Every(_decay_interval, entry="memory: decay insights"),
)
def decay_insights() -> int:
    """Decay every user's insights (one UPDATE per user)."""
    return insights_decay_all()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """The memory app's periodic jobs, keyed by entry name, in Celery's beat_schedule form."""
    return beat_entries(prefix="memory.")


def install_beat_schedule(app: Any) -> None:
    """Merge this app's entries into ``app.conf.beat_schedule`` (idempotent)."""
    app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **beat_schedule()}
