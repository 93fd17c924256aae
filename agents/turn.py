"""One chat turn, top to bottom (ARCHITECTURE.md, "One chat turn").

``handle_user_message`` stores the user's message before anything else can fail, acknowledges
it, and starts the turn as a task (the turn outlives the socket that sent the message);
``run_chat_turn`` is the turn itself: classify, route, announce, build the context, run the
model and its tools with failover, finish. Each step is a call whose name says what it does;
state lives in ``session``, fan-out in ``fanout``, frames in ``frames``, writes in
``persistence`` and the ``recorder``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from agents import channel as ch
from agents import checkpoints, events, live, persistence, selectors
from agents.completion import summarise
from agents.failover import (
    FailoverExhausted,
    attempt_in_order,
    credential_for,
    nothing_usable_message,
)
from agents.fanout import broadcast
from agents.recorder import TurnRecorder
from agents.runtime import (
    NO_CALLER_OPTIONS,
    CallerOptions,
    StreamDeadlines,
    TurnFailed,
    TurnOutcome,
    TurnPlan,
    run_turn,
)
from agents.session import AgentView, ChatSession, model_window
from agents.tasks import schedule_extraction
from agents.tools import Tool, ToolContext, all_tools
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.context import build_context
from conversations.history import HistoryRead, history_read
from conversations.models import Message
from conversations.selectors import ContextRow
from core.db import in_database_thread
from core.errors import Conflict, InvalidInput, MosaicError, NotFound, TooLarge
from memory.recall import recall_for_turn
from providers import catalog, chat_health
from providers import services as provider_services
from providers.adapters.base import ProviderError, ResolvedCredential
from providers.registry import get_adapter
from routing.classifier import Classification, ClassifierContext, classify
from routing.decision import RoutingDecision, SessionRouting
from routing.engine import aresolve

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.gateway")

TURN_WAIT_SECONDS = 30.0


async def handle_user_message(chat: ChatSession, post: ch.PostMessage) -> None:
    """Persist the user's message first; then run the turn in a task."""
    admitted = time.monotonic()
    # From the frame's arrival when the channel knows it (access and limits were checked since)
    received = min(chat.frame_at or admitted, admitted)
    if chat.conversation_id is None:
        raise InvalidInput("Open a conversation first (send conversation:open).")
    limit = settings.MOSAIC_MAX_MESSAGE_BYTES
    if len(post.content.encode("utf-8", "surrogatepass")) > limit:
        raise TooLarge(f"The message is larger than the {limit // 1024} KB limit.")
    if post.attachments:
        raise InvalidInput("Attachments are not supported yet; send the text alone.")

    # 0. a reply the database could not take last time goes first (it came before this message)
    await persistence.recover_unsaved(user=chat.user, conversation_id=chat.conversation_id)
    # The history is read while the message is written (a durable commit waits for the disk):
    # the turn uses this read if nothing else was written since (``load_turn_inputs``).
    history = asyncio.ensure_future(
        in_database_thread(
            history_read,
            user=chat.user,
            conversation_id=chat.conversation_id,
        )
    )
    started = False
    try:
        # 1. persist the user message (idempotent on client_id) — before anything else can fail
        message, created = await persistence.persist_user_message(
            user=chat.user,
            conversation_id=chat.conversation_id,
            content=post.content,
            client_id=post.client_id,
        )
        persisted = time.monotonic()
        await chat.deliver(ch.Accepted(post.client_id, str(message.id), duplicate=not created))
        if created:
            chat.known_ids.add(str(message.id))
            await broadcast(chat, events.posted(message), skip_origin=True)
        elif await _already_answered(chat, message):
            return  # a resend of a message whose turn ran or is running: nothing more to do
        await _start_turn(chat, message, received, persisted, admitted, history=history)
        started = True  # the turn took the read
    finally:
        if not started:
            _drop(history)


async def continue_turn(chat: ChatSession) -> None:
    """Run a turn on the conversation as stored, for its last user message: a door stored what
    its caller's own tools returned, and the model goes on from those results."""
    received = time.monotonic()
    if chat.conversation_id is None:
        raise InvalidInput("Open a conversation first (send conversation:open).")
    message = await in_database_thread(
        conversation_selectors.last_user_message,
        user=chat.user,
        conversation_id=chat.conversation_id,
    )
    await _start_turn(chat, message, received, received)


async def _start_turn(
    chat: ChatSession,
    message: Message,
    received: float,
    persisted: float,
    admitted: float | None = None,
    *,
    history: asyncio.Future[HistoryRead] | None = None,
) -> None:
    turn_id = uuid.uuid4().hex
    if not await _wait_for_turn_slot(chat, turn_id):
        raise Conflict(
            "Another reply is still being generated in this conversation; your message is saved."
        )
    recorder = TurnRecorder(chat, turn_id, received)
    if admitted is not None:
        recorder.mark("admitted", admitted)
    recorder.mark("persisted", persisted)
    chat.turn_answered = False
    chat.turn_task = asyncio.create_task(_run_turn_task(chat, message, recorder, history))


