"""What the browser tests do on the chat page, and read back from the database."""

from __future__ import annotations

from typing import Any

from conversations.models import Message


async def send(page: Any, text: str) -> None:
    """Type into the message box and press Enter, as a person does."""
    box = page.get_by_label("Message")
    await box.fill(text)
    await box.press("Enter")


async def new_chat(page: Any, server: Any) -> None:
    await page.goto(f"{server.http_url}/chat/")
    await page.wait_for_selector("#connection[data-state=ready]")


def conversation_of(page: Any) -> str:
    """The conversation the page shows (its id is the last part of the URL once opened)."""
    return str(page.url.rstrip("/").rsplit("/", 1)[-1])


def stored_messages(conversation_id: str) -> list[tuple[str, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("sequence")
        .values_list("role", "content")
    )
