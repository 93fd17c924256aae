"""`mosaic providers …` against a live daphne: the terminal is a real client of the REST API."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from mosaic.cli import main
from mosaic.fakes.anthropic import FakeAnthropic
from providers.models import ProviderCredential
from tests.conftest import make_user, token_for
from tests.fakes.oauth_server import FakeOAuthServer
from tests.live import PROJECT_DIR, LiveProcess

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

KEY = "sk-ant-api03-cli-typed-secret-abcd"

Run = Callable[..., tuple[int, str, str]]


def write_client_config(path: Path, server: str, token: str) -> None:
    path.write_text(json.dumps({"server": server, "token": token, "username": "alice"}))


@pytest.fixture
def start_server(
    live_server_factory: Any,
    shared_live_server: Any,
    live_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., LiveProcess]:
    """Start daphne with extra environment; log alice in against it. Without extra environment
    the module's tests share one daphne (``shared_live_server``)."""

    def start(**extra: str) -> LiveProcess:
        factory = live_server_factory if extra else shared_live_server
        live: LiveProcess = factory({**live_env, **extra})
        alice = make_user("alice")
        config = tmp_path / "client.json"
        write_client_config(config, live.http_url, token_for(alice))
        monkeypatch.setenv("MOSAIC_CLIENT_CONFIG", str(config))
        return live

    return start


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    def run_cli(*args: str, stdin: Any = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run_cli


def test_list_add_and_remove(start_server: Callable[..., LiveProcess], run: Run) -> None:
    start_server()
    code, out, _ = run("providers")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert rows["anthropic"] == ["unknown", "none"]
    assert rows["ollama"] == ["unknown", "none"]  # at its default URL and never found

    code, out, err = run(
        "providers", "add", "anthropic", "--label", "work", "--key-stdin", stdin=KEY + "\n"
    )
    assert code == 0, err
    assert "sk-…abcd" in out
    assert KEY not in out
    credential = ProviderCredential.objects.get(provider="anthropic")
    assert credential.api_key == KEY
    assert credential.label == "work"

    code, out, _ = run("providers", "list")
    assert "yours (sk-…abcd)" in out
    assert str(credential.pk) in out
    assert KEY not in out

    code, out, _ = run("providers", "remove", str(credential.pk))
    assert code == 0
    assert f"Removed credential {credential.pk}." in out
    assert not ProviderCredential.objects.exists()


def test_another_users_credential_is_not_found_in_one_line(
    start_server: Callable[..., LiveProcess], run: Run
) -> None:
    start_server()
    bob = make_user("bob")
    bobs = ProviderCredential.objects.create(
        owner=bob, provider="openai", api_key="sk-bob-000000000000000000"
    )
    code, _out, err = run("providers", "remove", str(bobs.pk))
    assert code == 2
    assert err == "mosaic: No such credential.\n"
    assert ProviderCredential.objects.filter(pk=bobs.pk).exists()


def test_login_without_oauth_configured_says_so_in_one_sentence(
    start_server: Callable[..., LiveProcess], run: Run
) -> None:
    start_server()
    code, out, err = run("providers", "login", "anthropic")
    assert code == 2
    assert err.startswith(
        "mosaic: OAuth for anthropic is not configured on this server: ask the operator"
    )
    assert "`mosaic providers add anthropic`" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err + out


class PasteAfterApproving(io.StringIO):
    """stdin for `login`: when the command waits for the code, "open" the URL it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__()
        self.capsys = capsys
        self.printed = ""
        self.authorize_url = ""

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        self.printed = self.capsys.readouterr().out
        match = re.search(r"(http://\S+/authorize\?\S+)", self.printed)
        assert match, self.printed
        self.authorize_url = match.group(1)
        redirect = httpx.get(self.authorize_url, follow_redirects=False)
        query = parse_qs(urlparse(redirect.headers["location"]).query)
        return f"{query['code'][0]}#{query['state'][0]}\n"


def test_login_with_a_pasted_code(
    start_server: Callable[..., LiveProcess],
    run: Run,
    fake_oauth: FakeOAuthServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = start_server(**fake_oauth.env("anthropic"))
    stdin = PasteAfterApproving(capsys)
    code, out, err = run("providers", "login", "anthropic", "--code-stdin", stdin=stdin)
    assert code == 0, err
    assert "Open this URL" in stdin.printed
    query = parse_qs(urlparse(stdin.authorize_url).query)
    assert query["redirect_uri"] == [f"{live.http_url}/api/providers/oauth/callback"]
    assert "Logged in to anthropic with OAuth" in out
    credential = ProviderCredential.objects.get()
    assert credential.kind == "oauth"
    assert credential.access_token == fake_oauth.state.access_tokens[-1]


def test_login_with_the_device_flow(
    start_server: Callable[..., LiveProcess], run: Run, fake_oauth: FakeOAuthServer
) -> None:
    start_server(**fake_oauth.env("openai"))
    fake_oauth.auto_approve_after_polls = 1
    code, out, err = run("providers", "login", "openai", "--device")
    assert code == 0, err
    assert re.search(r"enter the code \d{4}-\d{4}", out)
    assert "Logged in to openai with OAuth" in out
    assert ProviderCredential.objects.get().provider == "openai"


def add_a_key_served_by(fake_anthropic: FakeAnthropic, run: Run) -> ProviderCredential:
    """Alice adds an Anthropic key from the terminal; its endpoint is the fake."""
    run("providers", "add", "anthropic", "--key-stdin", stdin=KEY + "\n")
    ProviderCredential.objects.update(base_url=fake_anthropic.base_url)
    return ProviderCredential.objects.get()


def test_test_health_and_models(
    start_server: Callable[..., LiveProcess], run: Run, fake_anthropic: FakeAnthropic
) -> None:
    start_server()
    credential = add_a_key_served_by(fake_anthropic, run)

    code, out, _ = run("providers", "test", str(credential.pk))
    assert code == 0
    assert re.match(r"anthropic: healthy \(\d+ ms\)", out)

    code, out, _ = run("providers", "health")
    assert code == 0
    assert out.splitlines()[0].split() == ["PROVIDER", "STATUS", "LATENCY", "CHECKED", "ERROR"]
    assert "never" in out

    code, out, _ = run("providers", "models")
    assert code == 0
    assert "anthropic:claude-sonnet-4-6" in out
    assert "openai:" not in out


def test_not_logged_in_is_one_line(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOSAIC_CLIENT_CONFIG", str(tmp_path / "missing.json"))
    code, _, err = run("providers")
    assert code == 2
    assert err == "mosaic: you are not logged in; run `mosaic login --server URL` first.\n"


def test_the_console_script_runs_the_command(
    start_server: Callable[..., LiveProcess], tmp_path: Path
) -> None:
    start_server()
    result = subprocess.run(
        [sys.executable, "-m", "mosaic.cli", "providers"],
        cwd=PROJECT_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PROVIDER")


def test_test_and_remove_take_a_provider_name_or_the_start_of_an_id(
    start_server: Callable[..., LiveProcess], run: Run, fake_anthropic: FakeAnthropic
) -> None:
    start_server()
    credential = add_a_key_served_by(fake_anthropic, run)

    code, out, err = run("providers", "test", "anthropic")
    assert code == 0, err
    assert re.match(r"anthropic: healthy \(\d+ ms\)\n$", out)
    code, out, err = run("providers", "test", str(credential.pk)[:8])
    assert code == 0, err
    assert out.startswith("anthropic: healthy")

    code, out, err = run("providers", "remove", str(credential.pk)[:6])
    assert code == 0, err
    assert out == f"Removed credential {credential.pk}.\n"
    assert not ProviderCredential.objects.exists()


def test_testing_a_provider_on_the_system_credential_shows_its_last_probe(
    start_server: Callable[..., LiveProcess], run: Run
) -> None:
    from django.utils import timezone

    from providers.models import ProviderHealth

    ProviderHealth.objects.create(
        provider="anthropic", status="healthy", latency_ms=231.487, checked_at=timezone.now()
    )
    start_server(ANTHROPIC_API_KEY="sk-ant-system-key-0000000000")
    code, out, err = run("providers", "test", "anthropic")
    assert code == 0, err
    assert out.startswith("anthropic: healthy (231 ms) (the system-wide credential's last probe")
    code, _, err = run("providers", "remove", "anthropic")
    assert code == 2
    assert "uses the system-wide one, which only an admin can change" in err


def test_a_reference_to_nothing_is_one_line_and_html_never_reaches_the_terminal(
    start_server: Callable[..., LiveProcess], run: Run
) -> None:
    from mosaic.client.http import ApiClient, ClientError

    live = start_server()
    code, out, err = run("providers", "test", "nosuch")
    assert code == 2
    assert err == (
        "mosaic: 'nosuch' is neither a provider (anthropic, openai, openrouter, zai, ollama) "
        "nor the start of one of your credential ids; `mosaic providers` lists them.\n"
    )
    code, _, err = run("providers", "test", "openai")
    assert err == "mosaic: you have no openai credential; `mosaic providers add openai` adds one.\n"
    code, _, err = run("providers", "test", "0123abcd")
    assert code == 2
    assert "<" not in out + err

    # A path the server does not have answers Django's HTML 404 page: the client says so in words.
    api = ApiClient(live.http_url, token_for(make_user("dora")))
    with pytest.raises(ClientError) as caught:
        api.request("POST", "/api/providers/anthropic/test")
    assert str(caught.value) == f"{live.http_url} has no /api/providers/anthropic/test."
