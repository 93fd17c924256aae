"""Per-user limits on chat turns (agents/limits.py): a flood of messages on one socket becomes a
few turns and quick ``rate_limited`` refusals that say when to retry; staff set limits per user
and for everyone; concurrent turns and the daily token budget are limits too."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.models import ApiToken, UsageLimit
from accounts.selectors import TurnLimits, socket_turn_access, turn_limits_for
from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


async def away_from_a_minute_boundary() -> None:
    """The per-minute count is a clock-minute window: start a burst well inside one."""
    if time.time() % 60 > 45:
        await asyncio.sleep(61 - time.time() % 60)


async def burst(chat: ChatClient, count: int) -> list[str]:
    client_ids = [f"burst-{n}-{uuid.uuid4().hex[:6]}" for n in range(count)]
    for client_id in client_ids:
        await chat.send({"type": "message:send", "content": "hello", "client_id": client_id})
    return client_ids


async def frames_until_quiet(chat: ChatClient, quiet: float = 1.5) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while not await chat.nothing(quiet):
        frames.append(await chat.recv())
    return frames


def stored_user_messages(client_ids: list[str]) -> int:
    return Message.objects.filter(client_id__in=client_ids, role="user").count()


async def test_a_flood_on_one_socket_runs_only_the_allowed_turns(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, settings: Any
) -> None:
    settings.MOSAIC_TURNS_PER_MINUTE = 3
    settings.MOSAIC_CONCURRENT_TURNS = 0  # this test is about the per-minute count alone
    chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    try:
        await chat.open(model=SONNET)
        await away_from_a_minute_boundary()
        client_ids = await burst(chat, 12)
        frames = await frames_until_quiet(chat)
    finally:
        await chat.close()

    refusals = [f for f in of_type(frames, "error") if f["code"] == "rate_limited"]
    assert len(refusals) == 9
    assert all(f["retryable"] and 1 <= f["retry_after"] <= 60 for f in refusals)
    assert "3 messages a minute" in refusals[0]["message"]
    assert len(of_type(frames, "message:done")) == 3
    assert len(fake_anthropic.chat_requests()) == 3
    assert await sync_to_async(stored_user_messages)(client_ids) == 3


async def test_staff_limits_per_user_override_the_default_row_and_the_setting(
    alice: Any, bob: Any, settings: Any
) -> None:
    settings.MOSAIC_TURNS_PER_MINUTE = 20
    settings.MOSAIC_CONCURRENT_TURNS = 3
    settings.MOSAIC_TOKENS_PER_DAY = 0

    def arrange() -> tuple[Any, Any]:
        UsageLimit.objects.create(user=None, turns_per_minute=5, tokens_per_day=1000)
        UsageLimit.objects.create(user=alice, turns_per_minute=1)
        return turn_limits_for(user=alice), turn_limits_for(user=bob)

    alices, bobs = await sync_to_async(arrange)()
    assert (alices.turns_per_minute, alices.concurrent_turns, alices.tokens_per_day) == (1, 3, 1000)
    assert (bobs.turns_per_minute, bobs.concurrent_turns, bobs.tokens_per_day) == (5, 3, 1000)


def test_a_sockets_check_reads_the_same_limits_and_none_once_its_access_ends(
    alice: Any, bob: Any, settings: Any
) -> None:
    """Each message's access check and limits are one query (``socket_turn_access``)."""
    settings.MOSAIC_TURNS_PER_MINUTE = 20
    settings.MOSAIC_CONCURRENT_TURNS = 3
    settings.MOSAIC_TOKENS_PER_DAY = 0
    token_for(alice)
    token = ApiToken.objects.filter(user=alice).latest("id")
    assert socket_turn_access(user_id=bob.pk, token_id=None) == TurnLimits(20, 3, 0)  # no rows

    UsageLimit.objects.create(user=None, turns_per_minute=5, tokens_per_day=1000)
    UsageLimit.objects.create(user=alice, turns_per_minute=1)
    assert socket_turn_access(user_id=alice.pk, token_id=token.pk) == turn_limits_for(user=alice)
    assert turn_limits_for(user=alice) == TurnLimits(1, 3, 1000)
    assert socket_turn_access(user_id=bob.pk, token_id=None) == TurnLimits(5, 3, 1000)

    assert socket_turn_access(user_id=bob.pk, token_id=token.pk) is None  # another's token
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    assert socket_turn_access(user_id=alice.pk, token_id=token.pk) is None
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    assert socket_turn_access(user_id=bob.pk, token_id=None) is None


async def test_one_users_limit_does_not_touch_another_user(
    alice: Any, bob: Any, upstreams: dict[str, str], fake_anthropic: Any, settings: Any
) -> None:
    await sync_to_async(UsageLimit.objects.create)(user=alice, turns_per_minute=1)
    alice_chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    bob_chat = await ChatClient.connect(await sync_to_async(token_for)(bob))
    try:
        await alice_chat.open(model=SONNET)
        await bob_chat.open(model=SONNET)
        await away_from_a_minute_boundary()
        assert of_type(await alice_chat.say("one"), "message:done")
        await alice_chat.send({"type": "message:send", "content": "two", "client_id": "a-2"})
        refused = await alice_chat.recv()
        assert refused["code"] == "rate_limited"
        for n in range(3):
            assert of_type(await bob_chat.say(f"bob {n}"), "message:done")
    finally:
        await alice_chat.close()
        await bob_chat.close()


async def test_concurrent_turns_are_limited_across_conversations(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, settings: Any
) -> None:
    settings.MOSAIC_CONCURRENT_TURNS = 1
    fake_anthropic.script(Script(text="a slow reply " * 10, chunk_size=4, delay=0.05))
    token = await sync_to_async(token_for)(alice)
    first, second = await ChatClient.connect(token), await ChatClient.connect(token)
    try:
        await first.open(model=SONNET)
        await second.open(model=SONNET)
        await first.send({"type": "message:send", "content": "long", "client_id": "slow-1"})
        assert (await first.recv())["type"] == "message:ack"
        await second.send({"type": "message:send", "content": "meanwhile", "client_id": "s-2"})
        refused = await second.recv()
        assert refused["code"] == "rate_limited", refused
        assert refused["retry_after"] >= 1
        assert of_type(await first.until("message:done"), "message:done")
        await asyncio.sleep(0.3)  # the slot is let go just after message:done
        assert of_type(await second.say("now"), "message:done")
    finally:
        await first.close()
        await second.close()


async def test_the_daily_token_budget_stops_new_turns_once_spent(
    alice: Any, upstreams: dict[str, str], fake_anthropic: Any, settings: Any
) -> None:
    settings.MOSAIC_TOKENS_PER_DAY = 25
    fake_anthropic.script(
        Script(input_tokens=20, output_tokens=10), Script(input_tokens=1, output_tokens=1)
    )
    chat = await ChatClient.connect(await sync_to_async(token_for)(alice))
    try:
        await chat.open(model=SONNET)
        assert of_type(await chat.say("spend"), "message:done")
        await asyncio.sleep(0.3)  # the turn's tokens are counted as its slot is let go
        await chat.send({"type": "message:send", "content": "more", "client_id": "over"})
        refused = await chat.recv()
    finally:
        await chat.close()
    assert refused["code"] == "rate_limited"
    assert "tokens for today" in refused["message"]
    assert len(fake_anthropic.chat_requests()) == 1
