"""The `mosaic` console script: login, createuser, the single-instance lock, `mosaic test`."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mosaic.cli import build_parser
from mosaic.local import AlreadyRunning, acquire_run_lock, ensure_local_secrets

PROJECT_DIR = Path(__file__).resolve().parent.parent


def mosaic(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mosaic.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.mark.e2e
def test_login_stores_a_working_token_readable_only_by_the_user(
    alice: Any, shared_live_server: Any, tmp_path: Path
) -> None:
    server = shared_live_server()
    config = tmp_path / "conf" / "client.json"
    result = mosaic(
        "login", "--server", server.http_url, "--username", "alice", "--password-stdin",
        stdin="alice-Secret-pw-1\n", env={"MOSAIC_CLIENT_CONFIG": str(config)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    import json

    saved = json.loads(config.read_text())
    assert saved["server"] == server.http_url
    me = httpx.get(
        f"{server.http_url}/api/auth/me", headers={"Authorization": f"Bearer {saved['token']}"}
    )
    assert me.json()["username"] == "alice"


@pytest.mark.e2e
def test_login_with_a_wrong_password_says_so_in_one_line(
    alice: Any, shared_live_server: Any, tmp_path: Path
) -> None:
    server = shared_live_server()
    config = tmp_path / "client.json"
    result = mosaic(
        "login", "--server", server.http_url, "--username", "alice", "--password-stdin",
        stdin="wrong\n", env={"MOSAIC_CLIENT_CONFIG": str(config)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "mosaic: invalid username or password."
    assert not config.exists()


def test_login_to_a_server_that_is_down_says_so(tmp_path: Path) -> None:
    result = mosaic(
        "login", "--server", "http://127.0.0.1:9", "--username", "x", "--password-stdin",
        stdin="pw\n", env={"MOSAIC_CLIENT_CONFIG": str(tmp_path / "c.json")},
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach the Mosaic server at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_createuser_makes_a_user_that_can_log_in(transactional_db: None, tmp_path: Path) -> None:
    from django.contrib.auth import authenticate

    from tests.live import server_env

    env = server_env()
    result = mosaic("createuser", "dora", "--password-stdin", stdin="dora-Long-pw-42\n", env=env)
    assert result.returncode == 0, result.stderr
    assert authenticate(username="dora", password="dora-Long-pw-42") is not None
    again = mosaic("createuser", "dora", "--password-stdin", stdin="dora-Long-pw-42\n", env=env)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    weak = mosaic("createuser", "eve", "--password-stdin", stdin="123\n", env=env)
    assert weak.returncode == 2
    assert "too short" in weak.stderr


def test_a_second_run_on_the_same_state_directory_refuses(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    lock = acquire_run_lock(state)
    try:
        with pytest.raises(AlreadyRunning):
            acquire_run_lock(state)
        result = mosaic("run", "--no-input", env={"MOSAIC_STATE_DIR": str(state)}, timeout=60)
        assert result.returncode == 2
        assert "already running" in result.stderr
        assert str(os.getpid()) in result.stderr
        assert not (state / "postgres").exists()  # it stopped before starting anything
    finally:
        lock.close()
    acquire_run_lock(state).close()  # free again once the first copy is gone


def test_local_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    env_file = ensure_local_secrets(tmp_path)
    first = env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "SECRET_KEY=" in first
    assert "MOSAIC_ENCRYPTION_KEYS=" in first
    ensure_local_secrets(tmp_path)
    assert env_file.read_text() == first


# --- finding the installation ------------------------------------------------------------------


def test_commands_run_from_a_checkout_use_its_var_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mosaic.services import default_state_dir

    monkeypatch.delenv("MOSAIC_STATE_DIR", raising=False)
    assert default_state_dir() == PROJECT_DIR / "var"  # where `make run` keeps it
    monkeypatch.setenv("MOSAIC_STATE_DIR", "/srv/mosaic")
    assert default_state_dir() == Path("/srv/mosaic")


def test_manage_on_a_state_directory_never_set_up_says_where_it_looked_and_creates_nothing(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "nothing-here"
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "mosaic.cli", "manage", "changepassword", "admin"],
        env={**env, "MOSAIC_STATE_DIR": str(empty)},
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"mosaic: there is no Mosaic installation in {empty}.")
    assert "MOSAIC_STATE_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert not empty.exists()


def test_missing_secrets_point_at_the_state_directory_not_at_a_new_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "MOSAIC_STATE_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "mosaic.settings"},
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert f"SECRET_KEY is not set: there is no {tmp_path / 'mosaic.env'}." in message
    assert "set MOSAIC_STATE_DIR to the state directory it uses" in message


@pytest.mark.e2e
def test_manage_changepassword_resets_a_password_at_the_terminal(
    transactional_db: None,
) -> None:
    from django.contrib.auth import authenticate

    from tests.conftest import make_user
    from tests.live import server_env
    from tests.terminal import Terminal

    make_user("dora")
    terminal = Terminal(
        [sys.executable, "-m", "mosaic.cli", "manage", "changepassword", "dora"], server_env()
    )
    try:
        terminal.expect(r"Password: ")
        terminal.type("A-new-Secret-pw-7\r")
        terminal.expect(r"Password \(again\): ")
        terminal.type("A-new-Secret-pw-7\r")
        assert terminal.wait() == 0, terminal.output
    finally:
        terminal.close()
    assert "Password changed successfully for user 'dora'" in terminal.output
    assert authenticate(username="dora", password="A-new-Secret-pw-7") is not None


@pytest.mark.parametrize(
    "argv",
    [
        ["-q", "-p", "no:cacheprovider"],
        ["tests/test_cli.py", "-x", "-k", "name"],
        ["--co", "tests"],
        [],
    ],
)
def test_mosaic_test_hands_every_argument_to_pytest_in_order(argv: list[str]) -> None:
    args = build_parser().parse_args(["test", *argv])
    assert args.pytest_args == argv
