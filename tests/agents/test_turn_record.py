"""A turn's accounting (agents.services.turn_record): the session's usage, the routing decision
and the turn's log, in one round trip; a log the database refuses costs the log, not the rest."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from agents import services
from agents.models import Session
from conversations.models import Conversation, Message
from jobs.models import AgentLog
from jobs.services import LogEntry
from routing.models import RoutingDecisionRecord
from tests.agents.helpers import pinned_decision

# Outside a test transaction: the one round trip runs only outside a caller's transaction.
pytestmark = pytest.mark.django_db(transaction=True)

DECISION = pinned_decision(override=True)


@pytest.fixture
def turn(alice: Any) -> dict[str, Any]:
    conversation = Conversation.objects.create(owner=alice, title="t")
    reply = Message.objects.create(conversation=conversation, sequence=2, role="assistant")
    session = services.session_start(
        user=alice, conversation_id=conversation.pk, agent_slug="general"
    )
    return {
        "user": alice,
        "session_id": session.pk,
        "conversation_id": conversation.pk,
        "message_id": reply.pk,
        "decision": DECISION,
        "input_tokens": 120,
        "output_tokens": 30,
    }


def test_the_accounting_is_written_in_one_round_trip(turn: dict[str, Any]) -> None:
    log = [LogEntry("turn.started", "hello"), LogEntry("turn.ended", data={"status": "complete"})]
    with CaptureQueriesContext(connection) as queries:
        services.turn_record(**turn, log=log)
    assert len(queries) == 1
    assert "synchronous_commit = off" in queries[0]["sql"]

    session = Session.objects.get(pk=turn["session_id"])
    assert (session.turns, session.input_tokens, session.output_tokens) == (1, 120, 30)
    assert (session.last_provider, session.last_model) == ("anthropic", "claude-sonnet-4-6")
    assert session.cost_usd > 0
    record = RoutingDecisionRecord.objects.get(message_id=turn["message_id"])
    assert (record.provider, record.model, record.override) == (
        "anthropic",
        "claude-sonnet-4-6",
        True,
    )
    rows = AgentLog.objects.filter(conversation_id=turn["conversation_id"]).order_by("id")
    assert [(r.event, r.message, r.session_id) for r in rows] == [
        ("turn.started", "hello", turn["session_id"]),
        ("turn.ended", "", turn["session_id"]),
    ]
    assert rows[1].data == {"status": "complete"}


def test_a_log_the_database_refuses_is_dropped_and_the_rest_kept(
    turn: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # PostgreSQL's jsonb takes no NUL character: the whole round trip is rolled back, then the
    # accounting is written in steps with the log in a savepoint, which alone fails.
    log = [LogEntry("turn.failed", "upstream said", data={"detail": "bad\u0000byte"})]
    services.turn_record(**turn, log=log)

    assert Session.objects.get(pk=turn["session_id"]).turns == 1  # once, not twice
    assert RoutingDecisionRecord.objects.filter(message_id=turn["message_id"]).count() == 1
    assert not AgentLog.objects.filter(conversation_id=turn["conversation_id"]).exists()
    messages = [r.getMessage() for r in caplog.records]
    assert "writing a turn's accounting at once failed; in steps" in messages
    assert "could not write the agent log of a turn" in messages


def test_in_a_callers_transaction_the_accounting_joins_it(turn: dict[str, Any]) -> None:
    with transaction.atomic():
        services.turn_record(**turn, log=[LogEntry("turn.started")])
        assert Session.objects.get(pk=turn["session_id"]).turns == 1
        transaction.set_rollback(True)
    assert Session.objects.get(pk=turn["session_id"]).turns == 0
    assert not RoutingDecisionRecord.objects.filter(message_id=turn["message_id"]).exists()
