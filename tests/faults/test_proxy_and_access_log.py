"""Mosaic's daphne (``python -m mosaic.serve``): credentials in query strings never reach the
access log, and the client's address comes from ``X-Forwarded-For`` only behind a proxy
(``MOSAIC_BEHIND_PROXY``), so that no client can choose the address its login failures count
against."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from mosaic.serve import daphne_arguments, freeze_startup_objects
from tests.live import PROJECT_DIR, START_TIMEOUT, free_port, server_env

SERVE = [sys.executable, "-m", "mosaic.serve"]
SECRET = "mos_QueryStringSecret0123456789abcdef"

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def mosaic_serve(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log_path = tmp_path / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*SERVE, "-b", "127.0.0.1", "-p", str(port), "mosaic.asgi:application"],
            cwd=PROJECT_DIR,
            env=server_env(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, "mosaic.serve did not start"
            time.sleep(0.2)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def login_attempts(url: str, addresses: list[str]) -> list[int]:
    """One failed token request per address (each for another account), claiming the address
    in X-Forwarded-For; the statuses."""
    statuses = []
    for n, address in enumerate(addresses):
        response = httpx.post(
            f"{url}/api/auth/token",
            json={"username": f"nobody-{n}", "password": "wrong"},
            headers={"X-Forwarded-For": address},
        )
        statuses.append(response.status_code)
    return statuses


async def socket_with_token_in_query(url: str) -> int | None:
    ws_url = url.replace("http", "ws", 1) + f"/ws/chat/?token={SECRET}"
    async with websockets.connect(ws_url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


def test_query_string_tokens_are_redacted_and_forged_forwarded_addresses_ignored(
    transactional_db: None, tmp_path: Path
) -> None:
    # One server for both (starting one is slow): not behind a proxy, 3 failures per address.
    with mosaic_serve(tmp_path, {"MOSAIC_LOGIN_FAILURES_PER_ADDRESS": "3"}) as (url, log_path):
        response = httpx.get(f"{url}/api/auth/me?token={SECRET}&access_token={SECRET}")
        assert response.status_code == 401
        assert asyncio.run(socket_with_token_in_query(url)) == 4401

        # Each attempt claims another address; all count against the one they come from.
        addresses = [f"203.0.113.{n}" for n in range(1, 6)]
        assert login_attempts(url, addresses) == [401, 401, 401, 429, 429]

    log = log_path.read_text(errors="replace")
    assert "/api/auth/me?token=[redacted]" in log
    assert SECRET not in log
    assert "QueryStringSecret" not in log


@pytest.mark.parametrize(
    ("behind_proxy", "given", "expected"),
    [
        (False, [], False),
        (True, [], True),
        (True, ["--proxy-headers"], True),
    ],
)
def test_daphne_trusts_proxy_headers_only_behind_a_proxy(
    behind_proxy: bool, given: list[str], expected: bool
) -> None:
    args: Any = daphne_arguments(
        [*given, "mosaic.asgi:application"], max_bytes=2048, behind_proxy=behind_proxy
    )
    assert ("--proxy-headers" in args) is expected
    assert args.count("--proxy-headers") <= 1


def test_start_up_objects_are_frozen_out_of_the_collectors_scans() -> None:
    gc.unfreeze()
    try:
        freeze_startup_objects()
        # Everything alive now (Django, the SDKs) is in the permanent generation: a full
        # collection during a turn no longer walks it (238 ms for 343,000 objects, measured).
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
