"""Celery tasks of the jobs app. Tasks take ids, re-read state, and delegate to services."""

from __future__ import annotations

import socket

from celery import shared_task


@shared_task(name="jobs.ping", acks_late=True)
def ping(payload: str) -> dict[str, str]:
    """Round-trip probe: proves a worker consumes from the broker and reports back."""
    return {"echo": payload, "worker_host": socket.gethostname()}
