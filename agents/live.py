"""Shared state of running turns, in Redis, so that every daphne process sees the same thing.

Per conversation (keys always carry the owner's id, M2-008):
- ``mosaic:u{user}:c{conv}:turn``: held while a turn runs (one turn at a time per conversation);
- ``mosaic:u{user}:c{conv}:live``: the text and thinking deltas of the running turn, in order,
  so that a socket joining mid-stream can be given what was said so far, then the rest,
  without gaps or repeats (each delta carries its index in this list);
- ``mosaic:u{user}:c{conv}:unsaved``: rows of a finished reply the database could not take
  (it was down), kept until they are written (``agents.persistence.recover_unsaved``);
- fan-out to sockets goes through the Channels layer group ``conv.{user}.{conv}``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from agents import channel as ch

logger = logging.getLogger("mosaic.gateway")

# A running turn renews its lock every third of MOSAIC_TURN_LOCK_SECONDS; if its process dies
# (kill -9), the lock lapses within that time and the conversation takes new turns again.
LIVE_TTL = 15 * 60
# A reply the database could not take is kept this long for ``recover_unsaved``.
UNSAVED_TTL = 7 * 24 * 3600

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis[str]] = (
    weakref.WeakKeyDictionary()
)


def redis_client() -> aioredis.Redis[str]:
    """One client per event loop (a pool bound to another loop cannot be used)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _clients[loop] = client
    return client


def group_name(user_id: int, conversation_id: Any) -> str:
    return f"conv.{user_id}.{conversation_id}"


def _key(user_id: int, conversation_id: Any, suffix: str) -> str:
    return f"mosaic:u{user_id}:c{conversation_id}:{suffix}"


_ACQUIRE = (
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "redis.call('del', KEYS[2]) return 1 end return 0"
)


def _lock_ms() -> int:
    return max(1, int(settings.MOSAIC_TURN_LOCK_SECONDS * 1000))


async def turn_acquire(user_id: int, conversation_id: Any, turn_id: str) -> bool:
    """Take the conversation's turn slot and start an empty live buffer (one round trip)."""
    keys = (_key(user_id, conversation_id, "turn"), _key(user_id, conversation_id, "live"))
    acquired = await redis_client().eval(_ACQUIRE, 2, *keys, turn_id, _lock_ms())  # type: ignore[no-untyped-call]
    return bool(acquired)


async def turn_release(user_id: int, conversation_id: Any, turn_id: str) -> None:
    client = redis_client()
    key = _key(user_id, conversation_id, "turn")
    # Release only our own lock (compare-and-delete), then drop the buffer.
    script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1], KEYS[2]) end return 0"
    await client.eval(script, 2, key, _key(user_id, conversation_id, "live"), turn_id)  # type: ignore[no-untyped-call]


async def turn_heartbeat(user_id: int, conversation_id: Any, turn_id: str) -> None:
    """Keep the lock of a running turn alive (cancelled when the turn ends); a Redis outage
    does not end the turn, the next beat tries again."""
    script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
    key = _key(user_id, conversation_id, "turn")
    while True:
        await asyncio.sleep(settings.MOSAIC_TURN_LOCK_SECONDS / 3)
        try:
            await redis_client().eval(script, 1, key, turn_id, _lock_ms())  # type: ignore[no-untyped-call]
        except aioredis.RedisError:
            logger.warning("renewing the lock of turn %s failed", turn_id, exc_info=True)


async def turn_running(user_id: int, conversation_id: Any) -> bool:
    return bool(await redis_client().exists(_key(user_id, conversation_id, "turn")))


async def live_append(user_id: int, conversation_id: Any, event: ch.TextStreamed) -> int:
    """Record a delta of the running turn; returns its index (1-based)."""
    key = _key(user_id, conversation_id, "live")
    pipe = redis_client().pipeline(transaction=False)
    pipe.rpush(key, json.dumps(ch.to_wire(event), separators=(",", ":")))
    pipe.expire(key, LIVE_TTL)
    index, _ = await pipe.execute()
    return int(index)


async def live_snapshot(user_id: int, conversation_id: Any) -> tuple[str, list[ch.TextStreamed]]:
    """The running turn's id ("" if none) and its deltas so far, read together."""
    pipe = redis_client().pipeline(transaction=True)
    pipe.get(_key(user_id, conversation_id, "turn"))
    pipe.lrange(_key(user_id, conversation_id, "live"), 0, -1)
    turn, raw = await pipe.execute()
    if not turn:
        return "", []  # a buffer without a running turn is what a dead process left behind
    events = [ch.from_wire(json.loads(item)) for item in raw]
    return turn, [e for e in events if isinstance(e, ch.TextStreamed)]


async def unsaved_keep(user_id: int, conversation_id: Any, rows: list[dict[str, Any]]) -> None:
    """Keep rows the database could not take, for ``unsaved_take`` (oldest first)."""
    key = _key(user_id, conversation_id, "unsaved")
    pipe = redis_client().pipeline(transaction=True)
    pipe.rpush(key, *(json.dumps(row, separators=(",", ":")) for row in rows))
    pipe.expire(key, UNSAVED_TTL)
    await pipe.execute()


async def unsaved_peek(user_id: int, conversation_id: Any) -> list[dict[str, Any]]:
    """The kept rows (without removing them: they go once they are written)."""
    raw = await redis_client().lrange(_key(user_id, conversation_id, "unsaved"), 0, -1)
    return [json.loads(item) for item in raw]


async def unsaved_drop(user_id: int, conversation_id: Any, count: int) -> None:
    """Forget the first ``count`` kept rows (they are written now)."""
    await redis_client().ltrim(_key(user_id, conversation_id, "unsaved"), count, -1)
