"""Run a fake upstream on its own, for benchmarks and local development without provider keys.

    python -m tests.fakes.serve anthropic --port 9100 --text "Hello from the fake." --chunk 8

It is a test double: it answers every request with the scripted text. Point Mosaic at it with
``ANTHROPIC_BASE_URL=http://127.0.0.1:9100 ANTHROPIC_API_KEY=fake``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import FakeUpstream, Script
from tests.fakes.chat_completions import FakeOpenRouter, FakeZai
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI

FAKES: dict[str, type[FakeUpstream]] = {
    "anthropic": FakeAnthropic,
    "openai": FakeOpenAI,
    "openrouter": FakeOpenRouter,
    "zai": FakeZai,
    "ollama": FakeOllama,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("provider", choices=sorted(FAKES))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--text", default="Hello from the fake upstream.")
    parser.add_argument("--chunk", type=int, default=8, help="characters per streamed chunk")
    args = parser.parse_args()
    fake = FAKES[args.provider]()
    fake.requested_port = args.port
    fake.default_script = Script(text=args.text, chunk_size=args.chunk)
    print(fake.start(), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
