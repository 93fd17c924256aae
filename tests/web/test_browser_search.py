"""The conversation list's search box in a real browser: results follow what is typed."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from tests.conversations.factories import conversation_with
from tests.web.conftest import BROWSER_TESTS, sign_in

pytestmark = BROWSER_TESTS


async def test_results_follow_what_is_typed_reading_the_last_word_as_a_prefix(
    alice: Any, bob: Any, web_server: Any, page: Any
) -> None:
    await sync_to_async(conversation_with)(alice, "our connection pool is full", title="Pool")
    await sync_to_async(conversation_with)(alice, "one connection only", title="Only")
    await sync_to_async(conversation_with)(bob, "bob's connection pool", title="Bob's")
    await sign_in(page, web_server)
    await page.locator("#q").press_sequentially("connection poo", delay=40)
    results = page.locator("#results-area ol.results li")
    # The unfinished "poo" is read as a prefix: "pool" matches, "connection" alone does not.
    await page.wait_for_function(
        "() => document.querySelectorAll('#results-area ol.results li').length === 1"
    )
    assert await results.locator("a").inner_text() == "Pool"
    assert await results.locator("mark").all_inner_texts() == ["connection", "pool"]
    assert page.url.endswith("/?q=connection%20poo")  # the address is the search: reload keeps it
    # Erasing the query brings the conversation list back, without leaving the page.
    await page.locator("#q").fill("")
    await page.locator("#q").dispatch_event("input")
    await page.locator("#results-area ol.conversations").wait_for()
    assert sorted(await page.locator("ol.conversations li a").all_inner_texts()) == ["Only", "Pool"]
    assert page.errors == []
