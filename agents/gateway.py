"""The chat gateway: what a channel client can ask of a conversation, whichever door it uses.

An adapter (``agents/channel.py``: the WebSocket consumer, later a Matrix bridge) calls
``connect`` once its client is authenticated, ``receive`` for each canonical command, and
``disconnect`` when it goes; the gateway answers through ``adapter.deliver``. A command is:
open a conversation (resume or create, bind the session, send its state and history, replay a
reply in progress), post a message (``agents.turn``), run a slash command (``agents.commands``),
cancel the running turn, or ping. Errors come back as ``Failure`` events, never as exceptions
into the adapter.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accounts.selectors import TurnLimits
from agents import channel as ch
from agents import events, fanout, limits, live, persistence, selectors, services
from agents.commands import run_command
from agents.models import AgentConfig
from agents.session import AgentView, ChatSession
from agents.turn import handle_user_message
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.context import context_usage
from conversations.models import Conversation, Message
from core.db import in_database_thread
from core.errors import Conflict, MosaicError
from routing.rules import validate_model_ref

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = ["catch_up", "connect", "disconnect", "on_cancel_request", "receive"]

logger = logging.getLogger("mosaic.gateway")

HISTORY_LIMIT = 200


# --- the adapter's side ----------------------------------------------------------------------------


async def connect(*, user: User, adapter: ch.ChannelAdapter, channel_name: str) -> ChatSession:
    """An authenticated client of ``adapter`` arrives; ``channel_name`` is its address on the
    channel layer (a Channels consumer's own, or a ``ChannelListener``'s)."""
    return ChatSession(user=user, channel_name=channel_name, adapter=adapter)


async def receive(
    chat: ChatSession, command: ch.Inbound, *, limits: TurnLimits | None = None
) -> None:
    """One command from the client; a refusal or a fault comes back as a ``Failure`` event.
    ``limits``: the user's, if the adapter read them with its access check."""
    try:
        if isinstance(command, ch.OpenConversation):
            await open_conversation(chat, command)
        elif isinstance(command, ch.PostMessage):
            await post_message(chat, command, limits)
        elif isinstance(command, ch.RunCommand):
            await chat.deliver(await run_command(chat, command.command, command.args or {}))
        elif isinstance(command, ch.CancelTurn):
            await cancel_turn(chat)
        elif isinstance(command, ch.Ping):
            await chat.deliver(ch.Pong())
    except MosaicError as exc:
        await chat.deliver(events.failure_for(exc))
    except Exception:
        logger.exception(
            "%s client of user %s: %s failed", chat.adapter.channel, chat.user.pk, command.kind
        )
        await chat.deliver(events.internal_failure("The server could not handle that request."))


async def disconnect(chat: ChatSession) -> None:
    chat.connected = False
    await fanout.leave(chat)
    if chat.session_id is not None:
        await in_database_thread(services.session_end, user=chat.user, session_id=chat.session_id)


async def catch_up(chat: ChatSession) -> None:
    """The adapter cannot hear the channel layer (Redis is down): bring the client up to date
    from the database (``fanout.catch_up``)."""
    try:
        await fanout.catch_up(chat)
    except Exception:
        logger.warning("catching up user %s from the database failed", chat.user.pk, exc_info=True)


async def on_cancel_request(chat: ChatSession) -> None:
    """Someone asked, through the channel layer, to stop this conversation's turn: stop it if it
    runs here."""
    if chat.turn_task is not None and not chat.turn_task.done():
        chat.turn_task.cancel()


# --- the commands ----------------------------------------------------------------------------------

# The tasks that hold a turn's slot until it ends (a reference, so that they are not collected).
_slot_holders: set[asyncio.Task[None]] = set()


