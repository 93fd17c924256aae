"""The page live beside the terminal, and through a dropped connection: each message once."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from asgiref.sync import sync_to_async

from conversations.models import Message
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type, text_of
from tests.conftest import token_for
from tests.web.conftest import BROWSER_TESTS, sign_in
from tests.web.helpers import conversation_of, new_chat, send, stored_messages

pytestmark = BROWSER_TESTS


async def test_a_turn_from_the_terminal_streams_into_the_page_and_back_each_message_once(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    fake_anthropic.script(Script(text="Hello, browser."))
    await send(page, "hello from the browser")
    await page.locator("article .route").first.wait_for()
    conversation_id = conversation_of(page)

    # The terminal: a protocol-v1 client with a bearer token, as `mosaic chat -c` is.
    terminal = await ChatClient.connect_url(
        web_server.ws_url, await sync_to_async(token_for)(alice)
    )
    _, history = await terminal.open(conversation_id=conversation_id)
    assert [m["content"] for m in history["messages"]] == [
        "hello from the browser",
        "Hello, browser.",
    ]
    reply = "Streaming " + "to both sides " * 20
    fake_anthropic.script(Script(text=reply, chunk_size=6, delay=0.02))
    await terminal.send(
        {"type": "message:send", "content": "hello from the terminal", "client_id": "t-1"}
    )
    # The page shows the terminal's message and the reply while it streams.
    await page.get_by_text("hello from the terminal").wait_for()
    await page.locator("article.msg.assistant[data-status=streaming]").wait_for()
    await page.locator("article .route").nth(1).wait_for()
    terminal_frames = await terminal.until("message:done")
    assert text_of(terminal_frames) == reply

    # And the other way round: the page's message and reply reach the terminal.
    fake_anthropic.script(Script(text="Back to you."))
    await send(page, "hello again from the browser")
    frames = await terminal.until("message:done")
    created = of_type(frames, "message:created")
    assert [f["message"]["content"] for f in created] == ["hello again from the browser"]
    assert text_of(frames) == "Back to you."
    await page.locator("article .route").nth(2).wait_for()
    await terminal.close()

    assert await page.locator(".msg.user").all_inner_texts() == [
        "hello from the browser",
        "hello from the terminal",
        "hello again from the browser",
    ]
    answers = await page.locator("article.msg.assistant .markdown").all_inner_texts()
    assert [a.strip() for a in answers] == ["Hello, browser.", reply.strip(), "Back to you."]
    stored = await sync_to_async(stored_messages)(conversation_id)
    assert [role for role, _ in stored] == ["user", "assistant"] * 3


async def test_after_a_drop_the_unacknowledged_message_is_resent_once_and_answered_once(
    alice: Any, web_server: Any, page: Any, fake_anthropic: Any
) -> None:
    """The socket drops after the server stored the message but before the page saw the ack;
    the page reconnects, resends with the same client_id, and shows one message, one reply."""
    reply = "Survived the drop " * 15
    fake_anthropic.script(Script(text=reply, chunk_size=8, delay=0.03))
    dropped: list[str] = []
    sockets: list[Any] = []
    closing: list[Any] = []

    def relay(route: Any) -> None:
        sockets.append(route)
        server = route.connect_to_server()
        route.on_message(server.send)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame["type"] == "message:ack" and not dropped:
                dropped.append(frame["client_id"])
                closing.append(asyncio.ensure_future(route.close(code=4000, reason="test drop")))
                return
            route.send(message)

        server.on_message(from_server)

    await page.route_web_socket(re.compile(r"/ws/chat/$"), relay)
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, "please survive a drop")

    await page.locator("article .route").wait_for()
    assert len(sockets) >= 2  # it reconnected
    assert await page.locator(".msg.user").all_inner_texts() == ["please survive a drop"]
    answers = await page.locator("article.msg.assistant .markdown").all_inner_texts()
    assert [a.strip() for a in answers] == [reply.strip()]
    conversation_id = conversation_of(page)
    stored = await sync_to_async(stored_messages)(conversation_id)
    assert stored == [("user", "please survive a drop"), ("assistant", reply)]
    assert len(fake_anthropic.chat_requests()) == 1
    user_row = await sync_to_async(
        lambda: Message.objects.get(conversation_id=conversation_id, role="user")
    )()
    assert user_row.client_id == dropped[0]
