"""Jobs of the agents app: thin wrappers over ``agents.services``."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from agents import services
from core.jobs import HOUSEKEEPING_QUEUE, Every, job

SESSION_GC_INTERVAL_SECONDS = 600


@job(
    name="agents.end_abandoned_sessions",
    queue=HOUSEKEEPING_QUEUE,
    every=Every(SESSION_GC_INTERVAL_SECONDS, entry="agents: end abandoned sessions"),
)
def end_abandoned_sessions() -> dict[str, int]:
    """End the sessions that a process which died left open (see the service)."""
    grace = dt.timedelta(seconds=settings.MOSAIC_SESSION_GC_GRACE_SECONDS)
    return {"ended": len(services.sessions_end_abandoned(grace=grace))}
