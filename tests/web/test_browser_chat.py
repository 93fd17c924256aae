"""The chat page in a real browser: sign in, chat with streaming and route lines, resume, /model."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from conversations.models import Message
from tests.fakes.base import Script
from tests.web.conftest import BROWSER_TESTS, sign_in

pytestmark = BROWSER_TESTS


async def send(page: Any, text: str) -> None:
    box = page.get_by_label("Message")
    await box.fill(text)
    await box.press("Enter")


def stored_messages(conversation_id: str) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("sequence")
        .values_list("role", "content")
    )


async def test_sign_in_chat_and_see_the_streamed_reply_with_its_route_line(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    reply = "Here is **bold** and code:\n\n```python\ndef hello():\n    return 'hi'\n```\n"
    fake_anthropic.script(Script(text=reply, chunk_size=4, delay=0.02))
    await sign_in(page, web_server)
    await page.get_by_role("link", name="New chat").click()
    await page.wait_for_selector("#connection[data-state=ready]")

    await send(page, "what time is it")

    answer = page.locator("article.msg.assistant").last
    await answer.locator(".route").wait_for()
    assert await answer.locator("strong").inner_text() == "bold"
    assert await answer.locator("pre code .tok-keyword").first.inner_text() == "def"
    route = await answer.locator(".route").inner_text()
    assert "anthropic:claude-haiku-4-5" in route
    assert "simple" in route  # the routing reason names the classification
    # The URL now names the conversation, which the database holds with both messages.
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    stored = await sync_to_async(stored_messages)(conversation_id)
    assert stored == [("user", "what time is it"), ("assistant", reply)]
    assert page.errors == []
