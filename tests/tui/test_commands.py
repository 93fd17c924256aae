"""``mosaic conversations`` and ``mosaic search`` against a real daphne; ``-c`` with a short id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mosaic.cli import main
from mosaic.client import config as client_config
from mosaic.tui.commands import resolve_conversation_id, snippet_text
from tests.tui.conftest import ChatServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def logged_in(
    chat_server: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ChatServer:
    monkeypatch.setenv("MOSAIC_CLIENT_CONFIG", str(tmp_path / "client.json"))
    monkeypatch.setenv("COLUMNS", "200")
    client_config.save(
        client_config.ClientConfig(
            server=chat_server.url, token=chat_server.token, username="alice"
        )
    )
    return chat_server


@pytest.fixture
def alices_conversations(alice: Any, bob: Any) -> list[Any]:
    from conversations import services

    made = []
    for title, text in (
        ("Tea notes", "I like green tea with jasmine."),
        ("Trip plans", "Book the train to Lyon."),
    ):
        conversation = services.conversation_create(user=alice, title=title)
        services.message_persist_user(
            user=alice, conversation_id=conversation.pk, content=text, client_id=f"c-{title}"
        )
        made.append(conversation)
    bobs = services.conversation_create(user=bob, title="Bob's secret tea")
    services.message_persist_user(
        user=bob, conversation_id=bobs.pk, content="jasmine tea is mine", client_id="c-bob"
    )
    return made


def test_conversations_lists_mine_with_id_title_update_and_count(
    logged_in: ChatServer, alices_conversations: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["conversations"]) == 0
    out = capsys.readouterr().out
    for conversation in alices_conversations:
        assert str(conversation.pk)[:8] in out  # the short id, which `mosaic chat -c` accepts
        assert conversation.title in out
    assert "Bob's secret tea" not in out
    assert "Msgs" in out
    assert main(["conversations", "--full-ids"]) == 0
    full = capsys.readouterr().out
    assert all(str(c.pk) in full for c in alices_conversations)
    assert "Updated" in out


def test_search_shows_matching_messages_of_mine_only(
    logged_in: ChatServer, alices_conversations: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "jasmine"]) == 0
    out = capsys.readouterr().out
    assert "Tea notes" in out
    assert "jasmine" in out
    assert str(alices_conversations[0].pk)[:8] in out
    assert "Bob" not in out

    assert main(["search", "zeppelin"]) == 0
    assert "No messages match 'zeppelin'." in capsys.readouterr().out


def test_list_commands_without_a_server_say_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.live import free_port

    monkeypatch.setenv("MOSAIC_CLIENT_CONFIG", str(tmp_path / "client.json"))
    server = f"http://127.0.0.1:{free_port()}"
    client_config.save(client_config.ClientConfig(server=server, token="mos_x", username="alice"))
    assert main(["conversations"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert server in err[0]


def test_a_short_conversation_id_is_resolved(
    logged_in: ChatServer, alices_conversations: list[Any]
) -> None:
    from mosaic.client.http import ApiClient

    api = ApiClient(logged_in.url, logged_in.token)
    wanted = str(alices_conversations[1].pk)
    assert resolve_conversation_id(api, wanted[:8]) == wanted
    assert resolve_conversation_id(api, wanted.upper()) == wanted
    with pytest.raises(Exception, match="not found: `mosaic conversations` lists yours"):
        resolve_conversation_id(api, "ffffffff")


def test_snippet_marks_become_highlights_and_html_is_unescaped() -> None:
    text = snippet_text("I like &lt;b&gt;green&lt;/b&gt; <mark>tea</mark> a lot")
    assert text.plain == "I like <b>green</b> tea a lot"
    (span,) = text.spans
    assert text.plain[span.start : span.end] == "tea"
