"""The chat page in a real browser: sign in, chat with streaming and route lines, resume, /model."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from conversations.models import Message
from mosaic.fakes.base import Script
from tests.web.conftest import BROWSER_TESTS, sign_in
from tests.web.helpers import conversation_of, new_chat, send, stored_messages

pytestmark = BROWSER_TESTS


async def test_sign_in_by_keyboard_chat_and_see_the_streamed_reply_with_its_route_line(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    reply = "Here is **bold** and code:\n\n```python\ndef hello():\n    return 'hi'\n```\n"
    fake_anthropic.script(Script(text=reply, chunk_size=4, delay=0.02))
    await page.goto(f"{web_server.http_url}/chat/")  # asks for sign-in, then comes back
    # The form focuses the username field itself (autofocus); a loaded machine may take a
    # moment to, and keys typed before it would go nowhere.
    await page.wait_for_function("() => document.activeElement?.id === 'id_username'")
    await page.keyboard.type("alice")
    await page.keyboard.press("Tab")
    await page.keyboard.type("alice-Secret-pw-1")
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#connection[data-state=ready]")
    assert await page.evaluate("() => document.activeElement.id") == "input"

    await page.keyboard.type("what time is it")
    await page.keyboard.press("Enter")
    answer = page.locator("article.msg.assistant").last
    # Streaming: the reply shows while it is being written, with the Stop button.
    await answer.locator("[data-status=streaming], .markdown").first.wait_for()
    await answer.locator(".route").wait_for()
    assert await answer.locator("strong").inner_text() == "bold"
    assert await answer.locator("pre code .tok-keyword").first.inner_text() == "def"
    route = await answer.locator(".route").inner_text()
    assert "anthropic:claude-haiku-4-5" in route
    assert "simple" in route  # the routing reason names the classification
    assert "tok" in route
    assert await page.locator("#stop").is_hidden()
    stored = await sync_to_async(stored_messages)(conversation_of(page))
    assert stored == [("user", "what time is it"), ("assistant", reply)]
    assert page.errors == []


async def test_a_reload_resumes_the_conversation_with_its_route_lines(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="First answer."), Script(text="Second answer."))
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, "hello there")
    await page.locator("article .route").first.wait_for()
    await send(page, "and again")
    await page.locator("article .route").nth(1).wait_for()
    answered_by = (await page.locator("article .route").nth(1).inner_text()).split(" · ")[0]
    url = page.url

    await page.reload()
    await page.wait_for_selector("#connection[data-state=ready]")
    assert page.url == url
    assert await page.locator(".msg.user").all_inner_texts() == ["hello there", "and again"]
    answers = page.locator("article.msg.assistant")
    assert [t.strip() for t in await answers.locator(".markdown").all_inner_texts()] == [
        "First answer.",
        "Second answer.",
    ]
    assert await answers.locator(".route").count() == 2
    # The stored route line names the model that answered, as the live one did.
    assert answered_by.startswith("↳ anthropic:")
    route = await answers.nth(1).locator(".route").inner_text()
    assert route.split(" · ")[0] == answered_by
    assert await page.locator("#title").inner_text() == "hello there"
    # The list shows it too, and opens it again.
    await page.goto(f"{web_server.http_url}/")
    await page.get_by_role("link", name="hello there").click()
    await page.wait_for_selector("#connection[data-state=ready]")
    assert page.url == url
    assert await page.locator(".msg.user").count() == 2


async def test_model_command_pins_the_model_and_the_route_line_says_override(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Pinned answer."))
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, "/model claude-sonnet-4-6")
    result = page.locator(".msg.command").last
    await result.wait_for()
    assert "claude-sonnet-4-6" in await result.inner_text()
    await page.wait_for_selector("#model[data-pinned=true]")
    assert "anthropic:claude-sonnet-4-6 (pinned)" in await page.locator("#model").inner_text()

    await send(page, "what time is it")
    route = page.locator("article .route").last
    await route.wait_for()
    assert "anthropic:claude-sonnet-4-6" in await route.inner_text()
    assert await route.locator(".tag-override").inner_text() == "override"
    assert fake_anthropic.chat_requests()[-1].json["model"] == "claude-sonnet-4-6"

    await send(page, "/help")
    help_box = page.locator(".msg.command").last
    await help_box.get_by_text("/agent <slug>").wait_for()
    assert "Esc" in await help_box.inner_text()


async def test_stop_cancels_the_reply_and_the_route_line_says_so(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="word " * 400, chunk_size=5, delay=0.02))
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, "write a long story")
    await page.locator("article.msg.assistant[data-status=streaming]").wait_for()
    await page.get_by_role("button", name="Stop").click()
    route = page.locator("article .route").last
    await route.wait_for()
    assert "cancelled" in await route.inner_text()
    assert await page.locator("#stop").is_hidden()
    stored = await sync_to_async(
        lambda: Message.objects.get(conversation_id=conversation_of(page), role="assistant")
    )()
    assert stored.status == "cancelled"
    assert len(stored.content) < len("word " * 400)


async def test_a_refused_message_says_why_and_goes_back_into_the_box(
    alice: Any, web_server: Any, page: Any
) -> None:
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    too_big = "x" * (300 * 1024)
    await page.get_by_label("Message").fill(too_big)
    await page.get_by_role("button", name="Send").click()
    error = page.get_by_role("alert").last
    await error.wait_for()
    assert "limit" in await error.inner_text()
    assert await page.get_by_label("Message").input_value() == too_big
    assert await page.locator("#stop").is_hidden()


async def test_the_chat_reads_at_360_px_without_sideways_scrolling(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    wide_code = "```python\n" + "x = '" + "long" * 60 + "'\n```\n" + "a" * 300
    fake_anthropic.script(Script(text=wide_code))
    await page.set_viewport_size({"width": 360, "height": 740})
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, "show me a long line")
    await page.locator("article .route").wait_for()
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert await page.locator(".sidebar").is_hidden()
    box = await page.get_by_label("Message").bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 360
