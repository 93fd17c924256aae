"""The chat gateway: what a client can ask of a conversation, whichever door it comes through.

Open a conversation (resume or create, bind the session, send its state and history, replay a
reply in progress), send a message (``agents.turn``), run a slash command
(``agents.commands``), cancel the running turn, and close. The WebSocket consumer is a thin
translation of frames to these calls; a channel adapter (Matrix, the OpenAI-compatible door)
is another.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async

from agents import fanout, frames, live, selectors, services
from agents.commands import run_command
from agents.models import AgentConfig
from agents.protocol import CommandExecute, ConversationOpen, MessageSend
from agents.session import AgentView, ChatSession
from agents.turn import handle_user_message
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.context import context_usage
from conversations.models import Conversation, Message
from core.errors import Conflict
from routing.rules import validate_model_ref

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "cancel_turn",
    "close",
    "execute_command",
    "on_cancel_event",
    "open_conversation",
    "send_message",
]

HISTORY_LIMIT = 200


@dataclass
class _OpenState:
    conversation: Conversation
    agent: AgentConfig
    session_id: uuid.UUID
    history: list[Message]
    message_count: int
    context_tokens: int


def _open_state(user: User, frame: ConversationOpen, chat: ChatSession) -> _OpenState:
    if frame.conversation_id is not None:
        conversation = conversation_selectors.conversation_get(
            user=user, conversation_id=frame.conversation_id
        )
        agent = selectors.agent_for_conversation(
            user=user, requested=frame.agent, stored=conversation.agent_slug
        )
    else:
        # The agent first: an unknown one must not leave an empty conversation behind.
        agent = selectors.agent_for_conversation(user=user, requested=frame.agent, stored="")
        conversation = conversation_services.conversation_create(user=user, agent_slug=agent.slug)
    if chat.session_id is None:
        session = services.session_start(
            user=user,
            conversation_id=conversation.pk,
            agent_slug=agent.slug,
            model_override=chat.model_override,
        )
    else:
        session = services.session_rebind(
            user=user,
            session=selectors.session_get(user=user, session_id=chat.session_id),
            conversation_id=conversation.pk,
            agent_slug=agent.slug,
        )
    conversation_services.conversation_bind(
        user=user, conversation_id=conversation.pk, session_id=session.pk, agent_slug=agent.slug
    )
    rows = conversation_selectors.message_list(user=user, conversation_id=conversation.pk)
    history = list(reversed(rows.defer("search_vector").order_by("-sequence")[:HISTORY_LIMIT]))
    message_count, context_tokens = context_usage(
        user=user, conversation_id=conversation.pk, system_prompt=agent.system_prompt
    )
    return _OpenState(conversation, agent, session.pk, history, message_count, context_tokens)


async def open_conversation(chat: ChatSession, frame: ConversationOpen) -> None:
    if chat.turn_running and chat.conversation_id != frame.conversation_id:
        raise Conflict(
            "A reply is still being generated; cancel it before switching conversations."
        )
    if frame.model:
        provider, model = await database_sync_to_async(validate_model_ref)(frame.model)
        chat.model_override = f"{provider}:{model}"
    state = await database_sync_to_async(_open_state)(chat.user, frame, chat)
    if chat.conversation_id != state.conversation.pk:
        await fanout.leave(chat)
    chat.conversation_id = state.conversation.pk
    chat.session_id = state.session_id
    chat.agent = AgentView.of(state.agent)
    # Join first, then read the live buffer: every delta is either in the snapshot or arrives
    # through the group afterwards (``fanout.deliver`` drops the overlap by index).
    await fanout.join(chat)
    turn, snapshot = await live.live_snapshot(chat.user.pk, chat.conversation_id)
    chat.known_ids = {str(m.id) for m in state.history if m.status != Message.Status.STREAMING}
    chat.seen_turn, chat.seen_index = turn, len(snapshot)
    chat.context_tokens = state.context_tokens
    if not chat.provider:
        chat.expect_model()
    await chat.send(chat.info())
    await chat.send(
        frames.history(
            conversation=state.conversation,
            messages=state.history,
            message_count=state.message_count,
            context_tokens=state.context_tokens,
            context_window=chat.window,
        )
    )
    for replay in frames.replay(snapshot, chat.known_ids):
        await chat.send(replay)


async def execute_command(chat: ChatSession, frame: CommandExecute) -> None:
    await chat.send(await run_command(chat, frame.command, frame.args or {}))


async def send_message(chat: ChatSession, frame: MessageSend) -> None:
    await handle_user_message(chat, frame)


async def cancel_turn(chat: ChatSession) -> bool:
    """Stop the running turn of this conversation, whichever socket or process runs it."""
    if chat.conversation_id is None:
        return False
    # Every consumer on the conversation hears it; the one running the turn cancels its task.
    await fanout.request_cancel(chat)
    return True


async def on_cancel_event(chat: ChatSession) -> None:
    if chat.turn_task is not None and not chat.turn_task.done():
        chat.turn_task.cancel()


async def close(chat: ChatSession) -> None:
    chat.connected = False
    await fanout.leave(chat)
    if chat.session_id is not None:
        await database_sync_to_async(services.session_end)(
            user=chat.user, session_id=chat.session_id
        )
