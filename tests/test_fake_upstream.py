"""`mosaic fake-upstream`: a fake provider API run by hand, to try Mosaic without a key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest

from tests.live import PROJECT_DIR

LONG_REPLY = "".join(f"Line {n}: the fake streams long replies whole.\n" for n in range(200))


def mosaic(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mosaic.cli", *args],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def reply_file(tmp_path: Path) -> Path:
    path = tmp_path / "reply.md"
    path.write_text(LONG_REPLY, encoding="utf-8")
    return path


@pytest.fixture
def running_fake(reply_file: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    fake = mosaic(
        "fake-upstream", "anthropic", "--port", "0", "--reply-file", str(reply_file),
        "--chunk", "400", "--delay", "0.1",
    )  # fmt: skip
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    try:
        yield fake, base_url
    finally:
        if fake.poll() is None:
            fake.kill()
            fake.wait()


def test_the_fake_streams_the_reply_file_in_chunks_with_the_delay_between_them(
    running_fake: tuple[subprocess.Popen[str], str],
) -> None:
    fake, base_url = running_fake
    client = anthropic.Anthropic(base_url=base_url, api_key="fake")
    pieces: list[str] = []
    started = time.monotonic()
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=1000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        pieces.extend(stream.text_stream)
    took = time.monotonic() - started
    assert "".join(pieces) == LONG_REPLY
    assert [len(p) for p in pieces[:-1]] == [400] * (len(pieces) - 1)
    # At least one pause between consecutive chunks (a lower bound: a busy machine is slower).
    assert took >= 0.1 * (len(pieces) - 1)

    fake.send_signal(signal.SIGTERM)
    assert fake.wait(timeout=30) == 0
    assert fake.stdout is not None
    out = fake.stdout.read()  # the rest, after the base URL line read above
    assert "ANTHROPIC_BASE_URL=" + base_url + " ANTHROPIC_API_KEY=fake make run" in out
    assert "POST /v1/messages model=claude-sonnet-4-6" in out  # each request is logged


def test_bad_input_to_the_fake_is_one_line(
    running_fake: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    _, base_url = running_fake
    port = base_url.rsplit(":", 1)[1]
    taken = mosaic("fake-upstream", "anthropic", "--port", port)
    _, err = taken.communicate(timeout=60)
    assert taken.returncode == 2
    assert err.startswith(f"mosaic: cannot listen on 127.0.0.1:{port} (")
    assert err.endswith("choose another --port.\n")

    missing = mosaic("fake-upstream", "openai", "--reply-file", str(tmp_path / "none.md"))
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 2
    assert (
        err
        == f"mosaic: cannot read the reply file {tmp_path / 'none.md'}: No such file or directory.\n"
    )
