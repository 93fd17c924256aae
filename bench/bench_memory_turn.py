"""Added time to first token when a chat turn uses memories (docs/performance.md, Memory).

One user with ``--insights`` insights (embedded by the bundled local model, as saved for real)
and a few preferences chats through daphne with the fake Anthropic upstream, the same
conversation alternating between recall off and recall on (``MemorySettings.recall``), each turn
a different question that matches some insights. Reported: time to first token and whole turn,
p50/p95, per mode, and the difference; plus the first turn with recall on in a fresh daphne (the
local model loads on the first embedding of a process). Not a test: run it by hand.

    MOSAIC_STATE_DIR=var/bench nice -n 19 .venv/bin/python bench/bench_memory_turn.py --turns 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from bench_memory import OBJECTS, VERBS  # noqa: E402 - this folder is on the path of a script
from bench_relay import LIMITS_OFF, MODEL, REPLY, pct  # noqa: E402

USERNAME = "bench-memory-turn"


def questions(n: int) -> list[str]:
    return [f"Any advice about {OBJECTS[(i * 7) % len(OBJECTS)]} for me?" for i in range(n)]


def seed_memories(count: int) -> str:
    """The bench user, their insights and preferences (fresh each run); returns a token."""
    from django.contrib.auth import get_user_model

    from accounts.services import token_create
    from memory import services
    from memory.models import Insight

    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    Insight.objects.filter(user=user).delete()
    for i in range(count):
        verb, thing = VERBS[i % len(VERBS)], OBJECTS[(i * 11) % len(OBJECTS)]
        services.insight_save(user=user, content=f"The user {verb} {thing} (note {i}).")
    for key, value in (("language", "English"), ("answer_style", "short"), ("units", "metric")):
        services.preference_set(user=user, key=key, value=value)
    return token_create(user=user, name="bench")[1]


def set_recall(on: bool) -> None:
    from django.contrib.auth import get_user_model

    from memory import services

    user = get_user_model().objects.get(username=USERNAME)
    services.memory_settings_update(user=user, recall=on)


async def turn(ws: Any, content: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    await ws.send(
        json.dumps({"type": "message:send", "content": content, "client_id": uuid.uuid4().hex})
    )
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "message:delta" and first is None:
            first = time.perf_counter()
        if frame["type"] == "message:done":
            memories = int((frame.get("routing") or {}).get("memories") or 0)
            break
        if frame["type"] == "error":
            raise RuntimeError(frame)
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, memories


async def run(ws_url: str, token: str, turns: int) -> dict[str, Any]:
    import websockets
    from asgiref.sync import sync_to_async

    results: dict[str, Any] = {}
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "conversation:open", "model": f"anthropic:{MODEL}"}))
        for _ in range(2):
            await ws.recv()
        await sync_to_async(set_recall)(True)
        cold = await turn(ws, "What do you remember about my garden?")
        results["first_turn_recall_on_fresh_process"] = {
            "ttft_ms": round(cold[0], 1),
            "memories": cold[2],
        }
        samples: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for i, text in enumerate(questions(2 * turns)):
            on = i % 2 == 1
            await sync_to_async(set_recall)(on)
            samples[on].append(await turn(ws, text))
    for on, rows in samples.items():
        ttft, total = [r[0] for r in rows], [r[1] for r in rows]
        results["recall on" if on else "recall off"] = {
            "turns": len(rows),
            "ttft_p50_ms": round(pct(ttft, 0.5), 1),
            "ttft_p95_ms": round(pct(ttft, 0.95), 1),
            "total_p50_ms": round(pct(total, 0.5), 1),
            "memories_per_turn": round(sum(r[2] for r in rows) / len(rows), 2),
        }
    on, off = results["recall on"], results["recall off"]
    results["added_ttft_p50_ms"] = round(on["ttft_p50_ms"] - off["ttft_p50_ms"], 1)
    results["added_ttft_p95_ms"] = round(on["ttft_p95_ms"] - off["ttft_p95_ms"], 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per mode")
    parser.add_argument("--insights", type=int, default=200)
    parser.add_argument("--port", type=int, default=18917)
    args = parser.parse_args()

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    fake = subprocess.Popen(
        [sys.executable, "-m", "mosaic.cli", "fake-upstream", "anthropic", "--port", "0",
         "--reply", REPLY, "--chunk", "8", "--delay", "0", "--quiet"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    with EmbeddedServices(
        state, postgres="DATABASE_URL" not in os.environ, redis="REDIS_URL" not in os.environ
    ):
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        start = time.perf_counter()
        token = seed_memories(args.insights)
        print(f"{args.insights} insights saved in {time.perf_counter() - start:.1f} s", flush=True)
        env = dict(
            os.environ,
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY="bench",
            LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            **LIMITS_OFF,
        )
        daphne = subprocess.Popen(
            [sys.executable, "-m", "mosaic.serve", "-b", "127.0.0.1", "-p", str(args.port),
             "mosaic.asgi:application"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            import httpx

            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            results = asyncio.run(run(f"ws://127.0.0.1:{args.port}/ws/chat/", token, args.turns))
            print(json.dumps(results, indent=2))
        finally:
            for process in (daphne, fake):
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
