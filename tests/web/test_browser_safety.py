"""Nothing a model or a user writes can run in the page: the XSS cases, in a real browser.

The page is loaded with its Content-Security-Policy bypassed, so that these tests prove the
renderer safe by itself (the policy is a second wall, checked in test_pages.py).
"""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from mosaic.fakes.base import Script
from tests.web.conftest import BROWSER_TESTS, sign_in
from tests.web.helpers import new_chat, send

pytestmark = BROWSER_TESTS

HOSTILE_REPLY = "\n".join(
    [
        "Plain <script>window.__xss = 'script'</script> text.",
        '<img src="x" onerror="window.__xss = \'img\'">',
        "[click me](javascript:window.__xss='link')",
        "[spaced](  javascript:window.__xss='spaced' )",
        "[encoded](java&#115;cript:window.__xss='encoded')",
        "[data](data:text/html,<script>window.__xss='data'</script>)",
        "![pic](javascript:window.__xss='image')",
        "<javascript:window.__xss='autolink'>",
        "<a href=\"javascript:window.__xss='anchor'\">raw anchor</a>",
        "**<b onmouseover=\"window.__xss='bold'\">html in bold</b>**",
        "<svg onload=\"window.__xss='svg'\"></svg>",
        "<iframe src=\"javascript:window.__xss='iframe'\"></iframe>",
        "| <img src=x onerror=\"window.__xss='table'\"> | cell |",
        "| --- | --- |",
        "| <script>window.__xss='cell'</script> | x |",
        "",
        "```html",
        "<script>window.__xss = 'code'</script>",
        "```",
        "",
        "[a safe link](https://example.com/path?q=1)",
    ]
)
HOSTILE_USER = (
    "<img src=x onerror=\"window.__xss='user'\"> and <script>window.__xss='user2'</script>"
)

# Any element that could run code or load something, inside the message list.
DANGEROUS = "script, img, iframe, svg, object, embed, a[href^='javascript'], a[href^='data']"


@pytest_asyncio.fixture(loop_scope="module")
async def csp_free_page(browser: Any) -> Any:
    context = await browser.new_context(bypass_csp=True)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    yield page
    await context.close()


async def on_handler_attributes(page: Any) -> list[str]:
    return list(
        await page.evaluate(
            """() => [...document.querySelectorAll('#messages *')]
                 .flatMap(el => [...el.attributes].map(a => a.name))
                 .filter(name => name.startsWith('on'))"""
        )
    )


async def test_hostile_markup_from_the_model_and_the_user_shows_as_text_and_never_runs(
    alice: Any, web_server: Any, csp_free_page: Any, fake_anthropic: Any
) -> None:
    page = csp_free_page
    fake_anthropic.script(Script(text=HOSTILE_REPLY, chunk_size=7))
    await sign_in(page, web_server)
    await new_chat(page, web_server)
    await send(page, HOSTILE_USER)
    answer = page.locator("article.msg.assistant").last
    await answer.locator(".route").wait_for()

    for check in ("live", "after reload"):
        assert await page.locator(f"#messages :is({DANGEROUS})").count() == 0, check
        assert await on_handler_attributes(page) == [], check
        assert await page.evaluate("() => window.__xss") is None, check
        text = await page.locator("#messages").inner_text()
        assert "<script>window.__xss = 'script'</script>" in text
        assert '<img src="x" onerror=' in text
        assert "[click me](javascript:window.__xss='link')" in text
        assert "<b onmouseover=" in await answer.locator("strong").first.inner_text()
        assert (
            "<script>window.__xss = 'code'</script>"
            in await answer.locator("pre code").inner_text()
        )
        assert await page.locator(".msg.user").last.inner_text() == HOSTILE_USER
        # The one safe link is a link, opened without handing over the page.
        safe = page.get_by_role("link", name="a safe link")
        assert await safe.get_attribute("href") == "https://example.com/path?q=1"
        assert "noopener" in (await safe.get_attribute("rel") or "")
        # Hovering and clicking what looks like a link does nothing either.
        await page.get_by_text("html in bold").hover()
        await page.reload()
        await answer.locator(".route").wait_for()
    assert await page.evaluate("() => window.__xss") is None
    # The conversation's title (from the user's message) is text in the page and the list.
    await page.goto(f"{web_server.http_url}/")
    assert await page.locator("img").count() == 0
    assert "<img src=x" in await page.locator("ol.conversations").inner_text()
