"""What a turn writes to the conversation: the user's message first, then each model step's
thinking, text and tool calls once the step ends, each tool's result, and notes.

One INSERT per step (the rows of a step share one transaction and one sequence reservation);
streaming text is never written token by token: the live buffer in Redis holds it meanwhile. A
long reply is also saved while it streams (``status: streaming``, a bounded number of times, by
the recorder), so that a process killed mid-reply leaves the text so far; the step's final write
then updates those rows. These are the only database writes of a turn besides its accounting
(``services.turn_record``).

Losing nothing: a write that fails because the database is unreachable is retried for
``MOSAIC_SAVE_RETRY_SECONDS``; if it still cannot be written, ``ReplyNotSaved`` is raised and the
caller keeps the rows in Redis (``keep_unsaved``), from where ``recover_unsaved`` writes them
once the database is back (before the conversation's next message or on its next open).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import InterfaceError, OperationalError

from agents import live
from agents.runtime import StepOutput, ToolOutcome
from conversations import services as conversation_services
from conversations.models import Message
from conversations.services import MessageDraft
from core.db import in_database_thread
from core.errors import Unavailable
from routing.decision import RoutingDecision

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.gateway")

# The database errors that mean "unreachable now" (a retry can succeed), not "refused".
UNREACHABLE = (OperationalError, InterfaceError)


class ReplyNotSaved(Unavailable):
    """The database could not take the reply within the retry time; it is kept in Redis."""

    def __init__(self) -> None:
        super().__init__(
            "The reply could not be saved: the database is unavailable. It is kept and will be "
            "stored when the database is back."
        )


async def persist_user_message(
    *, user: User, conversation_id: uuid.UUID, content: str, client_id: str
) -> tuple[Message, bool]:
    """Store the user's message (idempotent on ``client_id``): ``(message, created)``."""
    return await in_database_thread(
        conversation_services.message_persist_user,
        user=user,
        conversation_id=conversation_id,
        content=content,
        client_id=client_id,
    )


def partial_drafts(step: StepOutput, decision: RoutingDecision) -> list[MessageDraft]:
    """The thinking and text of a step still streaming, as rows with ``status: streaming``."""
    drafts, _ = step_drafts(step, decision, Message.Status.STREAMING)
    return [d for d in drafts if d.content]


def step_drafts(
    step: StepOutput, decision: RoutingDecision, status: str
) -> tuple[list[MessageDraft], list[MessageDraft]]:
    """The rows of one model step: (thinking and text, tool calls), all with ``status``."""
    provider, model = decision.provider, decision.model
    drafts: list[MessageDraft] = []
    if step.thinking:
        drafts.append(
            MessageDraft(
                id=step.thinking_id,
                role=Message.Role.THINKING,
                content=step.thinking_content,
                status=status,
                metadata={"blocks": [{"text": t, "signature": s} for t, s in step.thinking_blocks]},
                provider=provider,
                model=model,
            )
        )
    if step.text or not step.tool_calls:
        drafts.append(
            MessageDraft(
                id=step.text_id,
                role=Message.Role.ASSISTANT,
                content=step.text_content,
                status=status,
                input_tokens=step.input_tokens,
                output_tokens=step.output_tokens,
                latency_ms=step.latency_ms,
                routing=decision.to_dict(),
                metadata={"stop_reason": step.stop_reason},
                provider=provider,
                model=model,
            )
        )
    calls = [
        MessageDraft(
            role=Message.Role.TOOL_CALL,
            tool_call_id=call.call_id,
            tool_name=call.name,
            tool_arguments=call.arguments,
            status=status,
            provider=provider,
            model=model,
        )
        for call in step.tool_calls
    ]
    return drafts, calls


async def save_drafts(
    *,
    user: User,
    conversation_id: uuid.UUID | None,
    drafts: list[MessageDraft],
    update: bool = False,
    retry_for: float | None = None,
) -> list[Message]:
    """Append the rows (``update``: some may be stored already, update those), retrying while
    the database is unreachable for ``retry_for`` seconds (default MOSAIC_SAVE_RETRY_SECONDS);
    then ``ReplyNotSaved``."""
    write = (
        conversation_services.messages_upsert if update else conversation_services.messages_append
    )
    give_up = time.monotonic() + (
        settings.MOSAIC_SAVE_RETRY_SECONDS if retry_for is None else retry_for
    )
    pause = 0.1
    while True:
        try:
            rows: list[Message] = await in_database_thread(
                write, user=user, conversation_id=conversation_id, drafts=drafts
            )
        except UNREACHABLE as error:
            if time.monotonic() + pause > give_up:
                raise ReplyNotSaved from error
            logger.warning("saving %d rows failed, retrying: %s", len(drafts), error)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        else:
            return rows


def _draft_to_json(draft: MessageDraft) -> dict[str, Any]:
    data = dataclasses.asdict(draft)
    data["id"] = str(draft.id)
    return data


def _draft_from_json(data: dict[str, Any]) -> MessageDraft:
    return MessageDraft(**{**data, "id": uuid.UUID(data["id"])})


async def keep_unsaved(
    *, user: User, conversation_id: uuid.UUID | None, drafts: Sequence[MessageDraft]
) -> bool:
    """Keep rows the database could not take in Redis; False if Redis is down too."""
    try:
        await live.unsaved_keep(user.pk, conversation_id, [_draft_to_json(d) for d in drafts])
    except Exception:
        logger.exception("keeping %d unsaved rows of %s failed", len(drafts), conversation_id)
        return False
    return True


async def recover_unsaved(*, user: User, conversation_id: uuid.UUID | None) -> int:
    """Write the rows kept by ``keep_unsaved`` (idempotent: a row already stored is updated);
    returns how many. Quick when there are none (one Redis read)."""
    kept = await live.unsaved_peek(user.pk, conversation_id)
    if not kept:
        return 0
    drafts = [_draft_from_json(data) for data in kept]
    await save_drafts(
        user=user, conversation_id=conversation_id, drafts=drafts, update=True, retry_for=0.0
    )
    await live.unsaved_drop(user.pk, conversation_id, len(kept))
    logger.info("wrote %d kept rows of conversation %s", len(kept), conversation_id)
    return len(kept)


def failed_reply_draft(
    *,
    decision: RoutingDecision | None,
    provider: str,
    model: str,
    status: str,
    error: dict[str, Any],
) -> MessageDraft:
    """The row of a turn that ended before the model said anything: an empty assistant message
    with the turn's status and the error, so ``message:done`` names a stored message."""
    return MessageDraft(
        role=Message.Role.ASSISTANT,
        status=status,
        provider=decision.provider if decision else provider,
        model=decision.model if decision else model,
        routing=decision.to_dict() if decision else None,
        metadata={"error": error} if error else {},
    )


def tool_result_draft(outcome: ToolOutcome) -> MessageDraft:
    return MessageDraft(
        id=outcome.result_id,
        role=Message.Role.TOOL_RESULT,
        content=outcome.result,
        tool_call_id=outcome.call.call_id,
        tool_name=outcome.call.name,
        is_error=outcome.is_error,
    )


def note_draft(text: str) -> MessageDraft:
    return MessageDraft(role=Message.Role.SYSTEM, content=text)
