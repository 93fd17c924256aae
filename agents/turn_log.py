"""A chat turn's agent events for ``agent_logs``: kept in memory while the turn runs and written
in one INSERT with the turn's accounting just before ``message:done`` (``take``, then
``agents.services.turn_record``), or on their own (``flush``) by a turn that has no accounting
to write; the log never delays the reply, and a failure to write it never fails the turn (it is
logged and dropped).

Events (``jobs.models.AgentEvent``): ``turn.started``; ``routing.decided`` with the decision and
its classification; ``provider.failover`` from the failed model to the next; ``tool.called``
per tool result; ``turn.failed`` with the error the user was shown; ``turn.ended`` with the
status, model, tokens and latency. Each carries the turn's id in ``data["turn_id"]``.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from core.db import commit_without_flush, in_database_thread
from jobs.models import AgentEvent, LogLevel
from jobs.services import LogEntry, agent_logs_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from agents.runtime import ToolOutcome
    from routing.decision import RoutingDecision

logger = logging.getLogger("mosaic.gateway")


class TurnLog:
    def __init__(
        self,
        *,
        user: User,
        session_id: uuid.UUID | None,
        conversation_id: uuid.UUID | None,
        turn_id: str,
    ) -> None:
        self.user = user
        self.session_id = session_id
        self.conversation_id = conversation_id
        self.turn_id = turn_id
        self.entries: list[LogEntry] = []
        self.add(AgentEvent.TURN_STARTED)

    def add(
        self, event: AgentEvent, message: str = "", level: LogLevel = LogLevel.INFO, **data: Any
    ) -> None:
        self.entries.append(LogEntry(event, message, level, {"turn_id": self.turn_id, **data}))

    def routed(self, decision: RoutingDecision) -> None:
        self.add(
            AgentEvent.ROUTING_DECIDED,
            f"{decision.model_ref}: {decision.reason}",
            routing=decision.to_dict(),
        )

    def failed_over(self, failed: RoutingDecision, to: RoutingDecision) -> None:
        self.add(
            AgentEvent.PROVIDER_FAILOVER,
            f"{failed.model_ref} failed; trying {to.model_ref}",
            LogLevel.WARNING,
            failed={"provider": failed.provider, "model": failed.model},
            to={"provider": to.provider, "model": to.model},
            reason=to.reason,
        )

    def tool_called(self, outcome: ToolOutcome) -> None:
        self.add(
            AgentEvent.TOOL_CALLED,
            outcome.call.name,
            LogLevel.WARNING if outcome.is_error else LogLevel.INFO,
            tool=outcome.call.name,
            call_id=outcome.call.call_id,
            is_error=outcome.is_error,
        )

    def failed(self, code: str, message: str) -> None:
        self.add(AgentEvent.TURN_FAILED, message, LogLevel.ERROR, code=code)

    def ended(self, status: str, **data: Any) -> None:
        self.add(AgentEvent.TURN_ENDED, status, status=status, **data)

    def take(self) -> list[LogEntry]:
        """What was collected, for the caller to write with the turn's accounting
        (``agents.services.turn_record``); the log is then empty."""
        entries, self.entries = self.entries, []
        return entries

    async def flush(self) -> None:
        """Write what was collected, if anything (a turn without accounting to write it with);
        a failure is logged, never raised."""
        entries = self.take()
        if not entries:
            return
        try:
            await in_database_thread(
                _record,
                user=self.user,
                entries=entries,
                session_id=self.session_id,
                conversation_id=self.conversation_id,
            )
        except Exception:  # the log must never fail a turn
            logger.warning("could not write the agent log of turn %s", self.turn_id, exc_info=True)


def _record(**entries: Any) -> None:
    """The turn's log in one INSERT that does not wait for the disk (a log lost in a crash of
    PostgreSQL is harmless; core.db)."""
    with commit_without_flush():
        agent_logs_record(**entries)
