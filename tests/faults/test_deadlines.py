"""Upstreams that never answer, trickle keep-alives, stall mid-reply or run too long, against a
real daphne with short deadlines (issue 15, items 5 and 12)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from mosaic.fakes.base import Fault, Script
from tests.agents.chat import of_type, text_of

# Each test starts real servers, which took minutes on a busy 2-core machine.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

SONNET = "anthropic:claude-sonnet-4-6"
COMPLEX_CODING = (
    "Refactor this Django view into a service layer with proper transaction handling, "
    "add retries for the payment API, and write pytest tests for the failure paths:\n"
    "```python\ndef checkout(request):\n    order = Order.objects.get(pk=request.POST['id'])\n"
    "    charge(order)\n    order.paid = True\n    order.save()\n    return redirect('/done')\n```"
)
# Keep-alives for a minute: far past every deadline of these tests, and of the test timeout.
PINGS_FOR_A_MINUTE = Fault("trickle", after_chunks=1, seconds=60, interval=0.3)


def stored(message_id: str) -> Message:
    return Message.objects.get(pk=message_id)


async def test_a_silent_upstream_fails_over_once_the_first_token_deadline_passes(
    start_shared_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(fault=Fault("stall", seconds=60)), Script(text="Sonnet here."))
    client = await connect(await start_shared_server())
    await client.open()
    frames = await client.say(COMPLEX_CODING)
    assert [r.json["model"] for r in fake_anthropic.chat_requests()] == [
        "claude-opus-4-6",
        "claude-sonnet-4-6",
    ]
    assert text_of(frames) == "Sonnet here."
    assert frames[-1]["status"] == "complete"
    assert frames[-1]["routing"]["failover"] is True
    assert not of_type(frames, "error")
    await client.close()


async def test_keep_alives_without_a_token_end_a_pinned_turn_and_free_the_conversation(
    start_shared_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(fault=PINGS_FOR_A_MINUTE), Script(text="Back again."))
    client = await connect(await start_shared_server())
    await client.open(model=SONNET)
    frames = await client.say("hello?")
    (error,) = of_type(frames, "error")
    assert error["code"] == "provider_timeout"
    assert "no reply began within 2 s" in error["message"]
    assert frames[-1]["type"] == "message:done"
    assert frames[-1]["status"] == "failed"
    # The conversation's lock went with the turn: the next message is answered at once.
    again = await client.say("and now?")
    assert text_of(again) == "Back again."
    assert again[-1]["status"] == "complete"
    await client.close()


async def test_a_reply_that_stalls_mid_stream_ends_failed_with_its_text_kept(
    start_shared_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    # message_start, content_block_start, ping, the first delta; then only keep-alives.
    stall_after_first_delta = Fault("trickle", after_chunks=4, seconds=60, interval=0.3)
    fake_anthropic.script(
        Script(text="First part. Second part.", chunk_size=12, fault=stall_after_first_delta)
    )
    client = await connect(await start_shared_server())
    await client.open(model=SONNET)
    frames = await client.say("tell me")
    assert text_of(frames) == "First part. "
    (error,) = of_type(frames, "error")
    assert error["code"] == "provider_timeout"
    assert "stalled for 2 s" in error["message"]
    done = frames[-1]
    assert done["status"] == "failed"
    row = await sync_to_async(stored)(done["message_id"])
    assert (row.role, row.status, row.content) == ("assistant", "failed", "First part. ")
    await client.close()


async def test_a_turn_that_runs_past_the_overall_deadline_ends_failed(
    start_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    # 40 chunks 0.25 s apart: each comes well within the idle deadline, the whole takes 10 s.
    fake_anthropic.script(Script(text="word " * 40, chunk_size=5, delay=0.25))
    client = await connect(await start_server(MOSAIC_TURN_TIMEOUT="3"))
    await client.open(model=SONNET)
    frames = await client.say("go on and on")
    (error,) = of_type(frames, "error")
    assert error["code"] == "provider_timeout"
    assert "time limit" in error["message"]
    done = frames[-1]
    assert done["status"] == "failed"
    row = await sync_to_async(stored)(done["message_id"])
    assert row.status == "failed"
    assert 0 < len(row.content) < len("word " * 40)
    assert row.content == text_of(frames)
    await client.close()


async def test_a_pinned_model_failure_names_a_stored_failed_message(
    start_shared_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(fault=Fault("status", status=503)))
    client = await connect(await start_shared_server())
    await client.open(model=SONNET)
    frames = await client.say("hello")
    (error,) = of_type(frames, "error")
    done = frames[-1]
    assert done["type"] == "message:done"
    assert done["status"] == "failed"
    assert done["message_id"], "message:done must name the turn's message"
    row = await sync_to_async(stored)(done["message_id"])
    assert (row.role, row.status, row.content) == ("assistant", "failed", "")
    assert row.metadata["error"] == {"code": error["code"], "message": error["message"]}
    assert (row.provider, row.model) == ("anthropic", "claude-sonnet-4-6")
    await client.close()


async def test_a_provider_that_keeps_failing_in_chat_is_skipped_by_routing(
    start_server: Any, connect: Any, fake_anthropic: Any
) -> None:
    unavailable = Fault("status", status=503)
    fake_anthropic.script(Script(fault=unavailable), Script(fault=unavailable))
    server = await start_server(MOSAIC_CHAT_FAILURES_DOWN="2", MOSAIC_ROUTING_REFRESH_SECONDS="0")
    client = await connect(server)
    await client.open(model=SONNET)
    for attempt in ("one", "two"):
        frames = await client.say(attempt)
        assert frames[-1]["status"] == "failed"
    asked = len(fake_anthropic.chat_requests())
    await client.command("/model auto")
    frames = await client.say(COMPLEX_CODING)
    assert frames[-1]["status"] == "complete"
    assert frames[-1]["provider"] != "anthropic"
    skipped = frames[-1]["routing"]["skipped"]
    assert any(s["provider"] == "anthropic" and "down" in s["reason"] for s in skipped)
    assert len(fake_anthropic.chat_requests()) == asked
    await client.close()