async def _wait_for_turn_slot(chat: ChatSession, turn_id: str) -> bool:
    """One turn at a time per conversation: wait for the previous one (ours finishes its
    bookkeeping just after message:done; another device's may take longer), then take the slot."""
    deadline = time.monotonic() + TURN_WAIT_SECONDS
    while True:
        if chat.turn_task is not None and not chat.turn_task.done():
            await asyncio.wait({chat.turn_task}, timeout=max(0.0, deadline - time.monotonic()))
        if await live.turn_acquire(chat.user.pk, chat.conversation_id, turn_id):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def _already_answered(chat: ChatSession, message: Message) -> bool:
    if await live.turn_running(chat.user.pk, chat.conversation_id):
        return True
    return bool(
        await in_database_thread(
            conversation_selectors.has_reply_after, user=chat.user, message=message
        )
    )


async def _run_turn_task(
    chat: ChatSession,
    message: Message,
    recorder: TurnRecorder,
    history: asyncio.Future[HistoryRead] | None = None,
) -> int:
    """The turn, whatever happens to it; returns the tokens it used (for the daily limit)."""
    user_id, conversation_id, turn_id = chat.user.pk, chat.conversation_id, recorder.turn_id
    heartbeat = asyncio.create_task(live.turn_heartbeat(user_id, conversation_id, turn_id))
    try:
        await run_chat_turn(chat, message, recorder, history=history)
    except asyncio.CancelledError:
        await asyncio.shield(recorder.finish(chat.cancelled_status))
    except MosaicError as error:  # e.g. ReplyNotSaved: the database is down
        logger.warning("turn %s in conversation %s failed: %s", turn_id, conversation_id, error)
        await asyncio.shield(recorder.emit(events.failure_for(error)))
        await asyncio.shield(recorder.finish("failed"))
    except Exception:
        logger.exception("turn %s in conversation %s failed", turn_id, conversation_id)
        await asyncio.shield(recorder.emit(events.internal_failure()))
        await asyncio.shield(recorder.finish("failed"))
    finally:
        heartbeat.cancel()
        if history is not None:
            _drop(history)
        try:
            await asyncio.shield(live.turn_release(user_id, conversation_id, turn_id))
        except Exception:  # Redis is down: the lock lapses by itself (MOSAIC_TURN_LOCK_SECONDS)
            logger.warning("releasing the lock of turn %s failed", turn_id, exc_info=True)
        # Memory extraction, for when the conversation goes quiet (counted from the turn's end;
        # nothing the reply waits for)
        await asyncio.shield(schedule_memory_extraction(chat))
    return recorder.input_tokens + recorder.output_tokens


