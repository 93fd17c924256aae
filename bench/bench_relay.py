"""Added latency of Mosaic's relay path (persist, route, stream, persist) over a direct call.

Measures time to first token and total turn time for the same fake Anthropic upstream:
  direct   the anthropic SDK against the fake (what a turn costs without Mosaic)
  mosaic   a websocket client → daphne → gateway (persist user message, classify, route,
           context, stream, persist assistant row, message:done) → the same fake
at 1 and 50 concurrent conversations. Not a test: run it by hand on an idle machine.

    MOSAIC_STATE_DIR=var/bench .venv/bin/python bench/bench_relay.py [--turns 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")

REPLY = "".join(f"token{i} " for i in range(60))  # 60 words streamed in 8-character chunks
MODEL = "claude-sonnet-4-6"
# The per-user limits off (agents/limits.py): a benchmark's one user sends every turn, often
# several at once, and is measuring the server, not the limits.
LIMITS_OFF = {
    "MOSAIC_TURNS_PER_MINUTE": "0",
    "MOSAIC_CONCURRENT_TURNS": "0",
    "MOSAIC_TOKENS_PER_DAY": "0",
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, ttft: list[float], total: list[float]) -> dict[str, float]:
    row = {
        "ttft_p50": pct(ttft, 0.5),
        "ttft_p99": pct(ttft, 0.99),
        "total_p50": pct(total, 0.5),
        "total_p99": pct(total, 0.99),
    }
    print(
        f"  {name:<8} n={len(total):<4} TTFT p50 {row['ttft_p50']:7.2f} ms  p99 {row['ttft_p99']:7.2f} ms   "
        f"total p50 {row['total_p50']:7.2f} ms  p99 {row['total_p99']:7.2f} ms"
    )
    return row


async def direct_turn(base_url: str) -> tuple[float, float]:
    import anthropic

    client = _direct_clients.setdefault(
        base_url, anthropic.AsyncAnthropic(api_key="bench", base_url=base_url, max_retries=0)
    )
    start = time.perf_counter()
    first = None
    async with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "hello"}]
    ) as stream:
        async for event in stream:
            if first is None and getattr(event, "type", "") == "text":
                first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


_direct_clients: dict[str, Any] = {}


async def mosaic_conversation(
    url: str, token: str, turns: int, out: list[tuple[float, float]]
) -> None:
    import websockets

    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "conversation:open", "model": f"anthropic:{MODEL}"}))
        for _ in range(2):
            await ws.recv()
        for _ in range(turns):
            start = time.perf_counter()
            first = None
            await ws.send(
                json.dumps(
                    {"type": "message:send", "content": "hello", "client_id": uuid.uuid4().hex}
                )
            )
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "message:delta" and first is None:
                    first = time.perf_counter()
                if frame["type"] == "message:done":
                    break
                if frame["type"] == "error":
                    raise RuntimeError(frame)
            end = time.perf_counter()
            out.append((((first or end) - start) * 1000, (end - start) * 1000))


async def run(args: argparse.Namespace, base_url: str, ws_url: str, token: str) -> None:
    results: dict[str, dict[str, float]] = {}
    for concurrency in (1, 50):
        turns = max(2, args.turns // concurrency) if concurrency > 1 else args.turns
        print(f"\n{concurrency} concurrent conversation(s), {turns} turns each:")
        direct: list[tuple[float, float]] = []

        async def direct_worker(
            samples: list[tuple[float, float]] = direct, n: int = turns
        ) -> None:
            for _ in range(n):
                samples.append(await direct_turn(base_url))

        await direct_worker(n=2)  # warm up
        direct.clear()
        await asyncio.gather(*(direct_worker() for _ in range(concurrency)))
        mosaic: list[tuple[float, float]] = []
        await mosaic_conversation(ws_url, token, 2, [])  # warm up
        await asyncio.gather(
            *(mosaic_conversation(ws_url, token, turns, mosaic) for _ in range(concurrency))
        )
        d = summary("direct", [x[0] for x in direct], [x[1] for x in direct])
        m = summary("mosaic", [x[0] for x in mosaic], [x[1] for x in mosaic])
        added = {k: m[k] - d[k] for k in d}
        print(
            f"  added    TTFT p50 {added['ttft_p50']:7.2f} ms  p99 {added['ttft_p99']:7.2f} ms   "
            f"total p50 {added['total_p50']:7.2f} ms  p99 {added['total_p99']:7.2f} ms   "
            f"(ratio total p50 {m['total_p50'] / d['total_p50']:.2f}x)"
        )
        results[str(concurrency)] = {"direct": d, "mosaic": m, "added": added}  # type: ignore[dict-item]
    print("\n" + json.dumps(results, indent=2))


@contextlib.contextmanager
def mosaic_with_fake(
    port: int, token_name: str, stderr: Any = None
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """A fake Anthropic upstream and daphne on ``port`` using it, with embedded servers; yields
    the fake's base URL, an API token of the user ``bench`` and the daphne process. Shared by the
    relay, the OpenAI-endpoint and the turn-cost benchmarks."""
    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    # The fake upstream runs in a process of its own, so that it does not share this process's
    # interpreter lock with the clients being timed.
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mosaic.cli",
            "fake-upstream",
            "anthropic",
            "--port",
            "0",
            "--reply",
            REPLY,
            "--chunk",
            "8",
            "--delay",
            "0",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    with EmbeddedServices(
        state, postgres="DATABASE_URL" not in os.environ, redis="REDIS_URL" not in os.environ
    ):
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from accounts.services import token_create

        call_command("migrate", interactive=False, verbosity=0)
        user, _ = get_user_model().objects.get_or_create(username="bench")
        _, token = token_create(user=user, name=token_name)
        env = dict(
            os.environ,
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY="bench",
            LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            **LIMITS_OFF,
        )
        daphne = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mosaic.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "mosaic.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stderr=stderr,
        )
        try:
            import httpx

            for _ in range(600):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            yield base_url, token, daphne
        finally:
            for process in (daphne, fake):
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with mosaic_with_fake(args.port, "bench") as (base_url, token, _):
        asyncio.run(run(args, base_url, f"ws://127.0.0.1:{args.port}/ws/chat/", token))


if __name__ == "__main__":
    main()
