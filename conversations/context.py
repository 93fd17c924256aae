"""What the model is sent: system prompt + latest checkpoint + the messages after it, in budget.

A ``checkpoint`` row summarises the oldest messages and records the range it covers; from then on
it stands in for them. Normally a background job writes it ahead of need, after a turn that
brought the conversation past ``MOSAIC_CHECKPOINT_AHEAD_THRESHOLD`` (70 %) of the model's window
(``conversations/checkpoints.py``). When a turn finds the context over
``MOSAIC_CONTEXT_THRESHOLD`` (80 %) all the same (the job has not run yet, or failed), the turn
summarises in line, as the fallback; if no model can summarise, the oldest messages are dropped
instead, with a visible ``checkpoint`` marker saying so — never an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from conversations import selectors, services
from conversations.models import Message
from conversations.selectors import ContextRow
from conversations.tokens import estimate_tokens
from core.db import in_database_thread
from providers.adapters.base import ChatMessage

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.context")

# After a checkpoint the recent messages kept verbatim take at most this share of the window,
# leaving room for the reply and for many turns before the next checkpoint.
KEEP_SHARE = 0.4
SUMMARY_INPUT_CHARS = 200_000

Summariser = Callable[[str], Awaitable[str]]


@dataclass
class BuiltContext:
    system: str
    messages: list[ChatMessage]
    tokens: int
    window: int
    checkpoint_id: str | None = None
    created_checkpoint: str | None = None  # "summary" or "truncation" when this turn made one


def rows_to_history(rows: Sequence[ContextRow]) -> list[ChatMessage]:
    """Messages as the neutral history; tool calls without results (a cancelled turn) are dropped,
    because providers reject a tool call that is not followed by its result."""
    answered = {r.tool_call_id for r in rows if r.role == Message.Role.TOOL_RESULT}
    called = {r.tool_call_id for r in rows if r.role == Message.Role.TOOL_CALL}
    history: list[ChatMessage] = []
    for row in rows:
        if row.role == Message.Role.USER:
            history.append(ChatMessage(role="user", content=row.content))
        elif row.role == Message.Role.ASSISTANT and row.content:
            history.append(ChatMessage(role="assistant", content=row.content))
        elif row.role == Message.Role.THINKING:
            history.extend(
                ChatMessage(role="thinking", content=block["text"], signature=block["signature"])
                for block in row.metadata.get("blocks", [])
            )
        elif row.role == Message.Role.TOOL_CALL and row.tool_call_id in answered:
            history.append(
                ChatMessage(
                    role="tool_call",
                    tool_call_id=row.tool_call_id,
                    tool_name=row.tool_name,
                    tool_arguments=row.tool_arguments or {},
                )
            )
        elif row.role == Message.Role.TOOL_RESULT and row.tool_call_id in called:
            history.append(
                ChatMessage(
                    role="tool_result",
                    content=row.content,
                    tool_call_id=row.tool_call_id,
                    is_error=row.is_error,
                )
            )
    return history


def system_with_checkpoint(system_prompt: str, checkpoint: Message | None) -> str:
    if checkpoint is None or not checkpoint.content:
        return system_prompt
    return f"{system_prompt}\n\n## Earlier in this conversation\n{checkpoint.content}".strip()


def context_tokens(system: str, rows: Sequence[ContextRow]) -> int:
    """The estimated size of what a model is sent: the system prompt (checkpoint included) and
    the messages after the checkpoint."""
    return estimate_tokens(system) + sum(r.token_estimate for r in rows)


def context_usage(*, user: User, conversation_id: Any, system_prompt: str) -> tuple[int, int]:
    """``(message_count, context_tokens)`` of a conversation, as ``/history`` and
    ``conversation:history`` report them; the same estimate ``build_context`` decides on."""
    count = (
        selectors.message_list(user=user, conversation_id=conversation_id)
        .exclude(role=Message.Role.CHECKPOINT)
        .count()
    )
    checkpoint, rows = selectors.context_messages(user=user, conversation_id=conversation_id)
    return count, context_tokens(system_with_checkpoint(system_prompt, checkpoint), rows)


def split_point(rows: Sequence[ContextRow], keep_budget: int) -> int:
    """Index of the first row to keep verbatim: the newest rows within budget, starting at a user
    message so that a tool call is never separated from its result."""
    kept = 0
    split = len(rows)
    for index in range(len(rows) - 1, -1, -1):
        kept += rows[index].token_estimate
        if kept > keep_budget and split < len(rows):
            break
        if rows[index].role == Message.Role.USER:
            split = index
    return split


def transcript(checkpoint: Message | None, rows: Sequence[ContextRow]) -> str:
    parts = []
    if checkpoint is not None and checkpoint.content:
        parts.append(f"[Earlier summary]\n{checkpoint.content}")
    for row in rows:
        if row.role in (Message.Role.USER, Message.Role.ASSISTANT) and row.content:
            parts.append(f"{row.role.upper()}: {row.content}")
        elif row.role == Message.Role.TOOL_CALL:
            parts.append(f"TOOL CALL {row.tool_name}({row.tool_arguments})")
        elif row.role == Message.Role.TOOL_RESULT:
            parts.append(f"TOOL RESULT: {row.content[:2000]}")
    text = "\n\n".join(parts)
    # Keep the most recent part if it is enormous; the summariser's window is finite too.
    return text[-SUMMARY_INPUT_CHARS:]


async def build_context(
    *,
    user: User,
    conversation_id: Any,
    system_prompt: str,
    window: int,
    summarise: Summariser | None,
    loaded: tuple[Message | None, list[ContextRow]] | None = None,
) -> BuiltContext:
    """``loaded`` is ``selectors.context_messages``' result when the caller already read it
    (the chat turn reads it while the user's message is stored, ``agents.turn``)."""
    if loaded is None:
        loaded = await in_database_thread(
            selectors.context_messages, user=user, conversation_id=conversation_id
        )
    checkpoint, rows = loaded
    system = system_with_checkpoint(system_prompt, checkpoint)
    tokens = context_tokens(system, rows)
    limit = int(window * settings.MOSAIC_CONTEXT_THRESHOLD)
    if tokens <= limit:
        return BuiltContext(system, rows_to_history(rows), tokens, window, _id(checkpoint))

    split = split_point(rows, int(window * KEEP_SHARE))
    older, recent = rows[:split], rows[split:]
    if (
        not older
    ):  # one huge exchange: nothing older to fold away; send it and let the provider judge
        return BuiltContext(system, rows_to_history(rows), tokens, window, _id(checkpoint))

    covers_from = (
        checkpoint.covers_from if checkpoint and checkpoint.covers_from else older[0].sequence
    )
    covers_to = older[-1].sequence
    summary, kind = await _summarise_or_truncate(
        summarise, checkpoint, older, covers_from, covers_to
    )
    new_checkpoint, created = await in_database_thread(
        services.checkpoint_append,
        user=user,
        conversation_id=conversation_id,
        content=summary,
        covers_from=covers_from,
        covers_to=covers_to,
        metadata={"kind": kind, "messages": len(older)},
    )
    made: str | None = kind
    if not created:  # the background job got there first (while this turn summarised)
        made = None
        recent = [row for row in rows if row.sequence > (new_checkpoint.covers_to or 0)]
    logger.info(
        "checkpoint %s for conversation %s covers #%s-#%s (%s tokens over %s)",
        made or "found", conversation_id, new_checkpoint.covers_from, new_checkpoint.covers_to,
        tokens, limit,
    )  # fmt: skip
    system = system_with_checkpoint(system_prompt, new_checkpoint)
    tokens = context_tokens(system, recent)
    return BuiltContext(
        system, rows_to_history(recent), tokens, window, str(new_checkpoint.id), made
    )


async def _summarise_or_truncate(
    summarise: Summariser | None,
    checkpoint: Message | None,
    older: Sequence[ContextRow],
    covers_from: int,
    covers_to: int,
) -> tuple[str, str]:
    if summarise is not None:
        try:
            summary = (await summarise(transcript(checkpoint, older))).strip()
        except Exception:  # any failure falls back to truncation, never to an error
            logger.warning(
                "summarising messages #%s-#%s failed; truncating instead",
                covers_from,
                covers_to,
                exc_info=True,
            )
        else:
            if summary:
                return summary, "summary"
    note = (
        f"[Messages #{covers_from} to #{covers_to} are no longer sent to the model: the conversation "
        "outgrew the model's context window and no model was available to summarise them.]"
    )
    if checkpoint is not None and checkpoint.metadata.get("kind") == "summary":
        note = f"{checkpoint.content}\n\n{note}"
    return note, "truncation"


def _id(message: Message | None) -> str | None:
    return str(message.id) if message is not None else None


SUMMARY_PROMPT = (
    "Summarise the conversation below so that an assistant can continue it without the original "
    "messages. Keep every fact, decision, name, number, code identifier and open question; drop "
    "pleasantries. Write in the conversation's language, as compact notes."
)
