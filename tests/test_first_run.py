"""A first `mosaic run` at a terminal, as a new user meets it: the admin prompt, the banner,
logging in with what the banner said, and Ctrl-C stopping everything."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, server_env
from tests.terminal import Terminal

pytestmark = pytest.mark.e2e


def run_env(tmp_path: Path, port: int) -> dict[str, str]:
    """`mosaic run` on the test database and Redis, with a state directory of its own."""
    from django.conf import settings

    env = server_env(
        {
            "MOSAIC_STATE_DIR": str(tmp_path / "state"),
            "MOSAIC_PORT": str(port),
            # The test run's collected files: collectstatic then has (almost) nothing to copy.
            "STATIC_ROOT": str(settings.STATIC_ROOT),
            "TERM": "xterm",
        }
    )
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        env.pop(name, None)
    return env


def test_first_run_at_a_terminal_generates_the_admin_password_and_shows_it(
    transactional_db: None, tmp_path: Path
) -> None:
    from django.contrib.auth import get_user_model

    port = free_port()
    terminal = Terminal([sys.executable, "-m", "mosaic.cli", "run"], run_env(tmp_path, port))
    try:
        terminal.expect(r"Admin username \[admin\]: ", timeout=120)
        terminal.type("\r")
        terminal.expect(r"Password \(leave empty to generate one\): ")
        terminal.type("\r")
        banner = terminal.expect(r"Mosaic is running(?s:.*)Press Ctrl-C to stop everything\.")
        shown = banner.group(0)
        password = re.search(r"Admin user: +admin +password: (\S+) ", shown)
        assert password, shown
        # What the banner says works: the admin logs in with it, through the API.
        base = f"http://127.0.0.1:{port}"
        answer = httpx.post(
            f"{base}/api/auth/token", json={"username": "admin", "password": password.group(1)}
        )
        assert answer.status_code == 201, answer.text
        assert get_user_model().objects.get(username="admin").is_superuser
        assert f"--server {base} --username admin" in shown
        assert f"{base}/api-auth/login/" in shown  # how to browse the API, truthfully
        # The worker's own banner names the result backend docs/operations.md describes.
        terminal.expect(r"results: +disabled://", timeout=60)

        terminal.type("\x03")  # Ctrl-C at the keyboard
        assert terminal.wait(timeout=60) == 0
        assert "Mosaic stopped." in terminal.output
    finally:
        terminal.close()


def test_first_run_without_a_terminal_prints_the_generated_password(db: None) -> None:
    from django.contrib.auth import authenticate

    from mosaic.server_commands import ensure_admin

    line = ensure_admin(interactive=False)
    password = re.search(r"Admin user: +admin +password: (\S+) ", line)
    assert password, line
    assert authenticate(username="admin", password=password.group(1)) is not None
    # Once there is an admin, later runs say how to reset a password instead.
    again = ensure_admin(interactive=False)
    assert "password:" not in again
    assert "mosaic manage changepassword admin" in again


def test_an_admin_password_typed_at_the_prompt_is_validated_and_never_shown(
    db: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.contrib.auth import authenticate

    from mosaic import server_commands

    answers = iter(
        ["bad name!", "ada", "short", "Long-enough-pw-42", "typo", "Long-enough-pw-42",
         "Long-enough-pw-42"]
    )  # fmt: skip
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    line = server_commands.ensure_admin(interactive=True)
    shown = capsys.readouterr().out
    assert "Enter a valid username." in shown
    assert "This password is too short." in shown
    assert "The two passwords differ" in shown
    assert "Long-enough-pw-42" not in line + shown
    assert line.startswith("Admin user:   ada   ")
    assert authenticate(username="ada", password="Long-enough-pw-42") is not None


def test_the_banner_gives_the_mosaic_command_the_user_can_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mosaic import server_commands

    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the virtualenv is not on the PATH
    checkout = Path(sys.executable).parent.parent.parent
    monkeypatch.chdir(checkout)
    banner = server_commands._banner(
        host="127.0.0.1", port=8000, state=checkout / "var", admin_line="Admin user: a",
        username="a",
    )  # fmt: skip
    venv_mosaic = os.path.relpath(Path(sys.executable).parent / "mosaic", checkout)
    assert f"{venv_mosaic} login --server http://127.0.0.1:8000 --username a\n" in banner
    assert f"    {venv_mosaic} chat\n" in banner


def test_a_port_in_use_says_how_to_choose_another_with_make(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from mosaic.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("MOSAIC_STATE_DIR", str(tmp_path))
        monkeypatch.setenv("MOSAIC_PORT", str(port))
        assert main(["run", "--no-input"]) == 2
    error = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in error
    assert f"`MOSAIC_PORT={port + 1} make run`" in error
    assert not (tmp_path / "postgres").exists()  # refused before starting anything
