"""Jobs of the jobs app. Like every job, they take ids or nothing, and delegate."""

from __future__ import annotations

import socket

from core.jobs import HOUSEKEEPING_QUEUE, Every, job
from jobs import tiers

LOG_TIERS_INTERVAL_SECONDS = 3600


@job(name="jobs.ping")
def ping(payload: str) -> dict[str, str]:
    """Round-trip probe: proves a worker consumes from the broker (its run records the reply)."""
    return {"echo": payload, "worker_host": socket.gethostname()}


@job(
    name="jobs.manage_log_tiers",
    queue=HOUSEKEEPING_QUEUE,
    every=Every(LOG_TIERS_INTERVAL_SECONDS, entry="jobs: manage log tiers"),
)
def manage_log_tiers() -> dict[str, int]:
    """Move old agent logs to the archive, delete expired ones and old job runs, and mark runs
    that no worker can still hold as failed (see ``jobs.tiers``)."""
    return {
        "archived": tiers.archive_old_logs(),
        "deleted_logs": tiers.delete_expired_logs(),
        "deleted_runs": tiers.delete_expired_runs(),
        "lost_runs": tiers.fail_lost_runs(),
    }
