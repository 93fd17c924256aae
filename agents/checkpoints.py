"""What a finished turn asks of the background, after ``message:done``: the context checkpoint
written ahead of need, and memory extraction at a checkpoint (docs/jobs.md, "Checkpoints").

A turn whose context, with what it just wrote, reaches ``MOSAIC_CHECKPOINT_AHEAD_THRESHOLD`` of
the model's window enqueues ``agents.write_checkpoint``, keyed by the conversation and the last
message the turn wrote; the next turn then finds the checkpoint ready and summarises nothing. A
turn that had to summarise (or truncate) in line, as the fallback, enqueues memory extraction
instead, as the job does after the checkpoints it writes. Sending is a Redis write, the job's
``queued`` record and one ``agent_logs`` row, done in a thread after the user has the reply, on
those turns only; a failure is logged and never reaches the user (the in-turn fallback still
covers the next turn).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from agents.tasks import extract_at_checkpoint, write_checkpoint
from conversations.checkpoints import ahead_due
from conversations.context import BuiltContext
from conversations.tokens import estimate_tokens
from core.db import in_database_thread
from jobs.models import AgentEvent
from jobs.services import agent_log_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.gateway")


@dataclass(frozen=True)
class CheckpointRequest:
    """The arguments of ``agents.write_checkpoint`` for one finished turn."""

    user_id: int
    conversation_id: str
    up_to: int
    window: int
    system_tokens: int


def checkpoint_request(
    *,
    user: User,
    conversation_id: uuid.UUID | None,
    context: BuiltContext,
    system_prompt: str,
    written_tokens: int,
    last_sequence: int | None,
) -> CheckpointRequest | None:
    """The job to send after a turn whose context is now past the ahead threshold, if any: not
    after a turn that just wrote a checkpoint itself, nor one that wrote nothing."""
    if conversation_id is None or last_sequence is None or context.created_checkpoint:
        return None
    if not ahead_due(tokens=context.tokens + written_tokens, window=context.window):
        return None
    return CheckpointRequest(
        user_id=user.pk,
        conversation_id=str(conversation_id),
        up_to=last_sequence,
        window=context.window,
        system_tokens=estimate_tokens(system_prompt),
    )


async def after_turn(
    *,
    user: User,
    conversation_id: uuid.UUID | None,
    context: BuiltContext,
    system_prompt: str,
    written_tokens: int,
    last_sequence: int | None,
) -> str:
    """Send what the turn asks of the background; returns what was sent ("checkpoint",
    "extraction" or "")."""
    request = checkpoint_request(
        user=user,
        conversation_id=conversation_id,
        context=context,
        system_prompt=system_prompt,
        written_tokens=written_tokens,
        last_sequence=last_sequence,
    )
    made_in_turn = context.created_checkpoint if conversation_id is not None else None
    if request is None and made_in_turn is None:
        return ""
    try:
        return str(
            await in_database_thread(
                _send, user, str(conversation_id), request, made_in_turn, context.checkpoint_id
            )
        )
    except Exception:  # the broker or database is unreachable: the reply is out already
        logger.warning("could not enqueue work after a turn in %s", conversation_id, exc_info=True)
        return ""


def _send(
    user: User,
    conversation_id: str,
    request: CheckpointRequest | None,
    made_in_turn: str | None,
    checkpoint_id: str | None,
) -> str:
    if request is not None:
        write_checkpoint.delay(
            request.user_id,
            request.conversation_id,
            request.up_to,
            request.window,
            request.system_tokens,
        )
        agent_log_record(
            user=user,
            event=AgentEvent.CHECKPOINT_QUEUED,
            conversation_id=conversation_id,
            message=f"context past the ahead threshold after message #{request.up_to}",
            data=asdict(request),
        )
        return "checkpoint"
    agent_log_record(
        user=user,
        event=AgentEvent.CHECKPOINT_WRITTEN,
        conversation_id=conversation_id,
        message=f"{made_in_turn} written in the turn (the fallback)",
        data={"kind": made_in_turn, "in_turn": True, "checkpoint_id": checkpoint_id},
    )
    return "extraction" if extract_at_checkpoint(user, conversation_id) else ""
