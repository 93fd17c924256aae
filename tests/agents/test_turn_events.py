"""A real chat turn records its agent events in ``agent_logs``: start, routing decision, tool
calls, failover, failure and end (agents/turn_log.py), written with the turn's accounting."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from agents import services as agent_services
from agents import turn_log
from agents.models import Session
from jobs.models import AgentLog
from mosaic.fakes.base import Fault, Script, ToolUse
from routing.models import RoutingDecisionRecord
from tests.agents.chat import ChatClient, text_of
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"
COMPLEX_CODING = (
    "Refactor this Django view into a service layer with proper transaction handling, "
    "add retries for the payment API, and write pytest tests for the failure paths:\n"
    "```python\ndef checkout(request):\n    order = Order.objects.get(pk=request.POST['id'])\n"
    "    charge(order)\n    return redirect('done')\n```"
)


def logged(conversation_id: str) -> list[AgentLog]:
    """The turn events of a conversation (each carries its turn's id), oldest first."""
    rows = AgentLog.objects.filter(conversation_id=conversation_id).order_by("created_at")
    return [row for row in rows if "turn_id" in row.data]


async def events_of(conversation_id: str, last: str = "turn.ended") -> list[AgentLog]:
    """The conversation's log rows, once the turn's batch (which ends with ``last``) is in."""
    for _ in range(100):
        rows = await sync_to_async(logged)(conversation_id)
        if any(row.event == last for row in rows):
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {last} row for {conversation_id}")


async def test_a_turn_logs_its_start_routing_tool_calls_and_end(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("calculator", {"expression": "6*7"})]),
        Script(text="The answer is 42.", input_tokens=30, output_tokens=6),
    )
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=SONNET, agent="research-bot")
    frames = await client.say("What is 6*7? Use the calculator.")
    assert frames[-1]["status"] == "complete"

    rows = await events_of(info["conversation_id"])
    assert [r.event for r in rows] == [
        "turn.started",
        "routing.decided",
        "tool.called",
        "turn.ended",
    ]
    assert {r.user_id for r in rows} == {alice.pk}
    assert {str(r.session_id) for r in rows} == {info["session_id"]}
    assert len({r.data["turn_id"] for r in rows}) == 1
    routed, tool, ended = rows[1], rows[2], rows[3]
    assert routed.data["routing"]["model"] == "claude-sonnet-4-6"
    assert "classification" in routed.data["routing"]
    assert (tool.data["tool"], tool.data["is_error"], tool.level) == ("calculator", False, "info")
    assert ended.data["status"] == "complete"
    assert ended.data["model"] == "claude-sonnet-4-6"
    assert ended.data["output_tokens"] >= 6
    assert ended.data["message_id"] == frames[-1]["message_id"]
    # Stamped when each happened, not when the batch was written.
    assert rows[0].created_at < rows[-1].created_at
    await client.close()


async def test_a_failover_is_logged_with_both_models(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake_anthropic.script(
        Script(fault=Fault("status", status=529, body=overloaded)), Script(text="Sonnet here.")
    )
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open()
    frames = await client.say(COMPLEX_CODING)
    assert text_of(frames) == "Sonnet here."

    rows = await events_of(info["conversation_id"])
    assert [r.event for r in rows] == [
        "turn.started",
        "routing.decided",
        "provider.failover",
        "turn.ended",
    ]
    failover = rows[2]
    assert failover.level == "warning"
    assert failover.data["failed"] == {"provider": "anthropic", "model": "claude-opus-4-6"}
    assert failover.data["to"] == {"provider": "anthropic", "model": "claude-sonnet-4-6"}
    assert rows[3].data["model"] == "claude-sonnet-4-6"
    await client.close()


async def test_a_failed_turn_logs_the_error_the_user_saw(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any
) -> None:
    fake_anthropic.default_script = Script(fault=Fault("status", status=401))
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=SONNET)
    frames = await client.say("hello?")
    assert frames[-1]["status"] == "failed"

    rows = await events_of(info["conversation_id"])
    failed = [r for r in rows if r.event == "turn.failed"]
    assert len(failed) == 1
    assert (failed[0].level, failed[0].data["code"]) == ("error", "provider_auth")
    assert failed[0].message == next(f for f in frames if f["type"] == "error")["message"]
    assert rows[-1].event == "turn.ended"
    assert rows[-1].data["status"] == "failed"
    await client.close()


async def test_a_log_that_cannot_be_written_never_fails_the_turn(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(**_: Any) -> None:
        raise OperationalError("the database went away")

    # Written with the accounting (agents.services: in its one round trip, then in a savepoint
    # when that fails), or alone (agents.turn_log) by a turn that has no accounting to write.
    monkeypatch.setattr(agent_services, "agent_logs_statement", database_down)
    monkeypatch.setattr(agent_services, "agent_logs_record", database_down)
    monkeypatch.setattr(turn_log, "agent_logs_record", database_down)
    fake_anthropic.default_script = Script(text="Still here.")
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    info, _ = await client.open(model=SONNET)
    first = await client.say("one")
    second = await client.say("two")
    assert [first[-1]["status"], second[-1]["status"]] == ["complete", "complete"]
    assert text_of(second) == "Still here."
    assert await sync_to_async(logged)(info["conversation_id"]) == []
    # The accounting written in the same transaction is kept (the log had a savepoint).
    session = await Session.objects.aget(pk=info["session_id"])
    assert session.turns == 2
    assert await RoutingDecisionRecord.objects.filter(user=alice).acount() == 2
    await client.close()