async def run_chat_turn(
    chat: ChatSession,
    message: Message,
    recorder: TurnRecorder,
    *,
    history: asyncio.Future[HistoryRead] | None = None,
) -> None:
    # 2. classify (pure, < 1 ms)
    classification = classify_message(chat, message)
    # 3. route (rules and health from cache; no network)
    decision = await resolve_route(chat, classification)
    recorder.mark("routed")
    # 4. tell every socket which model will answer and why, while the database is read and the
    # message is embedded to recall the user's memories (first: its reads go before the
    # history's)
    recalled, inputs, _ = await asyncio.gather(
        recall_for_turn(user=chat.user, text=message.content),
        read_turn_inputs(chat, message, decision.provider, history),
        announce_route(chat, decision),
    )
    recorder.memories = chat.memories_used = recalled.used
    recorder.mark("loaded")
    if not decision.usable:
        recorder.decision = decision
        await recorder.emit(ch.Failure("provider_unavailable", nothing_usable_message(decision)))
        await recorder.finish("failed")
        return
    # 5. context: system prompt + memory + checkpoint + recent messages, within the window
    agent = await agent_for_turn(chat, decision)
    system = recalled.with_system_prompt(system_prompt(agent, decision, chat.caller))
    context = await build_context(
        user=chat.user,
        conversation_id=chat.conversation_id,
        system_prompt=system,
        window=model_window(decision.provider, decision.model),
        summarise=lambda text: summarise(chat.user, text),
        loaded=(inputs.checkpoint, inputs.rows),
    )
    chat.context_tokens = context.tokens
    recorder.mark("context")
    # 6. run the model and its tools; 7. on failure before the first token, fail over
    tools = allowed_tools(agent, decision)
    tool_context = ToolContext(
        user=chat.user, conversation_id=str(chat.conversation_id), session_id=str(chat.session_id)
    )
    deadlines = turn_deadlines(recorder.started)

    async def attempt(candidate: RoutingDecision) -> TurnOutcome:
        recorder.decision = candidate
        credential = inputs.credential_for(candidate.provider) or await credential_for(
            chat.user, candidate.provider
        )
        try:
            outcome = await run_turn(
                plan=turn_plan(
                    candidate,
                    classification,
                    context.system,
                    tools,
                    caller=chat.caller,
                    deadlines=deadlines,
                ),
                history=context.messages,
                adapter=get_adapter(candidate.provider),
                credential=credential,
                context=tool_context,
                sink=recorder,
            )
        except TurnFailed as failure:
            await chat_health.chat_failed(candidate.provider, credential, failure.error)
            raise
        await chat_health.chat_succeeded(candidate.provider, credential)
        return outcome

    async def announce_failover(candidate: RoutingDecision) -> None:
        logger.warning("failover: %s", candidate.reason)
        await announce_route(chat, candidate)

    try:
        outcome = await attempt_in_order(decision, attempt, on_failover=announce_failover)
    except FailoverExhausted as failure:
        await recorder.emit(events.failure_for(failure))
        await recorder.finish("failed")
        return
    if outcome.hit_step_limit:
        await recorder.note(
            f"Stopped after {outcome.steps} model calls (the turn limit, MOSAIC_AGENT_MAX_TURNS)."
        )
    # 8. message:done with usage; metrics; the decision stored with the answer
    await recorder.finish("complete")
    # 9. then, in the background: the checkpoint ahead of need, memory extraction at a checkpoint
    await checkpoints.after_turn(
        user=chat.user,
        conversation_id=chat.conversation_id,
        context=context,
        system_prompt=system,
        written_tokens=recorder.written_tokens,
        last_sequence=recorder.last_sequence,
    )


async def schedule_memory_extraction(chat: ChatSession) -> None:
    """Send the idle extraction job (at most one waits per conversation: usually a Redis
    round trip and nothing more); never a reason to fail a turn."""
    try:
        await in_database_thread(
            schedule_extraction, user_id=chat.user.pk, conversation_id=chat.conversation_id
        )
    except Exception:
        logger.warning(
            "could not schedule memory extraction for conversation %s",
            chat.conversation_id,
            exc_info=True,
        )


def classify_message(chat: ChatSession, message: Message) -> Classification:
    return classify(
        message.content,
        ClassifierContext(conversation_tokens=chat.context_tokens, message_count=message.sequence),
    )


async def resolve_route(chat: ChatSession, classification: Classification) -> RoutingDecision:
    session = SessionRouting(
        model_override=chat.model_override, agent=chat.agent.profile if chat.agent else None
    )
    return await aresolve(classification, user=chat.user, session=session)


async def announce_route(chat: ChatSession, decision: RoutingDecision) -> None:
    chat.provider, chat.model = decision.provider, decision.model
    chat.routing = events.route_line(decision)
    await broadcast(chat, chat.state())


@dataclass
class TurnInputs:
    """What a turn reads from the database before it can call the model, in one round trip."""

    checkpoint: Message | None
    rows: list[ContextRow]
    provider: str
    credential: ResolvedCredential | None = None
    credential_error: ProviderError | None = None

    def credential_for(self, provider: str) -> ResolvedCredential | None:
        """The preloaded credential if it is for ``provider`` (a failover needs another)."""
        if provider != self.provider:
            return None
        if self.credential_error is not None:
            raise TurnFailed(self.credential_error, started=False) from self.credential_error
        return self.credential


async def read_turn_inputs(
    chat: ChatSession,
    message: Message,
    provider: str,
    history: asyncio.Future[HistoryRead] | None,
) -> TurnInputs:
    """``load_turn_inputs`` with the history read while the message was being stored, if any."""
    read = None
    if history is not None:
        try:
            read = await history
        except Exception:  # read again below, where a lasting failure is the turn's to report
            logger.warning("reading the history of %s failed", chat.conversation_id, exc_info=True)
    return await in_database_thread(
        load_turn_inputs, chat.user, chat.conversation_id, provider, message=message, read=read
    )


