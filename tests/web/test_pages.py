"""The server-rendered pages: the conversation list, search, the chat view; scoped by user."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.services import conversation_create, message_persist_user

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_shows_only_my_conversations_newest_first(alice: Any, bob: Any) -> None:
    older = conversation_create(user=alice, title="Older chat")
    newer = conversation_create(user=alice, title="Newer chat")
    conversation_create(user=bob, title="Bob's secret plans")
    message_persist_user(user=alice, conversation_id=newer.pk, content="hi", client_id="c1")
    page = signed_in(alice).get("/").content.decode()
    assert "Bob&#x27;s secret plans" not in page
    assert "Bob's secret plans" not in page
    assert page.index("Newer chat") < page.index("Older chat")
    assert f'href="/chat/{newer.pk}/"' in page
    assert f'href="/chat/{older.pk}/"' in page
    assert "1 message ·" in page


def test_search_finds_my_messages_with_escaped_highlighted_snippets(alice: Any, bob: Any) -> None:
    mine = conversation_create(user=alice, title="Tea <b>talk</b>")
    message_persist_user(
        user=alice,
        conversation_id=mine.pk,
        content="green tea with <script>alert(1)</script> please",
        client_id="a",
    )
    theirs = conversation_create(user=bob, title="Bob tea")
    message_persist_user(
        user=bob, conversation_id=theirs.pk, content="green tea too", client_id="b"
    )
    page = signed_in(alice).get("/", {"q": "green tea"}).content.decode()
    assert f'href="/chat/{mine.pk}/"' in page
    assert f"/chat/{theirs.pk}/" not in page
    assert "<mark>tea</mark>" in page
    assert "<script>" not in page  # the page's own modules are not inline
    assert "Tea &lt;b&gt;talk&lt;/b&gt;" in page


def test_a_search_that_is_too_long_says_so(alice: Any) -> None:
    page = signed_in(alice).get("/", {"q": "x" * 600}).content.decode()
    assert "longer than 500 characters" in page


def test_the_chat_view_resumes_my_conversation_and_404s_anyone_elses(alice: Any, bob: Any) -> None:
    mine = conversation_create(user=alice, title="Mine")
    theirs = conversation_create(user=bob, title="Theirs")
    client = signed_in(alice)
    page = client.get(f"/chat/{mine.pk}/")
    assert page.status_code == 200
    assert f'data-conversation-id="{mine.pk}"' in page.content.decode()
    assert client.get(f"/chat/{theirs.pk}/").status_code == 404
    assert client.get("/chat/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_pages_carry_a_content_security_policy_without_inline_script(alice: Any) -> None:
    client = signed_in(alice)
    for url in ["/", "/chat/", "/login/"]:
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "<script>" not in response.content.decode()  # modules only, by src


def test_the_page_s_own_javascript_and_css_stay_under_100_kb() -> None:
    from pathlib import Path

    import mosaic.web

    static = Path(mosaic.web.__file__).parent / "static" / "web"
    sizes = {
        path.name: path.stat().st_size
        for path in static.iterdir()
        if path.suffix in {".js", ".css"}
    }
    assert {"chat.js", "mosaic.css", "markdown.js", "connection.js"} <= sizes.keys()
    assert sum(sizes.values()) < 100 * 1024, sizes
