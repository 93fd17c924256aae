"""What a turn writes to the conversation: the user's message first, then each model step's
thinking, text and tool calls once the step ends, each tool's result, and notes.

One INSERT per step (the rows of a step share one transaction and one sequence reservation);
streaming text is never written token by token: the live buffer in Redis holds it meanwhile.
These are the only database writes of a turn besides its accounting (``services.turn_record``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from agents.runtime import StepOutput, ToolOutcome
from conversations import services as conversation_services
from conversations.models import Message
from conversations.services import MessageDraft
from routing.decision import RoutingDecision

if TYPE_CHECKING:
    import uuid

    from django.contrib.auth.models import User


async def persist_user_message(
    *, user: User, conversation_id: uuid.UUID, content: str, client_id: str
) -> tuple[Message, bool]:
    """Store the user's message (idempotent on ``client_id``): ``(message, created)``."""
    result: tuple[Message, bool] = await database_sync_to_async(
        conversation_services.message_persist_user
    )(user=user, conversation_id=conversation_id, content=content, client_id=client_id)
    return result


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
    *, user: User, conversation_id: uuid.UUID | None, drafts: list[MessageDraft]
) -> list[Message]:
    rows: list[Message] = await database_sync_to_async(conversation_services.messages_append)(
        user=user, conversation_id=conversation_id, drafts=drafts
    )
    return rows


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
