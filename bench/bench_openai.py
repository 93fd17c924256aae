"""Added latency of the OpenAI-compatible endpoint over a direct call to the upstream.

Measures time to first token and to the last chunk for the same fake Anthropic upstream:
  direct   the anthropic SDK streaming from the fake (what a call costs without Mosaic)
  mosaic   the openai SDK streaming from POST /v1/chat/completions on daphne (authenticate,
           store the message, open the conversation, classify, route, context, stream, store
           the reply, the last chunks) → the same fake
at 1 and 10 concurrent streams, each call a new conversation (as a client that names none).
Not a test: run it once by hand, niced, on an idle machine.

    MOSAIC_STATE_DIR=var/bench nice -n 19 .venv/bin/python bench/bench_openai.py [--calls 40]
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

# Run as a script: its own folder is on the path.
from bench_relay import MODEL, direct_turn, mosaic_with_fake, summary  # noqa: E402

CONCURRENCY = (1, 10)


async def mosaic_call(client: Any) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model=f"anthropic:{MODEL}",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


async def run(args: argparse.Namespace, base_url: str, api_url: str, token: str) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=api_url, api_key=token, max_retries=0, timeout=120)
    results: dict[str, Any] = {}
    for concurrency in CONCURRENCY:
        calls = max(2, args.calls // concurrency) if concurrency > 1 else args.calls
        print(f"\n{concurrency} concurrent stream(s), {calls} calls each:")
        direct: list[tuple[float, float]] = []
        mosaic: list[tuple[float, float]] = []

        async def direct_worker(n: int, out: list[tuple[float, float]]) -> None:
            for _ in range(n):
                out.append(await direct_turn(base_url))

        async def mosaic_worker(n: int, out: list[tuple[float, float]]) -> None:
            for _ in range(n):
                out.append(await mosaic_call(client))

        await direct_worker(2, [])  # warm up
        await mosaic_worker(2, [])
        await asyncio.gather(*(direct_worker(calls, direct) for _ in range(concurrency)))
        await asyncio.gather(*(mosaic_worker(calls, mosaic) for _ in range(concurrency)))
        d = summary("direct", [x[0] for x in direct], [x[1] for x in direct])
        m = summary("mosaic", [x[0] for x in mosaic], [x[1] for x in mosaic])
        added = {k: m[k] - d[k] for k in d}
        print(
            f"  added    TTFT p50 {added['ttft_p50']:7.2f} ms  p99 {added['ttft_p99']:7.2f} ms   "
            f"last chunk p50 {added['total_p50']:7.2f} ms  p99 {added['total_p99']:7.2f} ms"
        )
        results[str(concurrency)] = {"direct": d, "mosaic": m, "added": added}
    print("\n" + json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--port", type=int, default=8798)
    args = parser.parse_args()
    with mosaic_with_fake(args.port, "bench-openai") as (base_url, token, _):
        asyncio.run(run(args, base_url, f"http://127.0.0.1:{args.port}/v1", token))


if __name__ == "__main__":
    main()
