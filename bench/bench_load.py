"""Load figures of one daphne process: idle sockets and their memory, concurrent conversations,
and another user's latency while one user floods the server.

  idle      N authenticated sockets, each with a conversation open, doing nothing: the daphne
            process's RSS before and after, per socket
  burst     C conversations (C sockets) each sending one message at the same moment: how many
            complete, and how long the slowest took
  flood     one user keeps F conversations busy with back-to-back turns while another user
            chats: the other user's time to first token and turn time, against an idle server

Not a test: run it by hand, once, at low priority (the machine is shared):

    MOSAIC_STATE_DIR=var/bench nice -n 19 .venv/bin/python bench/bench_load.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")

from bench_relay import LIMITS_OFF  # noqa: E402 - this folder is on the path of a script

REPLY = "".join(f"token{i} " for i in range(60))  # 60 words streamed in 8-character chunks
MODEL = "anthropic:claude-sonnet-4-6"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_socket(url: str, token: str) -> Any:
    import websockets

    ws = await websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    )
    await ws.send(json.dumps({"type": "conversation:open", "model": MODEL}))
    for _ in range(2):  # session:info, conversation:history
        await ws.recv()
    return ws


async def turn(ws: Any) -> tuple[float, float]:
    """One message and its reply: (time to first token, turn time) in ms."""
    start = time.perf_counter()
    first = None
    await ws.send(
        json.dumps({"type": "message:send", "content": "hello", "client_id": uuid.uuid4().hex})
    )
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "message:delta" and first is None:
            first = time.perf_counter()
        elif frame["type"] == "error":
            raise RuntimeError(frame)
        elif frame["type"] == "message:done":
            break
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


async def idle(url: str, token: str, pid: int, count: int) -> dict[str, float]:
    before = rss_kb(pid)
    sockets = []
    for _ in range(count):
        sockets.append(await open_socket(url, token))
    await asyncio.sleep(2)  # let the process settle
    after = rss_kb(pid)
    for ws in sockets:
        await ws.close()
    row = {
        "sockets": count,
        "rss_before_mb": before / 1024,
        "rss_after_mb": after / 1024,
        "kb_per_socket": (after - before) / count,
    }
    print(
        f"  idle   {count} sockets: RSS {row['rss_before_mb']:.0f} → {row['rss_after_mb']:.0f} MB,"
        f" {row['kb_per_socket']:.0f} KB per socket"
    )
    return row


async def burst(url: str, token: str, count: int) -> dict[str, float]:
    sockets = await asyncio.gather(*(open_socket(url, token) for _ in range(count)))
    start = time.perf_counter()
    results = await asyncio.gather(*(turn(ws) for ws in sockets), return_exceptions=True)
    elapsed = (time.perf_counter() - start) * 1000
    done = [r for r in results if isinstance(r, tuple)]
    for ws in sockets:
        await ws.close()
    totals = [t for _, t in done]
    row = {
        "conversations": count,
        "completed": len(done),
        "wall_ms": elapsed,
        "turn_p50_ms": pct(totals, 0.5) if totals else 0.0,
        "turn_max_ms": max(totals) if totals else 0.0,
    }
    print(
        f"  burst  {count} conversations at once: {len(done)} completed in {elapsed:.0f} ms"
        f" (turn p50 {row['turn_p50_ms']:.0f} ms, slowest {row['turn_max_ms']:.0f} ms)"
    )
    return row


async def other_user(url: str, token: str, turns: int) -> list[tuple[float, float]]:
    ws = await open_socket(url, token)
    samples = [await turn(ws) for _ in range(turns)]
    await ws.close()
    return samples


async def flood(
    url: str, flooder: str, other: str, conversations: int, turns: int
) -> dict[str, Any]:
    quiet = await other_user(url, other, turns)
    stop = asyncio.Event()
    flooded = 0

    async def keep_busy() -> None:
        nonlocal flooded
        ws = await open_socket(url, flooder)
        while not stop.is_set():
            try:
                await turn(ws)
            except RuntimeError as refused:  # --limits: the flooding user is refused
                frame = refused.args[0]
                if frame.get("code") != "rate_limited":
                    raise
                await asyncio.sleep(frame.get("retry_after") or 1)
                continue
            flooded += 1
        await ws.close()

    workers = [asyncio.create_task(keep_busy()) for _ in range(conversations)]
    await asyncio.sleep(2)
    during = await other_user(url, other, turns)
    stop.set()
    await asyncio.gather(*workers)

    def stats(samples: list[tuple[float, float]]) -> dict[str, float]:
        ttft, total = [s[0] for s in samples], [s[1] for s in samples]
        return {
            "ttft_p50": pct(ttft, 0.5),
            "ttft_p99": pct(ttft, 0.99),
            "total_p50": pct(total, 0.5),
            "total_p99": pct(total, 0.99),
        }

    row: dict[str, Any] = {"quiet": stats(quiet), "flood": stats(during), "flood_turns": flooded}
    for name in ("quiet", "flood"):
        s = row[name]
        print(
            f"  other user, {name:<5}: TTFT p50 {s['ttft_p50']:6.0f} ms p99 {s['ttft_p99']:6.0f} ms,"
            f" turn p50 {s['total_p50']:6.0f} ms p99 {s['total_p99']:6.0f} ms"
        )
    print(
        f"  (the flooding user completed {flooded} turns in {conversations} conversations meanwhile)"
    )
    return row


async def run(args: argparse.Namespace, ws_url: str, tokens: dict[str, str], pid: int) -> None:
    results: dict[str, Any] = {"idle": [], "burst": []}
    for count in args.idle:
        results["idle"].append(await idle(ws_url, tokens["bench"], pid, count))
    for count in args.burst:
        results["burst"].append(await burst(ws_url, tokens["bench"], count))
    results["flood"] = await flood(ws_url, tokens["bench"], tokens["other"], args.flood, args.turns)
    print("\n" + json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--burst", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--flood", type=int, default=50, help="conversations of the flooding user")
    parser.add_argument("--turns", type=int, default=20, help="turns of the other user")
    parser.add_argument("--port", type=int, default=8798)
    parser.add_argument("--limits", action="store_true", help="keep the per-user limits on")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    fake = subprocess.Popen(
        [sys.executable, "-m", "mosaic.cli", "fake-upstream", "anthropic", "--port", "0",
         "--reply", REPLY, "--chunk", "8", "--delay", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
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
        tokens = {}
        for name in ("bench", "other"):
            user, _ = get_user_model().objects.get_or_create(username=name)
            _, tokens[name] = token_create(user=user, name="bench")
        env = dict(
            os.environ,
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY="bench",
            LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            # The per-user limits (agents/limits.py) would refuse a burst or a flood from one user
            # after 3 concurrent turns: measure the server's capacity, not the limits (--limits
            # keeps them, to see what a flooding user's refusals leave for the others).
            **({} if args.limits else LIMITS_OFF),
        )
        daphne = subprocess.Popen(
            [sys.executable, "-m", "mosaic.serve", "-b", "127.0.0.1", "-p", str(args.port),
             "mosaic.asgi:application"],
            cwd=ROOT,
            env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard)),  # noqa: PLW1509
        )  # fmt: skip
        try:
            import httpx

            for _ in range(600):
                try:
                    httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            asyncio.run(run(args, f"ws://127.0.0.1:{args.port}/ws/chat/", tokens, daphne.pid))
        finally:
            daphne.terminate()
            daphne.wait(10)
            fake.terminate()
            fake.wait(10)


if __name__ == "__main__":
    main()
