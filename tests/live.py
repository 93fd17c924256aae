"""Real server processes for end-to-end tests: daphne, Celery workers and beat on the test database.

They are started as subprocesses with the test database's name in DATABASE_URL (pytest-django
creates ``test_<name>``), so what they write is what the test reads. Tests using them need
``transactional_db``: rows must be committed to be visible to another process.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import httpx
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Seconds a server may take to start: a few when the machine is idle, but Django's start-up alone
# took 35 s (8 s of CPU) while the tests shared a 2-core machine with other work.
START_TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_url() -> str:
    settings = connection.settings_dict
    host = settings.get("HOST") or ""
    user = quote(settings.get("USER") or "postgres")
    password = settings.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}" if password else user
    name = settings["NAME"]
    if host.startswith("/"):
        return f"postgresql://{auth}@/{name}?host={quote(host, safe='')}"
    port = settings.get("PORT") or 5432
    return f"postgresql://{auth}@{host}:{port}/{name}"


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    from django.conf import settings

    env["REDIS_URL"] = settings.REDIS_URL
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class LiveProcess:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    # Where ``log()`` starts: a test sharing a process reads only what was logged in its time.
    log_from: int = 0

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_from)
            return log.read().decode(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def kill(self) -> None:
        """``kill -9``: no shutdown, no acknowledgement, nothing flushed."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_daphne(
    tmp_path: Path,
    env_extra: dict[str, str] | None = None,
    port: int = 0,
    wait: float = START_TIMEOUT,
) -> LiveProcess:
    port = port or free_port()
    log_path = tmp_path / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mosaic.serve",  # daphne with Mosaic's websocket message limit, as `mosaic run`
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "mosaic.asgi:application",
            ],
            cwd=PROJECT_DIR,
            env=server_env(env_extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = LiveProcess("daphne", proc, log_path, port, env_extra or {})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}:\n{live.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{live.http_url}/healthz", timeout=1).status_code == 200:
                return live
        time.sleep(0.1)
    live.stop()
    raise RuntimeError(f"daphne did not answer within {wait:.0f} s:\n{live.log()}")


@contextlib.contextmanager
def running_daphne(
    tmp_path: Path, env_extra: dict[str, str] | None = None
) -> Iterator[LiveProcess]:
    live = start_daphne(tmp_path, env_extra)
    try:
        yield live
    finally:
        live.stop()


class SharedDaphnes:
    """Daphne processes shared by the tests of one module (or package), one per environment.

    Starting daphne costs seconds (10 on a loaded machine), more than most tests that use it.
    A test that neither stops, restarts nor kills its server, and needs no environment of its
    own, can use a process started for an earlier test: every test still gets empty tables, its
    own users and tokens, and freshly reset fakes (their ports never change).

    What the process keeps between requests must not carry one test into the next; the fixture
    (``shared_live_server`` in tests/conftest.py) takes care of it:

    - ``acquire`` waits until the process's own caches of Redis reads (routing rules, provider
      health, users' usable providers: ``MOSAIC_ROUTING_REFRESH_SECONDS``) have expired since
      the previous test let go, so they are read again from this test's tables and Redis;
    - ``release`` gives the process a few seconds to finish work a test left running (a reply
      still streaming); if it does not, the process is stopped, as a test's own server would be,
      and the next test starts a new one. A process that died is replaced the same way;
    - the ``LiveProcess`` a test gets reads the log from where it stood when the test began.
    """

    def __init__(self, tmp_path: Path, refresh_seconds: float) -> None:
        self.tmp_path = tmp_path
        self.refresh_seconds = refresh_seconds
        self.servers: dict[tuple[tuple[str, str], ...], LiveProcess] = {}
        self.released_at = -math.inf
        self.in_use: set[tuple[tuple[str, str], ...]] = set()

    def acquire(self, env: dict[str, str] | None = None) -> LiveProcess:
        key = tuple(sorted((env or {}).items()))
        live = self.servers.get(key)
        if live is not None and live.proc.poll() is not None:
            del self.servers[key]
            live = None
        if live is None:
            live = start_daphne(self.tmp_path, env)
            self.servers[key] = live
        else:
            wait = self.released_at + self.refresh_seconds - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self.in_use.add(key)
        return replace(live, log_from=live.log_size())

    def release(self, busy: Callable[[], bool], settle: float = 5.0) -> None:
        """After a test: ``busy()`` says whether work it started may still be running."""
        if not self.in_use:
            return
        deadline = time.monotonic() + settle
        while busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if busy():
            for key in self.in_use:
                self.servers.pop(key).stop()
        self.in_use.clear()
        self.released_at = time.monotonic()

    def stop_all(self) -> None:
        for live in self.servers.values():
            live.stop()
        self.servers.clear()


def _start(
    name: str, command: list[str], log_path: Path, env_extra: dict[str, str] | None, ready: str
) -> LiveProcess:
    """Start ``command`` logging to ``log_path``; return once ``ready`` appears in the log."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env=server_env(env_extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = LiveProcess(name, proc, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{live.log()}")
        if ready in live.log():
            return live
        time.sleep(0.1)
    live.stop()
    raise RuntimeError(f"{name} did not start within {START_TIMEOUT} s:\n{live.log()}")


def start_celery_worker(
    tmp_path: Path,
    env_extra: dict[str, str] | None = None,
    *,
    include: Sequence[str] = (),
    pool: str = "solo",
) -> LiveProcess:
    """A worker on the test database. ``include`` adds modules of test-only jobs (they are never
    registered in production); ``pool="prefork"`` runs the job in a child process."""
    node = f"test-{os.getpid()}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "celery", "-A", "mosaic", "worker", "--loglevel", "INFO",
               "--concurrency", "1", "--pool", pool, "--hostname", f"{node}@%h",
               "--without-mingle", "--without-gossip"]  # fmt: skip
    if include:
        command += ["--include", ",".join(include)]
    log_path = tmp_path / f"celery-worker-{node}.log"
    return _start("celery worker", command, log_path, env_extra, " ready.")


def start_celery_beat(
    tmp_path: Path, env_extra: dict[str, str] | None = None, *, max_interval: int = 1
) -> LiveProcess:
    """Celery beat with Mosaic's scheduler (django-celery-beat's tables in the test database),
    looking for due and changed schedules at least every ``max_interval`` seconds."""
    command = [sys.executable, "-m", "celery", "-A", "mosaic", "beat", "--loglevel", "DEBUG",
               "--max-interval", str(max_interval), "--pidfile", "",
               "--schedule", str(tmp_path / "beat-schedule")]  # fmt: skip
    log_path = tmp_path / f"celery-beat-{time.monotonic_ns()}.log"
    return _start("celery beat", command, log_path, env_extra, "beat: Starting")
