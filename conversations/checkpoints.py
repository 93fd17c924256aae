"""Checkpoints ahead of need: the summary a background job writes after a turn brought a
conversation past ``MOSAIC_CHECKPOINT_AHEAD_THRESHOLD`` (70 %) of its model's window, so that
the next turn finds it ready instead of summarising in line at ``MOSAIC_CONTEXT_THRESHOLD`` (80 %,
``conversations/context.py``, which stays as the fallback).

``checkpoint_ahead`` is keyed by the conversation and the message the turn ended with
(``up_to``): it reads only the messages up to that one, so that running it again (a retry, a
redelivery after a worker died) makes the same decision; ``services.checkpoint_append`` makes
sure no two checkpoints stand for one position. The model call (``summarise``) is passed in from
above, as memory extraction's is: the agents app owns routing and failover.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from conversations import selectors, services
from conversations.context import KEEP_SHARE, split_point, transcript
from conversations.tokens import estimate_tokens
from core.jobs import TransientJobError

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.context")

# The summary of a transcript; raises when no model can answer (the job then retries).
Summarise = Callable[[str], str]


@dataclass(frozen=True)
class AheadOutcome:
    skipped: str = ""  # why nothing was written: "not needed", "nothing to fold"
    checkpoint_id: str = ""
    created: bool = False  # False with an id: a checkpoint already covered this position
    covers: tuple[int, int] | None = None


def ahead_due(*, tokens: int, window: int) -> bool:
    """Whether a context of ``tokens`` should get its checkpoint written in the background."""
    return tokens >= int(window * settings.MOSAIC_CHECKPOINT_AHEAD_THRESHOLD)


def checkpoint_ahead(
    *,
    user: User,
    conversation_id: Any,
    up_to: int,
    window: int,
    system_tokens: int,
    summarise: Summarise,
) -> AheadOutcome:
    """Fold the oldest messages up to message ``up_to`` into a checkpoint, as the in-turn
    summary would, if they still fill ``MOSAIC_CHECKPOINT_AHEAD_THRESHOLD`` of ``window``
    (``system_tokens``: the agent's system prompt). ``NotFound`` for a conversation that is
    gone or not the user's; ``TransientJobError`` when the summariser answered nothing."""
    selectors.conversation_get(user=user, conversation_id=conversation_id)
    checkpoint, rows = selectors.context_messages(user=user, conversation_id=conversation_id)
    rows = [row for row in rows if row.sequence <= up_to]
    summary_tokens = estimate_tokens(checkpoint.content) if checkpoint is not None else 0
    tokens = system_tokens + summary_tokens + sum(row.token_estimate for row in rows)
    if not ahead_due(tokens=tokens, window=window):
        return AheadOutcome(skipped="not needed")
    older = rows[: split_point(rows, int(window * KEEP_SHARE))]
    if not older:
        return AheadOutcome(skipped="nothing to fold")
    covers_from = (
        checkpoint.covers_from if checkpoint and checkpoint.covers_from else older[0].sequence
    )
    covers_to = older[-1].sequence
    summary = summarise(transcript(checkpoint, older)).strip()
    if not summary:
        raise TransientJobError("The summariser answered with nothing.")
    row, created = services.checkpoint_append(
        user=user,
        conversation_id=conversation_id,
        content=summary,
        covers_from=covers_from,
        covers_to=covers_to,
        metadata={"kind": "summary", "messages": len(older), "ahead": True},
    )
    if created:
        logger.info(
            "checkpoint ahead for conversation %s covers #%s-#%s (%s tokens of %s)",
            conversation_id, covers_from, covers_to, tokens, window,
        )  # fmt: skip
    return AheadOutcome(
        checkpoint_id=str(row.id),
        created=created,
        covers=(row.covers_from or covers_from, row.covers_to or covers_to),
    )