def load_turn_inputs(
    user: User,
    conversation_id: uuid.UUID | None,
    provider: str,
    *,
    message: Message | None = None,
    read: HistoryRead | None = None,
) -> TurnInputs:
    """The history, and the credential for ``provider``. ``read``, taken while ``message`` (the
    turn's user message) was being stored, stands for the history if it is still true."""
    history = (
        history_after_read(user, conversation_id, message, read)
        if message is not None and read is not None
        else None
    )
    if history is not None:
        checkpoint, rows = history
    else:
        checkpoint, rows = conversation_selectors.context_messages(
            user=user, conversation_id=conversation_id, with_streaming=True
        )
        # This turn holds the conversation's lock: a row still "streaming" was left by a turn
        # whose process died mid-reply (kill -9); it ends as failed, and out of the history.
        if any(row.status == Message.Status.STREAMING for row in rows):
            conversation_services.messages_fail_streaming(
                user=user, conversation_id=conversation_id
            )
            rows = [row for row in rows if row.status != Message.Status.STREAMING]
    inputs = TurnInputs(checkpoint=checkpoint, rows=rows, provider=provider)
    try:
        inputs.credential = provider_services.resolve_credential(user=user, provider=provider)
    except ProviderError as error:
        inputs.credential_error = error
    return inputs


def history_after_read(
    user: User, conversation_id: uuid.UUID | None, message: Message, read: HistoryRead
) -> tuple[Message | None, list[ContextRow]] | None:
    """The history up to ``message`` from a read made while it was being stored, or None if that
    read cannot stand for a fresh one (then read again).

    It can if every row before the message was in it (the last number it saw is at least the
    one before the message's: rows are numbered and written in one statement, and it read that
    number first), none was streaming (a dead turn's rows, which only the turn holding the lock
    may fail) and nothing was written after the message since (another client's turn, a
    checkpoint: they take the next numbers). Rows are never renumbered, and a finished row only
    changes while its own turn holds the conversation's lock, which this turn holds now.
    """
    if read.last_sequence is None or read.last_sequence < message.sequence - 1:
        return None  # something was written between the read and the message
    if any(row.status == Message.Status.STREAMING for row in read.rows):
        return None
    latest = conversation_selectors.conversation_last_sequence(
        user=user, conversation_id=conversation_id
    )
    if latest != message.sequence:
        return None
    rows = [row for row in read.rows if row.sequence < message.sequence]
    rows.append(ContextRow.of(message))
    return read.checkpoint, rows


def _drop(history: asyncio.Future[HistoryRead]) -> None:
    """A history read no turn will use: cancelled, or its outcome (even an error) discarded."""
    if not history.cancel() and not history.cancelled():
        history.exception()


async def agent_for_turn(chat: ChatSession, decision: RoutingDecision) -> AgentView:
    """The session's agent, or the one a routing rule asks for (for this turn only)."""
    assert chat.agent is not None
    if not decision.agent or decision.agent == chat.agent.slug:
        return chat.agent
    try:
        agent = await in_database_thread(selectors.agent_get, user=chat.user, slug=decision.agent)
    except NotFound:
        logger.warning(
            "rule %r names agent %r, which %s cannot use", decision.rule, decision.agent, chat.user
        )
        return chat.agent
    return AgentView.of(agent)


def allowed_tools(agent: AgentView, decision: RoutingDecision) -> list[Tool]:
    names = set(agent.tool_allowlist)
    if decision.tool_allowlist is not None:
        names &= set(decision.tool_allowlist)  # a rule may narrow the agent's tools, never widen
    tools = all_tools()
    return [tools[name] for name in sorted(names) if name in tools]


def system_prompt(agent: AgentView, decision: RoutingDecision, caller: CallerOptions) -> str:
    """The agent's prompt (or the rule's override), then the caller's own system text."""
    base = decision.system_prompt_override or agent.system_prompt
    return "\n\n".join(part for part in (base, caller.system) if part)


def turn_deadlines(started: float) -> StreamDeadlines:
    """The turn's deadlines (settings), the overall one counted from when the message came in."""
    return StreamDeadlines(
        first_token=settings.MOSAIC_FIRST_TOKEN_TIMEOUT,
        idle=settings.MOSAIC_STREAM_IDLE_TIMEOUT,
        turn_ends=started + settings.MOSAIC_TURN_TIMEOUT,
    )


def turn_plan(
    decision: RoutingDecision,
    classification: Classification,
    system: str,
    tools: list[Tool],
    *,
    caller: CallerOptions = NO_CALLER_OPTIONS,
    deadlines: StreamDeadlines | None = None,
) -> TurnPlan:
    spec = catalog.get_spec(decision.provider, decision.model)
    return TurnPlan(
        provider=decision.provider,
        model=decision.model,
        system_prompt=system,
        tools=tools,
        max_steps=settings.MOSAIC_AGENT_MAX_TURNS,
        timeout=settings.MOSAIC_PROVIDER_TIMEOUT,
        reasoning="reasoning" in classification.capabilities and bool(spec and spec.reasoning),
        caller=caller,
        deadlines=deadlines or StreamDeadlines(),
    )
