"""Pausing a queue: workers stop consuming from it, and a restarted worker still does.

A paused queue is a ``PausedQueue`` row (the truth, which survives restarts of anything). Each
worker applies it to itself with Celery's own consumer controls (``cancel_task_queue`` /
``add_task_queue``, what ``celery control cancel_consumer`` does), in two moments:

- when it starts (``worker_ready``), before it has taken anything from a paused queue for long;
- when staff pause or resume a queue: the service broadcasts ``mosaic_sync_queues`` and each
  worker re-reads the rows.

A worker only ever resumes queues it was started with (``celery worker -Q …``): resuming a queue
does not make a worker dedicated to other queues start on it. Messages sent to a paused queue wait
in Redis, untouched and still "queued"; jobs a worker already holds (running, or waiting for a
retry's countdown) finish. A worker that misses a broadcast (it was starting at that moment)
catches up the next time any queue is paused or resumed, or when it restarts.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from celery.signals import worker_ready
from celery.worker.control import control_command
from kombu.exceptions import OperationalError as BrokerError

from jobs.models import PausedQueue

logger = logging.getLogger(__name__)

SYNC_COMMAND = "mosaic_sync_queues"
BROADCAST_TIMEOUT_SECONDS = 1.0

# The queues each running consumer was started with, by the consumer's id (a worker process
# has one consumer; tests may start several in one process).
_started_with: dict[int, frozenset[str]] = {}


def sync_consumer(consumer: Any) -> dict[str, list[str]]:
    """Make ``consumer`` consume exactly its own queues minus the paused ones."""
    own = _started_with.get(id(consumer))
    if own is None:
        own = frozenset(consumer.app.amqp.queues.consume_from)
        _started_with[id(consumer)] = own
    paused = set(PausedQueue.objects.filter(queue__in=own).values_list("queue", flat=True))
    for queue in sorted(own):
        consuming = consumer.task_consumer.consuming_from(queue)
        if queue in paused and consuming:
            consumer.cancel_task_queue(queue)
        elif queue not in paused and not consuming:
            consumer.add_task_queue(queue)
    return {"paused": sorted(paused), "consuming": sorted(own - paused)}


@worker_ready.connect(dispatch_uid="jobs.pause_queues_at_start")
def pause_queues_at_start(sender: Any = None, **_: Any) -> None:
    if sender is not None:
        sync_consumer(sender)


@control_command()
def mosaic_sync_queues(state: Any, **_: Any) -> dict[str, Any]:
    """Remote control command: re-read the paused queues and apply them to this worker."""
    return {"ok": sync_consumer(state.consumer)}


def notify_workers() -> list[str]:
    """Tell every running worker to re-read the paused queues; returns those that answered
    within a second (none is fine: a worker that starts later reads them at start)."""
    try:
        replies = current_app.control.broadcast(
            SYNC_COMMAND, reply=True, timeout=BROADCAST_TIMEOUT_SECONDS
        )
    except (BrokerError, OSError):
        logger.warning("Could not tell the workers about a paused queue", exc_info=True)
        return []
    return sorted(name for reply in replies or [] for name in reply)
