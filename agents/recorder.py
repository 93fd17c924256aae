"""The runtime's sink for one turn: relays each event to the conversation's clients as it comes,
writes each message once when it is complete, and ends the turn once (``TurnEnded``).

Order on every client is the order of events: text goes out through the ``DeltaRelay``, and
every other event waits for the text queued before it (``emit``).
"""

from __future__ import annotations

import logging
import time
import uuid

from channels.db import database_sync_to_async

from agents import channel as ch
from agents import events, persistence, services
from agents.fanout import DeltaRelay, broadcast
from agents.runtime import StepOutput, ToolOutcome
from agents.session import ChatSession
from routing.decision import RoutingDecision

timing_logger = logging.getLogger("mosaic.gateway.timing")


class TurnRecorder:
    def __init__(self, chat: ChatSession, turn_id: str, started: float) -> None:
        self.chat = chat
        self.turn_id = turn_id
        self.started = started
        self.relay = DeltaRelay(chat, turn_id)
        self.decision: RoutingDecision | None = None
        self.last_message_id: uuid.UUID | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.finished = False
        self.streaming = False
        self.marks: list[tuple[str, float]] = []

    def mark(self, name: str, at: float | None = None) -> None:
        """Record when a step of the turn finished (logged at DEBUG, for finding slow steps)."""
        self.marks.append((name, time.monotonic() if at is None else at))

    async def emit(self, event: ch.Outbound) -> None:
        """Broadcast an event after all the text queued before it."""
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

    async def step_finished(self, step: StepOutput, status: str) -> None:
        await self.relay.drain()
        assert self.decision is not None
        self.input_tokens += step.input_tokens
        self.output_tokens += step.output_tokens
        drafts, calls = persistence.step_drafts(step, self.decision, status)
        rows = await persistence.save_drafts(
            user=self.chat.user, conversation_id=self.chat.conversation_id, drafts=drafts + calls
        )
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
        await persistence.save_drafts(
            user=self.chat.user, conversation_id=self.chat.conversation_id, drafts=[draft]
        )
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

    # --- the end of the turn ---------------------------------------------------------------------

    async def note(self, text: str) -> None:
        (row,) = await persistence.save_drafts(
            user=self.chat.user,
            conversation_id=self.chat.conversation_id,
            drafts=[persistence.note_draft(text)],
        )
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
        done = events.turn_ended(
            message_id=self.last_message_id,
            status=status,
            provider=decision.provider if decision else self.chat.provider,
            model=decision.model if decision else self.chat.model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            latency_ms=int((time.monotonic() - self.started) * 1000),
            decision=decision,
        )
        if decision is not None:
            await database_sync_to_async(services.turn_record)(
                user=self.chat.user,
                session_id=self.chat.session_id,
                decision=decision,
                message_id=self.last_message_id,
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
            )
        # After the bookkeeping: a client that sees message:done can read everything back.
        await broadcast(self.chat, done)
