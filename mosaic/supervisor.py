"""Run daphne, a Celery worker and Celery beat together in the foreground, as one log stream.

Like honcho/foreman: each child's output is prefixed with its name; Ctrl-C (or SIGTERM) stops
all of them in order; if one dies, the others are stopped and the exit code says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO

COLOURS = ["\033[36m", "\033[35m", "\033[33m", "\033[32m", "\033[34m"]
RESET = "\033[0m"


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]


class Supervisor:
    def __init__(self, specs: list[ProcessSpec], env: dict[str, str] | None = None) -> None:
        self.specs = specs
        self.env = env or dict(os.environ)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        self._width = max(len(s.name) for s in specs)
        self._colour = sys.stdout.isatty()

    def log(self, name: str, line: str) -> None:
        index = [s.name for s in self.specs].index(name) if name in self.procs else -1
        prefix = f"{name:<{self._width}} | "
        if self._colour and index >= 0:
            prefix = f"{COLOURS[index % len(COLOURS)]}{prefix}{RESET}"
        with self._write_lock:
            sys.stdout.write(prefix + line.rstrip("\n") + "\n")
            sys.stdout.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.log(name, raw.decode(errors="replace"))

    def start(self) -> None:
        for spec in self.specs:
            proc = subprocess.Popen(  # noqa: S603 - argv built from our own constants
                spec.argv,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Own process group: the terminal's Ctrl-C reaches only us; we stop children in order.
                start_new_session=True,
            )
            self.procs[spec.name] = proc
            assert proc.stdout is not None
            threading.Thread(target=self._pump, args=(spec.name, proc.stdout), daemon=True).start()

    def wait(self) -> int:
        """Block until a signal or a child's exit; then stop everything. Returns an exit code."""

        def on_signal(signum: int, frame: object) -> None:
            self._stopping.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        try:
            while not self._stopping.is_set():
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        self.log(name, f"exited with code {proc.returncode}; stopping the others")
                        code = proc.returncode or 1
                        self._stopping.set()
                        break
                self._stopping.wait(0.2)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def stop(self, timeout: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(remaining)
            except subprocess.TimeoutExpired:
                self.log(name, "did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
