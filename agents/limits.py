"""Per-user limits on chat turns: turns per minute, turns at the same time, tokens per day.

A message is admitted, or refused with ``RateLimited`` (a ``rate_limited`` error frame whose
message and ``retry_after`` say when to try again) *before* it is stored: a refused message
costs one Redis round trip and leaves nothing behind, so a flood of frames on one socket (or
the queue of frames of a socket that has since closed) turns into a few turns and many quick
refusals instead of one upstream call each.

The limits are ``accounts.selectors.turn_limits_for`` (staff set them per user or for everyone
in the admin; the settings are the defaults). The counts live in Redis, so every server process
sees the same numbers; every key carries the user's id:

- ``mosaic:u{user}:turns:{minute}``: turns admitted in this clock minute (a fixed window);
- ``mosaic:u{user}:running``: a sorted set of the user's running turns, each scored with the
  time its claim lapses; a running turn renews its claim, and a claim of a process that died
  lapses within ``RUNNING_TTL`` seconds;
- ``mosaic:u{user}:tokens:{day}``: tokens the user's turns used today (UTC), added when a turn
  ends; a turn starts only while the day's total is under the limit (the turn that crosses it
  finishes).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

from accounts.selectors import TurnLimits, turn_limits_for
from agents.live import redis_client
from core.db import in_database_thread
from core.errors import RateLimited

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.limits")

RUNNING_TTL = 60
# How long to suggest waiting when all of a user's turn slots are taken: no one knows when a
# reply will end, so a short wait, then ask again.
CONCURRENT_RETRY_SECONDS = 2.0
DAY_SECONDS = 86_400

# One round trip: drop lapsed claims, then check the day's tokens, the running turns and the
# minute's count, in that order; claim a running slot only if all pass.
_ADMIT = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
local tokens_limit = tonumber(ARGV[6])
if tokens_limit > 0 and tonumber(redis.call('get', KEYS[3]) or '0') >= tokens_limit then
  return 'tokens'
end
local concurrent = tonumber(ARGV[4])
if concurrent > 0 and redis.call('zcard', KEYS[1]) >= concurrent then
  return 'concurrent'
end
local per_minute = tonumber(ARGV[5])
if per_minute > 0 then
  local count = redis.call('incr', KEYS[2])
  if count == 1 then redis.call('expire', KEYS[2], 61) end
  if count > per_minute then return 'minute' end
end
redis.call('zadd', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3])
redis.call('expire', KEYS[1], ARGV[2])
return 'ok'
"""


def _keys(user_id: int, now: float) -> tuple[str, str, str]:
    minute = int(now // 60)
    day = time.strftime("%Y%m%d", time.gmtime(now))
    return (
        f"mosaic:u{user_id}:running",
        f"mosaic:u{user_id}:turns:{minute}",
        f"mosaic:u{user_id}:tokens:{day}",
    )


def _refusal(verdict: str, limits: TurnLimits, now: float) -> RateLimited:
    if verdict == "minute":
        wait = max(1.0, 60 - now % 60)
        return RateLimited(
            f"You can send {limits.turns_per_minute} messages a minute; "
            f"try again in {wait:.0f} s. This message was not saved.",
            retry_after=wait,
        )
    if verdict == "concurrent":
        return RateLimited(
            f"{limits.concurrent_turns} of your replies are already being generated; send this "
            "message again once one of them is done. This message was not saved.",
            retry_after=CONCURRENT_RETRY_SECONDS,
        )
    wait = max(1.0, DAY_SECONDS - now % DAY_SECONDS)
    return RateLimited(
        f"You have used your {limits.tokens_per_day} tokens for today; the count starts again "
        f"at midnight UTC, in {wait / 3600:.1f} h. This message was not saved.",
        retry_after=wait,
    )


class TurnSlot:
    """An admitted turn's claim on one of the user's running slots."""

    def __init__(self, user: User, member: str) -> None:
        self.user = user
        self.member = member

    @property
    def _running_key(self) -> str:
        return f"mosaic:u{self.user.pk}:running"

    async def release(self) -> None:
        await redis_client().zrem(self._running_key, self.member)

    async def hold_while(self, turn: asyncio.Task[int]) -> None:
        """Keep the claim while ``turn`` runs; then count the tokens it returns and let the slot
        go."""
        used = 0
        try:
            while not turn.done():
                await asyncio.wait({turn}, timeout=RUNNING_TTL / 3)
                if not turn.done():
                    await redis_client().zadd(
                        self._running_key, {self.member: time.time() + RUNNING_TTL}, xx=True
                    )
            if not turn.cancelled() and turn.exception() is None:
                used = turn.result()
        except Exception:  # bookkeeping must never break a conversation; the claim lapses
            logger.exception("could not hold the turn slot of user %s", self.user.pk)
        finally:
            await asyncio.shield(self._finish(used))

    async def _finish(self, used: int) -> None:
        """Count the tokens the turn used and let the slot go, in one round trip."""
        pipe = redis_client().pipeline(transaction=False)
        if used:
            key = _keys(self.user.pk, time.time())[2]
            pipe.incrby(key, used)
            pipe.expire(key, DAY_SECONDS + 3600)
        pipe.zrem(self._running_key, self.member)
        try:
            await pipe.execute()
        except Exception:  # Redis is down: the claim lapses by itself (RUNNING_TTL)
            logger.exception("could not finish the turn slot of user %s", self.user.pk)


async def admit_turn(user: User, limits: TurnLimits | None = None) -> TurnSlot:
    """Admit one more turn for ``user`` or raise ``RateLimited`` saying when to try again;
    ``limits`` if the caller has just read them (``accounts.selectors.socket_turn_access``)."""
    if limits is None:
        limits = await in_database_thread(turn_limits_for, user=user)
    member = uuid.uuid4().hex
    now = time.time()
    verdict = await redis_client().eval(  # type: ignore[no-untyped-call]
        _ADMIT,
        3,
        *_keys(user.pk, now),
        now,
        RUNNING_TTL,
        member,
        limits.concurrent_turns,
        limits.turns_per_minute,
        limits.tokens_per_day,
    )
    if verdict != "ok":
        raise _refusal(str(verdict), limits, now)
    return TurnSlot(user, member)
