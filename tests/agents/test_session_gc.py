"""The session GC job (agents.end_abandoned_sessions): sessions that a process which died left
open are ended at their last activity, with their metrics; sessions of live sockets are not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from agents.models import Session
from agents.services import sessions_end_abandoned
from agents.tasks import end_abandoned_sessions
from conversations.models import Conversation
from jobs.models import AgentLog
from tests.agents.chat import ChatClient
from tests.conftest import token_for

GRACE = dt.timedelta(minutes=5)


def open_session(user: Any, *, idle: dt.timedelta, **metrics: Any) -> Session:
    """A session whose conversation last saw a message ``idle`` ago, and no socket holds it."""
    conversation = Conversation.objects.create(owner=user)
    session = Session.objects.create(user=user, conversation=conversation, **metrics)
    then = timezone.now() - idle
    Session.objects.filter(pk=session.pk).update(started_at=then - dt.timedelta(minutes=30))
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=then)
    session.refresh_from_db()
    return session


@pytest.mark.django_db
def test_an_abandoned_session_ends_at_its_last_activity_with_its_metrics(alice: Any) -> None:
    abandoned = open_session(
        alice, idle=dt.timedelta(hours=2), turns=4, input_tokens=900, cost_usd=Decimal("0.012")
    )
    recent = open_session(alice, idle=dt.timedelta(minutes=1))

    assert end_abandoned_sessions.apply().get() == {"ended": 1}

    abandoned.refresh_from_db()
    recent.refresh_from_db()
    assert abandoned.conversation_id is not None
    last_activity = Conversation.objects.get(pk=abandoned.conversation_id).updated_at
    assert abandoned.ended_at == last_activity
    assert abandoned.duration_seconds == pytest.approx(30 * 60, abs=1)
    assert recent.ended_at is None
    log = AgentLog.objects.get(event="session.ended")
    assert (log.user, log.session_id, log.conversation_id) == (
        alice,
        abandoned.pk,
        abandoned.conversation_id,
    )
    assert log.data["reason"] == "abandoned"
    assert (log.data["turns"], log.data["input_tokens"], log.data["cost_usd"]) == (
        4,
        900,
        "0.012000",
    )
    # Idempotent: nothing is ended twice.
    assert sessions_end_abandoned(grace=GRACE) == []
    assert AgentLog.objects.filter(event="session.ended").count() == 1


@pytest.mark.django_db
def test_abandoned_sessions_are_ended_batch_after_batch(
    alice: Any, bob: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import services

    monkeypatch.setattr(services, "GC_BATCH", 2)
    sessions = [open_session(user, idle=dt.timedelta(hours=1)) for user in (alice, bob, alice)]
    ended = sessions_end_abandoned(grace=GRACE)
    assert sorted(s.pk for s in ended) == sorted(s.pk for s in sessions)
    assert not Session.objects.filter(ended_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_session_already_ended_is_left_alone(alice: Any) -> None:
    session = open_session(alice, idle=dt.timedelta(hours=3))
    ended = timezone.now() - dt.timedelta(hours=2, minutes=59)
    Session.objects.filter(pk=session.pk).update(ended_at=ended)
    assert sessions_end_abandoned(grace=GRACE) == []
    session.refresh_from_db()
    assert session.ended_at == ended


@pytest.mark.e2e
@pytest.mark.timeout(600)  # daphne starts slowly on a busy machine
@pytest.mark.django_db(transaction=True)
async def test_a_live_socket_keeps_its_session_until_its_server_is_killed(
    alice: Any, upstreams: dict[str, str], live_server_factory: Any
) -> None:
    token = await sync_to_async(token_for)(alice)
    server = await sync_to_async(live_server_factory)(upstreams)
    client = await ChatClient.connect_url(server.ws_url, token)
    info, _ = await client.open()
    # Even with no grace at all, a session whose socket is open is not abandoned.
    assert await sync_to_async(sessions_end_abandoned)(grace=dt.timedelta(0)) == []

    await sync_to_async(server.kill)()  # kill -9: the socket's close is never handled
    session = await Session.objects.aget(pk=info["session_id"])
    assert session.ended_at is None

    ended = await sync_to_async(sessions_end_abandoned)(grace=dt.timedelta(0))
    assert [s.pk for s in ended] == [session.pk]
    await session.arefresh_from_db()
    assert session.ended_at is not None
