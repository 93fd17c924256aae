"""Shared state of running turns, in Redis, so that every daphne process sees the same thing.

Per conversation (keys always carry the owner's id, M2-008):
- ``mosaic:u{user}:c{conv}:turn``: held while a turn runs (one turn at a time per conversation);
- ``mosaic:u{user}:c{conv}:live``: the text and thinking deltas of the running turn, in order,
  so that a socket joining mid-stream can be given what was said so far, then the rest,
  without gaps or repeats (each delta carries its index in this list);
- fan-out to sockets goes through the Channels layer group ``conv.{user}.{conv}``.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings

from agents import channel as ch

# A running turn renews its lock every TURN_TTL / 3 seconds; if its process dies, the lock
# lapses within TURN_TTL and the conversation takes new turns again.
TURN_TTL = 30
LIVE_TTL = 15 * 60

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
    "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then "
    "redis.call('del', KEYS[2]) return 1 end return 0"
)


async def turn_acquire(user_id: int, conversation_id: Any, turn_id: str) -> bool:
    """Take the conversation's turn slot and start an empty live buffer (one round trip)."""
    keys = (_key(user_id, conversation_id, "turn"), _key(user_id, conversation_id, "live"))
    acquired = await redis_client().eval(_ACQUIRE, 2, *keys, turn_id, TURN_TTL)  # type: ignore[no-untyped-call]
    return bool(acquired)


async def turn_release(user_id: int, conversation_id: Any, turn_id: str) -> None:
    client = redis_client()
    key = _key(user_id, conversation_id, "turn")
    # Release only our own lock (compare-and-delete), then drop the buffer.
    script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1], KEYS[2]) end return 0"
    await client.eval(script, 2, key, _key(user_id, conversation_id, "live"), turn_id)  # type: ignore[no-untyped-call]


async def turn_heartbeat(user_id: int, conversation_id: Any, turn_id: str) -> None:
    """Keep the lock of a running turn alive (cancelled when the turn ends)."""
    script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
    key = _key(user_id, conversation_id, "turn")
    while True:
        await asyncio.sleep(TURN_TTL / 3)
        await redis_client().eval(script, 1, key, turn_id, TURN_TTL)  # type: ignore[no-untyped-call]


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
