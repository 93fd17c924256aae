"""``mosaic fake-upstream PROVIDER``: one fake provider API in the foreground, for trying Mosaic,
developing and benchmarking without a provider key.

    mosaic fake-upstream anthropic --port 9100 --delay 0.05 --reply-file answer.md

It is a test double: every chat request gets the same scripted reply, streamed in pieces of
``--chunk`` characters with ``--delay`` seconds between them (slow it down to try esc in
``mosaic chat``). Model lists and health probes answer as the real API would.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from mosaic.fakes import DEFAULT_CHUNK, DEFAULT_DELAY, DEFAULT_PORT, PROVIDERS
from mosaic.fakes.anthropic import FakeAnthropic
from mosaic.fakes.base import FakeUpstream, RecordedRequest, Script
from mosaic.fakes.chat_completions import FakeOpenRouter, FakeZai
from mosaic.fakes.ollama import FakeOllama
from mosaic.fakes.openai import FakeOpenAI

DEFAULT_REPLY = (
    "Hello from Mosaic's fake **{provider}** upstream. It answers every message with this same "
    "text, whatever you ask: it is a test double, not a model. Start it with `--reply TEXT` or "
    "`--reply-file PATH` to change the answer, and with `--delay SECONDS` to slow the stream "
    "down (then press esc in `mosaic chat` to stop a reply)."
)
# Requests kept in memory for inspection; older ones are dropped.
RECORD_LIMIT = 100


@dataclass(frozen=True)
class FakeSpec:
    """A provider's fake and how Mosaic is pointed at it."""

    fake: type[FakeUpstream]
    base_url_var: str
    key_var: str
    path: str = ""  # appended to the fake's root URL to make the provider's base URL


FAKES: dict[str, FakeSpec] = {
    "anthropic": FakeSpec(FakeAnthropic, "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"),
    "openai": FakeSpec(FakeOpenAI, "OPENAI_BASE_URL", "OPENAI_API_KEY", "/v1"),
    "openrouter": FakeSpec(FakeOpenRouter, "OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", "/api/v1"),
    "zai": FakeSpec(FakeZai, "ZAI_BASE_URL", "ZAI_API_KEY", "/api/paas/v4"),
    "ollama": FakeSpec(FakeOllama, "OLLAMA_BASE_URL", ""),
}
assert tuple(FAKES) == PROVIDERS


class FakeUpstreamError(Exception):
    """The fake cannot start; the message is one sentence for the user."""


def read_reply(*, reply: str | None, reply_file: str | None, provider: str) -> str:
    """The reply text: given, read from a file (``-`` is standard input), or the default."""
    if reply_file is not None:
        try:
            text = (
                sys.stdin.read()
                if reply_file == "-"
                else Path(reply_file).read_text(encoding="utf-8")
            )
        except OSError as exc:
            raise FakeUpstreamError(
                f"cannot read the reply file {reply_file}: {exc.strerror}."
            ) from None
        except UnicodeDecodeError:
            raise FakeUpstreamError(f"the reply file {reply_file} is not UTF-8 text.") from None
    else:
        text = reply if reply is not None else DEFAULT_REPLY.format(provider=provider)
    if not text.strip():
        raise FakeUpstreamError("the reply is empty; give some text to answer with.")
    return text


def start_fake(
    provider: str, *, port: int, reply: str, delay: float, chunk: int
) -> tuple[FakeUpstream, str]:
    """Start the fake for ``provider``; returns it and the base URL to give Mosaic."""
    spec = FAKES.get(provider)
    if spec is None:
        raise FakeUpstreamError(f"no fake for {provider!r}; choose one of {', '.join(FAKES)}.")
    if delay < 0 or chunk < 1:
        raise FakeUpstreamError("--delay must be 0 or more and --chunk at least 1.")
    fake = spec.fake()
    fake.requested_port = port
    fake.record_limit = RECORD_LIMIT
    fake.default_script = Script(text=reply, chunk_size=chunk, delay=delay)
    try:
        root = fake.start()
    except OSError as exc:
        raise FakeUpstreamError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port."
        ) from None
    return fake, root + spec.path


def how_to_point_mosaic(provider: str, base_url: str) -> str:
    spec = FAKES[provider]
    assignments = [f"{spec.base_url_var}={base_url}"]
    if spec.key_var:
        assignments.append(f"{spec.key_var}=fake")
    return " ".join(assignments)


def _log_request(request: RecordedRequest) -> None:
    body = request.body if isinstance(request.body, dict) else {}
    model = f" model={body['model']}" if body.get("model") else ""
    print(f"{request.method} {request.path}{model}", flush=True)


def serve(
    provider: str,
    *,
    port: int = DEFAULT_PORT,
    reply: str,
    delay: float = DEFAULT_DELAY,
    chunk: int = DEFAULT_CHUNK,
    quiet: bool = False,
) -> None:
    """Run the fake in the foreground until Ctrl-C or SIGTERM.

    The first line printed is the base URL alone (scripts read it); then how to use it.
    """
    fake, base_url = start_fake(provider, port=port, reply=reply, delay=delay, chunk=chunk)
    print(base_url, flush=True)
    if not quiet:
        fake.on_request = _log_request
        print(
            f"A fake {provider} API is listening on {base_url} "
            f"(reply of {len(reply)} characters, {chunk} per chunk, {delay:g} s apart).\n"
            f"Point Mosaic at it:  {how_to_point_mosaic(provider, base_url)} make run\n"
            "Ctrl-C stops it.",
            flush=True,
        )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        fake.stop()
