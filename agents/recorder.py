"""The runtime's sink for one turn: relays each event to the conversation's clients as it comes,
writes each message once when it is complete, and ends the turn once (``TurnEnded``). It also
keeps the turn's agent events (``agents.turn_log``), written with its accounting, and what the
turn wrote (tokens, last sequence), from which the turn decides on a checkpoint ahead of need.

Order on every client is the order of events: text goes out through the ``DeltaRelay``, and
every other event waits for the text queued before it (``emit``).

A long reply is saved while it streams, at most every MOSAIC_STREAM_SAVE_SECONDS and at most
MOSAIC_STREAM_SAVE_MAX_WRITES times a step, in the background (the stream never waits on the
database). A step whose rows the database cannot take ends the turn with ``ReplyNotSaved``; the
rows wait in Redis. Whatever happened, ``finish`` sends ``message:done`` naming a stored message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from django.conf import settings

from agents import channel as ch
from agents import events, persistence, services
from agents.fanout import DeltaRelay, broadcast
from agents.runtime import StepOutput, ToolOutcome
from agents.session import ChatSession
from agents.turn_log import TurnLog
from conversations.models import Message
from conversations.services import MessageDraft
from core.db import in_database_thread
from routing.decision import RoutingDecision

logger = logging.getLogger("mosaic.gateway")
timing_logger = logging.getLogger("mosaic.gateway.timing")


class TurnRecorder:
    def __init__(self, chat: ChatSession, turn_id: str, started: float) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.started = started
        self.relay = DeltaRelay(chat, turn_id)
        self.log = TurnLog(
            user=chat.user,
            session_id=chat.session_id,
            conversation_id=chat.conversation_id,
            turn_id=turn_id,
        )
        self._decision: RoutingDecision | None = None
        self.last_message_id: uuid.UUID | None = None
        self.written_tokens = 0  # estimated tokens of the rows this turn wrote
        self.last_sequence: int | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.memories = 0  # insights recalled into the context (the route line's count)
        self.finished = False
        self.streaming = False
        self.marks: list[tuple[str, float]] = []
        self.failure: ch.Failure | None = None  # the last error the turn reported
        self.unsaved = False  # some rows of the turn wait in Redis for the database
        # Saving the reply while it streams: rows written so far, writes this step, when.
        self.partial_ids: set[uuid.UUID] = set()
        self.partial_writes = 0
        self.partial_at = time.monotonic()
        self.partial_task: asyncio.Task[None] | None = None

    @property
    def decision(self) -> RoutingDecision | None:
        return self._decision

    @decision.setter
    def decision(self, candidate: RoutingDecision | None) -> None:
        """The model being tried: the routing decision first, then each failover's."""
        if candidate is not None and candidate is not self._decision:
            if self._decision is None:
                self.log.routed(candidate)
            else:
                self.log.failed_over(self._decision, candidate)
        self._decision = candidate

    def wrote(self, rows: list[Message]) -> None:
        for row in rows:
            self.written_tokens += row.token_estimate
            self.last_sequence = max(self.last_sequence or 0, row.sequence)

    def mark(self, name: str, at: float | None = None) -> None:
        """Record when a step of the turn finished (logged at DEBUG, for finding slow steps)."""
        self.marks.append((name, time.monotonic() if at is None else at))

    async def emit(self, event: ch.Outbound) -> None:
        """Broadcast an event after all the text queued before it."""
        if isinstance(event, ch.Failure):
            self.log.failed(event.code, event.message)
            self.failure = event
        await self.relay.drain()
        await broadcast(self.chat, event)

    # --- the runtime's TurnSink ------------------------------------------------------------------

    async def text_delta(self, message_id: uuid.UUID, text: str) -> None:
        if not self.streaming:
            self.streaming = True
            self.mark("first_token")
        await self.relay.push(events.text(message_id, text))

    async def thinking_delta(self, message_id: uuid.UUID, text: str) -> None:
        await self.relay.push(events.text(message_id, text, thinking=True))

    async def step_streaming(self, step: StepOutput) -> None:
        """Save the reply so far now and then (never more than one write in flight)."""
        now = time.monotonic()
        if (
            now - self.partial_at < settings.MOSAIC_STREAM_SAVE_SECONDS
            or self.partial_writes >= settings.MOSAIC_STREAM_SAVE_MAX_WRITES
            or (self.partial_task is not None and not self.partial_task.done())
            or self.decision is None
        ):
            return
        self.partial_at = now
        self.partial_writes += 1
        drafts = persistence.partial_drafts(step, self.decision)
        self.partial_task = asyncio.create_task(self._save_partial(drafts))

    async def _save_partial(self, drafts: list[MessageDraft]) -> None:
        try:
            await persistence.save_drafts(
                user=self.chat.user,
                conversation_id=self.chat.conversation_id,
                drafts=drafts,
                update=True,
                retry_for=0.0,
            )
        except Exception:  # the final write will try again; the live buffer has the text
            logger.warning("saving the reply so far of turn %s failed", self.turn_id, exc_info=True)
        else:
            self.partial_ids.update(d.id for d in drafts)

    async def step_finished(self, step: StepOutput, status: str) -> None:
        await self.relay.drain()
        if status == "cancelled":
            status = self.chat.cancelled_status
        assert self.decision is not None
        if self.partial_task is not None:
            await asyncio.shield(self.partial_task)  # a late partial write must not win
        self.partial_writes, self.partial_at = 0, time.monotonic()
        self.input_tokens += step.input_tokens
        self.output_tokens += step.output_tokens
        drafts, calls = persistence.step_drafts(step, self.decision, status)
        rows = await self._save(drafts + calls, update=bool(self.partial_ids))
        self.wrote(rows)
        if step.text or not step.tool_calls:
            self.last_message_id = step.text_id
        elif self.last_message_id is None and rows:
            self.last_message_id = rows[-1].id
        for draft, call in zip(calls, step.tool_calls, strict=True):
            await broadcast(
                self.chat, events.tool_called(draft.id, call.call_id, call.name, call.arguments)
            )

    async def tool_finished(self, outcome: ToolOutcome) -> None:
        await self.relay.drain()
        draft = persistence.tool_result_draft(outcome)
        self.log.tool_called(outcome)
        self.wrote(await self._save([draft]))
        await broadcast(
            self.chat,
            events.tool_answered(
                draft.id,
                outcome.call.call_id,
                outcome.call.name,
                outcome.result,
                is_error=outcome.is_error,
            ),
        )

    async def _save(self, drafts: list[MessageDraft], *, update: bool = False) -> list[Any]:
        """Write rows of the turn; if the database cannot take them, keep them in Redis and end
        the turn (``ReplyNotSaved``)."""
        try:
            return await persistence.save_drafts(
                user=self.chat.user,
                conversation_id=self.chat.conversation_id,
                drafts=drafts,
                update=update,
            )
        except persistence.ReplyNotSaved:
            self.unsaved = await persistence.keep_unsaved(
                user=self.chat.user, conversation_id=self.chat.conversation_id, drafts=drafts
            )
            for draft in drafts:
                if draft.role == "assistant":
                    self.last_message_id = draft.id
            raise

    # --- the end of the turn ---------------------------------------------------------------------

    async def note(self, text: str) -> None:
        (row,) = await persistence.save_drafts(
            user=self.chat.user,
            conversation_id=self.chat.conversation_id,
            drafts=[persistence.note_draft(text)],
        )
        self.wrote([row])
        await self.emit(events.posted(row))

    async def finish(self, status: str) -> None:
        """End the turn once: message:done to every socket, metrics and the decision stored."""
        if self.finished:
            return
        self.finished = True
        await self.relay.close()
        self.mark("done")
        if timing_logger.isEnabledFor(logging.DEBUG):
            timing_logger.debug(
                "turn %s: %s",
                self.turn_id,
                " ".join(f"{name}={(at - self.started) * 1000:.1f}ms" for name, at in self.marks),
            )
        decision = self.decision
        if self.last_message_id is None:
            self.last_message_id = await self._store_empty_reply(status)
        done = events.turn_ended(
            message_id=self.last_message_id,
            status=status,
            provider=decision.provider if decision else self.chat.provider,
            model=decision.model if decision else self.chat.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            decision=decision,
            memories=self.memories,
        )
        self.log.ended(
            status,
            provider=done.provider,
            model=done.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_ms=done.latency_ms,
            message_id=done.message_id,
        )
        if decision is not None and not self.unsaved:
            try:
                await in_database_thread(
                    services.turn_record,
                    user=self.chat.user,
                    session_id=self.chat.session_id,
                    conversation_id=self.chat.conversation_id,
                    decision=decision,
                    message_id=self.last_message_id,
                    input_tokens=self.input_tokens,
                    output_tokens=self.output_tokens,
                    log=self.log.take(),
                )
            except Exception:  # accounting lost is not worth losing message:done for
                logger.exception("recording turn %s failed", self.turn_id)
        # After the bookkeeping: a client that sees message:done can read everything back.
        self.chat.turn_answered = True  # before message:done: its client may switch at once
        await broadcast(self.chat, done)
        await self.log.flush()  # a turn without accounting: its log alone, after message:done

    async def _store_empty_reply(self, status: str) -> uuid.UUID | None:
        """A turn that ends before the model said anything still names a stored message in
        ``message:done``: an empty assistant row with the turn's status and its error."""
        failure = self.failure
        error = {"code": failure.code, "message": failure.message} if failure else {}
        draft = persistence.failed_reply_draft(
            decision=self.decision,
            provider=self.chat.provider,
            model=self.chat.model,
            status=status,
            error=error,
        )
        try:
            await self._save([draft])
        except persistence.ReplyNotSaved:
            return draft.id if self.unsaved else None
        except Exception:
            logger.exception("storing the empty reply of turn %s failed", self.turn_id)
            return None
        return draft.id
