"""A command run in a real pseudo-terminal, as a user at a terminal would run it.

``setsid --ctty`` makes the terminal the command's controlling terminal, so ``isatty()`` is true,
``getpass`` reads from it without echo, and a typed Ctrl-C (``\\x03``) is a SIGINT from the
terminal, as at a real keyboard.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path = PROJECT_DIR) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            ["setsid", "--ctty", *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            close_fds=True,
        )
        os.close(slave)
        self.output = ""  # everything shown so far, without colour codes

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the command exited and the terminal closed
            return False
        self.output += ANSI.sub("", data.decode(errors="replace").replace("\r\n", "\n"))
        return bool(data)

    def expect(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Wait until the output matches ``pattern`` (a regex); fail with what was shown."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} not shown within {timeout} s:\n{self.output}")
            if not self._read(min(remaining, 0.5)) and self.proc.poll() is not None:
                while self._read(0.1):
                    pass
                if re.search(pattern, self.output) is None:
                    raise AssertionError(
                        f"exited with {self.proc.returncode} before {pattern!r}:\n{self.output}"
                    )

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)