async def post_message(
    chat: ChatSession, post: ch.PostMessage, user_limits: TurnLimits | None = None
) -> None:
    """A message, within the user's limits (``agents.limits``: refused before it is stored)."""
    if chat.conversation_id is None:
        await handle_user_message(chat, post)  # refuses it: no conversation is open
        return
    slot = await limits.admit_turn(chat.user, user_limits)
    before = chat.turn_task
    try:
        await handle_user_message(chat, post)
    except BaseException:
        await asyncio.shield(slot.release())
        raise
    turn = chat.turn_task
    if turn is None or turn is before:  # a resend of a message already answered
        await slot.release()
        return
    holder = asyncio.create_task(slot.hold_while(turn))
    _slot_holders.add(holder)
    holder.add_done_callback(_slot_holders.discard)


@dataclass
class _OpenState:
    conversation: Conversation
    agent: AgentConfig
    session_id: uuid.UUID
    history: list[Message]
    message_count: int
    context_tokens: int


def _open_state(
    user: User, command: ch.OpenConversation, chat: ChatSession, *, turn_running: bool
) -> _OpenState:
    if command.conversation_id is not None:
        conversation = conversation_selectors.conversation_get(
            user=user, conversation_id=command.conversation_id
        )
        if not turn_running:  # rows still "streaming" belong to a turn whose process died
            conversation_services.messages_fail_streaming(
                user=user, conversation_id=conversation.pk
            )
        agent = selectors.agent_for_conversation(
            user=user, requested=command.agent, stored=conversation.agent_slug
        )
    else:
        # The agent first: an unknown one must not leave an empty conversation behind.
        agent = selectors.agent_for_conversation(user=user, requested=command.agent, stored="")
        conversation = conversation_services.conversation_create(user=user, agent_slug=agent.slug)
    if chat.session_id is None:
        session = services.session_start(
            user=user,
            conversation_id=conversation.pk,
            agent_slug=agent.slug,
            model_override=chat.model_override,
            client=chat.adapter.channel,
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
    if turn_running:  # the reply so far comes as a replay of the live buffer, not twice
        rows = rows.exclude(status=Message.Status.STREAMING)
    history = list(reversed(rows.defer("search_vector").order_by("-sequence")[:HISTORY_LIMIT]))
    message_count, context_tokens = context_usage(
        user=user, conversation_id=conversation.pk, system_prompt=agent.system_prompt
    )
    return _OpenState(conversation, agent, session.pk, history, message_count, context_tokens)


async def open_conversation(chat: ChatSession, command: ch.OpenConversation) -> None:
    if str(chat.conversation_id) != str(command.conversation_id) and await chat.generating():
        raise Conflict(
            "A reply is still being generated; cancel it before switching conversations."
        )
    if command.model:
        provider, model = await in_database_thread(validate_model_ref, command.model)
        chat.model_override = f"{provider}:{model}"
    turn_running = False
    if (wanted := _as_uuid(command.conversation_id)) is not None:
        # Before the history is read: rows the database could not take, and whether a turn runs.
        await persistence.recover_unsaved(user=chat.user, conversation_id=wanted)
        turn_running = await live.turn_running(chat.user.pk, wanted)
    state = await in_database_thread(
        _open_state, chat.user, command, chat, turn_running=turn_running
    )
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
    await chat.deliver(chat.state())
    await chat.deliver(
        events.history(
            conversation=state.conversation,
            messages=state.history,
            message_count=state.message_count,
            context_tokens=state.context_tokens,
            context_window=chat.window,
        )
    )
    chat.following = ""
    for replay in events.replay(snapshot, chat.known_ids):
        chat.following = chat.following or replay.message_id
        await chat.deliver(replay)


def _as_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None  # not an id at all: the open answers not_found


async def cancel_turn(chat: ChatSession) -> bool:
    """Stop the running turn of this conversation, whichever socket or process runs it."""
    if chat.conversation_id is None:
        return False
    # Every consumer on the conversation hears it; the one running the turn cancels its task.
    await fanout.request_cancel(chat)
    return True
