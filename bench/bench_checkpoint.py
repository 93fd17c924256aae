"""What the chat turn that crosses the checkpoint threshold costs, before and after the summary
moved to a job (docs/jobs.md, "Context checkpoints").

Three kinds of turn, each on a fresh conversation preloaded to a given size, through the real
gateway (Channels' in-process communicator, the embedded PostgreSQL and Redis), against fake
upstreams (a chat model with a 3,000-token window on the fake Ollama; summaries by GLM-5 on the
fake Z.ai, as the default rules route them):

- plain: the context stays below both thresholds;
- in-turn (before): the context passes 80 % with the checkpoint job switched off
  (``MOSAIC_CHECKPOINT_AHEAD_THRESHOLD=1``), so the turn summarises before it calls the model;
- job (after): the turn takes the context past 70 %, and after ``message:done`` sends
  ``agents.write_checkpoint`` (no worker runs here: the broker is purged at the end).

For each: the reply (send → ``message:done``) and the whole turn (send → the conversation's turn
slot released, which includes what the turn sends after ``message:done``). ``--summary-ms``
makes the fake summariser take about that long, as a real model would. Not a test; run it once,
under ``nice``:

    MOSAIC_STATE_DIR=var/bench nice -n 19 .venv/bin/python bench/bench_checkpoint.py [--samples 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

WINDOW = 3000
PARAGRAPH = "The quick brown fox jumps over the lazy dog near the river bank. " * 25  # ~400 tokens
FILLER = "about the fox and the dog, " * 9
SUMMARY = "SUMMARY: " + "the user sent fillers and paragraphs about a fox; " * 6
# Context before the timed turn's message (with the agent's prompt), per kind.
PRELOAD = {"plain": 1000, "in-turn": 2100, "job": 1750}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def preload(user: Any, conversation_id: str, agent_slug: str, target: int) -> None:
    from agents.selectors import agent_get
    from conversations import services
    from conversations.context import context_usage

    system_prompt = agent_get(user=user, slug=agent_slug).system_prompt
    tokens, number = 0, 0
    while tokens < target:
        services.messages_append(
            user=user,
            conversation_id=conversation_id,
            drafts=[
                services.MessageDraft(role="user", content=f"Filler {number}: {FILLER}"),
                services.MessageDraft(role="assistant", content="Noted."),
            ],
        )
        _, tokens = context_usage(
            user=user, conversation_id=conversation_id, system_prompt=system_prompt
        )
        number += 1


def checkpoint_kinds(conversation_id: str) -> list[str]:
    from conversations.models import Message

    rows = Message.objects.filter(conversation_id=conversation_id, role="checkpoint")
    return [row.metadata.get("kind", "") for row in rows]


async def one_turn(user: Any, token: str, kind: str) -> tuple[float, float, str]:
    from asgiref.sync import sync_to_async

    from agents import live
    from jobs.models import AgentLog
    from tests.agents.chat import ChatClient

    client = await ChatClient.connect(token)
    try:
        info, _ = await client.open(model="ollama:tiny")
        conversation_id = info["conversation_id"]
        await sync_to_async(preload)(user, conversation_id, info["agent"], PRELOAD[kind])
        start = time.perf_counter()
        frames = await client.say(f"Now this: {PARAGRAPH}")
        replied = time.perf_counter()
        for _ in range(100_000):  # the turn slot is released once what follows the reply is done
            if not await live.turn_running(user.pk, conversation_id):
                break
            await asyncio.sleep(0.0005)
        ended = time.perf_counter()
    finally:
        await client.close()
    assert frames[-1]["status"] == "complete", frames[-1]
    made = await sync_to_async(checkpoint_kinds)(conversation_id)
    queued = await sync_to_async(
        AgentLog.objects.filter(conversation_id=conversation_id, event="checkpoint.queued").exists
    )()
    expected = {"plain": ([], False), "in-turn": (["summary"], False), "job": ([], True)}[kind]
    assert (made, queued) == expected, (kind, made, queued)
    return (replied - start) * 1000, (ended - start) * 1000, kind


async def run(args: argparse.Namespace, user: Any, token: str, fakes: dict[str, Any]) -> None:
    from django.conf import settings

    from mosaic.fakes.base import Script

    chunk_delay = args.summary_ms / 1000 / max(1, len(SUMMARY) // 8)
    fakes["zai"].default_script = Script(text=SUMMARY, chunk_size=8, delay=chunk_delay)
    fakes["ollama"].default_script = Script(text="Noted. " * 40)
    kinds = ("plain", "in-turn", "job")
    samples: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for round_ in range(args.samples + 1):  # interleaved, so that a change of load hits all three
        for kind in kinds:
            settings.MOSAIC_CHECKPOINT_AHEAD_THRESHOLD = 1.0 if kind == "in-turn" else 0.7
            reply_ms, turn_ms, _ = await one_turn(user, token, kind)
            if round_:  # the first round warms up
                samples[kind].append((reply_ms, turn_ms))
    results: dict[str, dict[str, float]] = {}
    for kind in kinds:
        reply = [s[0] for s in samples[kind]]
        whole = [s[1] for s in samples[kind]]
        results[kind] = {
            "reply_p50": pct(reply, 0.5),
            "reply_p95": pct(reply, 0.95),
            "turn_p50": pct(whole, 0.5),
            "turn_p95": pct(whole, 0.95),
        }
        row = results[kind]
        print(
            f"{kind:<8} n={len(reply)}  reply p50 {row['reply_p50']:7.1f} ms  p95 "
            f"{row['reply_p95']:7.1f} ms   whole turn p50 {row['turn_p50']:7.1f} ms  p95 "
            f"{row['turn_p95']:7.1f} ms"
        )
    for kind in ("in-turn", "job"):  # the median of each round's difference to the plain turn
        pairs = list(zip(samples[kind], samples["plain"], strict=True))
        added = {
            "reply_p50": pct([k[0] - p[0] for k, p in pairs], 0.5),
            "turn_p50": pct([k[1] - p[1] for k, p in pairs], 0.5),
        }
        results[f"added by {kind}"] = added
        print(
            f"added by {kind:<8} reply p50 {added['reply_p50']:+7.1f} ms   "
            f"whole turn p50 {added['turn_p50']:+7.1f} ms"
        )
    print(json.dumps({"summary_ms": args.summary_ms, "results": results}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument(
        "--summary-ms", type=float, default=0.0, help="how long the fake summariser streams"
    )
    args = parser.parse_args()

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    with EmbeddedServices(
        state, postgres="DATABASE_URL" not in os.environ, redis="REDIS_URL" not in os.environ
    ):
        import django

        django.setup()
        from celery import current_app
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from accounts.services import token_create
        from mosaic.fakes.chat_completions import FakeZai
        from mosaic.fakes.ollama import FakeOllama, FakeOllamaModel
        from providers import catalog
        from providers.adapters.base import ModelSpec

        call_command("migrate", interactive=False, verbosity=0)
        user, _ = get_user_model().objects.get_or_create(username="bench-checkpoint")
        _, token = token_create(user=user, name="bench")
        ollama, zai = FakeOllama(), FakeZai()
        fakes: dict[str, Any] = {"ollama": ollama, "zai": zai}
        for fake in fakes.values():
            fake.start()
        ollama.models.append(FakeOllamaModel("tiny:latest", "llama", "1B", "Q4_0", 1_000_000))
        settings.OLLAMA_BASE_URL = ollama.base_url
        settings.ZAI_BASE_URL = zai.api_base
        settings.ZAI_API_KEY = "bench"
        catalog.register_dynamic(
            "ollama",
            [ModelSpec(provider="ollama", id="tiny", display_name="Tiny", tier="local",
                       context_window=WINDOW, max_output=512)],
        )  # fmt: skip
        try:
            asyncio.run(run(args, user, token, fakes))
        finally:
            current_app.control.purge()  # the checkpoint jobs no worker ran
            for fake in fakes.values():
                fake.stop()


if __name__ == "__main__":
    main()
