"""Benchmark: classify + resolve per chat message, over the labelled corpus.

Runs against the real embedded PostgreSQL and Redis of ``$MOSAIC_STATE_DIR`` (started here if
``mosaic services`` is not already running; migrated, so the default rules exist). Nothing is
written apart from migrations: the acting user is an unsaved user with no rules of its own.

    MOSAIC_STATE_DIR=/tmp/mosaic-bench .venv/bin/python bench/bench_routing.py [--rounds 20]

Prints p50/p90/p99/max in microseconds for:
  classify              the classifier alone (pure Python)
  resolve (injected)    the engine with credentials and health passed in (no Redis read)
  classify+resolve      what the gateway does: rules, provider health and the user's usable
                        providers come from the process cache, refreshed from Redis at most
                        once per second (routing.cache.REFRESH_SECONDS)
  ... Redis every call  the same with REFRESH_SECONDS = 0: the rules version, health and
                        credential lookups read from Redis on every call (a quiet user's
                        first message after a pause costs this)
  aresolve (async)      classify + the async wrapper (one thread hop) from an event loop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT / "tests" / "routing" / "corpus.jsonl"
BUDGET_MS = 100.0  # the PRD's budget for routing a message
TARGET_P99_US = 1000.0  # ours


@contextlib.contextmanager
def django_with_services() -> Iterator[None]:
    sys.path.insert(0, str(PROJECT))
    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    services = EmbeddedServices(
        state,
        postgres="DATABASE_URL" not in os.environ,
        redis="REDIS_URL" not in os.environ,
    )
    with services:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_us": at(0.50) * 1e6,
        "p90_us": at(0.90) * 1e6,
        "p99_us": at(0.99) * 1e6,
        "max_us": ordered[-1] * 1e6,
        "mean_us": statistics.fmean(ordered) * 1e6,
    }


def measure(texts: list[str], rounds: int, step: Callable[[str], Any]) -> dict[str, float]:
    for text in texts:  # warm-up: caches filled, code paths hot
        step(text)
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(rounds):
        for text in texts:
            start = clock()
            step(text)
            samples.append(clock() - start)
    return percentiles(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the corpus")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in CORPUS.read_text().splitlines() if line.strip()]

    with django_with_services():
        import logging

        from django.contrib.auth import get_user_model

        from providers.registry import PROVIDERS
        from routing import cache as route_cache
        from routing import engine
        from routing.classifier import classify

        # One INFO line per decision goes to the console in production; not measured here.
        logging.getLogger("mosaic.routing").setLevel(logging.WARNING)
        user = get_user_model()(pk=2_000_000_000, username="routing-bench")
        everything = set(PROVIDERS)

        def classify_only(text: str) -> Any:
            return classify(text)

        classified = {text: classify(text) for text in texts}

        def resolve_injected(text: str) -> Any:
            return engine.resolve(
                classified[text], user=user, usable_providers=everything, health={}
            )

        def classify_and_resolve(text: str) -> Any:
            return engine.resolve(classify(text), user=user)

        results: dict[str, dict[str, float]] = {}
        results["classify"] = measure(texts, args.rounds, classify_only)
        results["resolve (injected)"] = measure(texts, args.rounds, resolve_injected)
        results["classify+resolve"] = measure(texts, args.rounds, classify_and_resolve)
        interval = route_cache.REFRESH_SECONDS
        route_cache.REFRESH_SECONDS = 0.0
        results["... Redis every call"] = measure(texts, args.rounds, classify_and_resolve)
        route_cache.REFRESH_SECONDS = interval

        async def async_samples() -> dict[str, float]:
            samples: list[float] = []
            for text in texts:
                await engine.aresolve(classify(text), user=user)
            for _ in range(max(1, args.rounds // 4)):
                for text in texts:
                    start = time.perf_counter()
                    await engine.aresolve(classify(text), user=user)
                    samples.append(time.perf_counter() - start)
            return percentiles(samples)

        results["aresolve (async)"] = asyncio.run(async_samples())

    if args.json:
        print(json.dumps({"load_average": os.getloadavg(), **results}, indent=2))
        return 0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"corpus: {len(texts)} messages x {args.rounds} rounds; times in µs")
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (other load inflates p99/max)")
    print(f"{'':26} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>9}")
    for name, row in results.items():
        print(
            f"{name:26} {row['p50_us']:8.0f} {row['p90_us']:8.0f} {row['p99_us']:8.0f} "
            f"{row['max_us']:9.0f}"
        )
    p99 = results["classify+resolve"]["p99_us"]
    verdict = "within" if p99 < TARGET_P99_US else "over"
    print(
        f"classify+resolve p99 {p99:.0f} µs: {verdict} the 1 ms target "
        f"(PRD budget {BUDGET_MS:.0f} ms)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
