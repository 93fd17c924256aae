"""Benchmark routing.classifier.classify on the labelled corpus.

The classifier runs on every chat message before anything is sent upstream, so its budget is
well under a millisecond at the 99th percentile. This script classifies every corpus message
many times and prints per-message p50/p99 in microseconds (slowest first), the distribution over
all calls, and the cost of a few adversarial inputs (a 1 MB paste, pathological punctuation).

Run from the project root:  .venv/bin/python bench/bench_classify.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "routing" / "corpus.jsonl"
if str(ROOT) not in sys.path:
    # Runnable as a plain script without installing the project.
    sys.path.insert(0, str(ROOT))

from routing.classifier import ClassifierContext, classify  # noqa: E402

BUDGET_P99_US = 1000.0


def percentile(sorted_values: list[float], pct: float) -> float:
    index = min(len(sorted_values) - 1, round(pct / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


def time_calls(text: str, context: ClassifierContext, rounds: int) -> list[float]:
    """Microseconds per call, one sample per round."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        classify(text, context)
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return samples


def load_corpus() -> list[tuple[str, ClassifierContext]]:
    items = []
    with CORPUS.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            context = ClassifierContext(
                conversation_tokens=row.get("conversation_tokens", 0),
                has_images=row.get("has_images", False),
            )
            items.append((row["text"], context))
    return items


def adversarial_inputs() -> dict[str, str]:
    return {
        "1 MB of code": "x = compute(a, b); // note\n" * 40_000,
        "1 MB one line": "word " * 200_000,
        "100k colons": ":" * 100_000,
        "100k commas": ", and" * 20_000,
        "10k fences": "```" * 10_000,
        "100k newlines": "\n" * 100_000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="calls per message")
    parser.add_argument("--top", type=int, default=15, help="slowest messages to list")
    args = parser.parse_args()

    corpus = load_corpus()
    for text, context in corpus:  # warm up caches and the allocator
        classify(text, context)

    # The collector pauses are real on a server too, but here they'd only add noise that
    # depends on what else the benchmark allocated; time the classifier itself.
    gc.disable()
    try:
        per_message = []
        all_samples: list[float] = []
        for text, context in corpus:
            samples = time_calls(text, context, args.rounds)
            all_samples.extend(samples)
            per_message.append((percentile(samples, 99), percentile(samples, 50), len(text), text))
        adversarial = {
            name: time_calls(text, ClassifierContext(), max(10, args.rounds // 10))
            for name, text in adversarial_inputs().items()
        }
    finally:
        gc.enable()

    per_message.sort(reverse=True)
    print(f"{len(corpus)} messages x {args.rounds} rounds\n")
    print(f"slowest {args.top} messages by p99:")
    print(f"{'p50 us':>9} {'p99 us':>9} {'chars':>7}  message")
    for p99, p50, length, text in per_message[: args.top]:
        preview = text[:60].replace("\n", " ")
        print(f"{p50:9.1f} {p99:9.1f} {length:7d}  {preview}")

    all_samples.sort()
    p50s = [p50 for _, p50, _, _ in per_message]
    p99s = [p99 for p99, _, _, _ in per_message]
    print("\nover all calls:")
    print(f"  p50 {percentile(all_samples, 50):.1f} us   p99 {percentile(all_samples, 99):.1f} us")
    print(f"  max {all_samples[-1]:.1f} us   mean {statistics.fmean(all_samples):.1f} us")
    print("per-message figures:")
    print(f"  median of p50s {statistics.median(p50s):.1f} us   worst p50 {max(p50s):.1f} us")
    print(f"  median of p99s {statistics.median(p99s):.1f} us   worst p99 {max(p99s):.1f} us")

    print("\nadversarial inputs:")
    for name, samples in adversarial.items():
        print(f"  {name:<16} p50 {percentile(samples, 50):8.1f} us   max {samples[-1]:8.1f} us")

    worst = max(p99s)
    verdict = "within" if worst < BUDGET_P99_US else "OVER"
    print(f"\nworst per-message p99 {worst:.1f} us: {verdict} the {BUDGET_P99_US:.0f} us budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
