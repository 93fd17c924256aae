"""``jobs.services.agent_log_record``: how other apps record the PRD's agent events."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.errors import InvalidInput
from jobs.models import AgentLog
from jobs.services import agent_log_record

pytestmark = pytest.mark.django_db


def test_an_agent_event_is_recorded_with_its_ids_and_details(alice: Any) -> None:
    session_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    row = agent_log_record(
        user=alice,
        event="provider.failover",
        session_id=str(session_id),
        conversation_id=conversation_id,
        message="anthropic overloaded; answered by openai",
        data={"from": "anthropic", "to": "openai"},
    )
    stored = AgentLog.objects.get(pk=row.pk)
    assert (stored.user, stored.event, stored.level) == (alice, "provider.failover", "info")
    assert (stored.session_id, stored.conversation_id) == (session_id, conversation_id)
    assert stored.data == {"from": "anthropic", "to": "openai"}


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"event": "session.exploded"}, "event: unknown event 'session.exploded'"),
        ({"event": "session.started", "level": "fatal"}, "level: expected one of"),
        ({"event": "session.started", "session_id": "not-a-uuid"}, "session_id: 'not-a-uuid'"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_recorded(
    alice: Any, fields: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        agent_log_record(user=alice, **fields)
    assert not AgentLog.objects.exists()
