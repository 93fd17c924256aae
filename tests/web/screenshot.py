"""Take the README's screenshot of the chat view (a script, not a test).

Start Mosaic with the fake Anthropic upstream so that the picture needs no provider key::

    python -m mosaic.fakes.serve anthropic --port 9100 --text "$(cat docs/web-screenshot-reply.md)" &
    ANTHROPIC_BASE_URL=http://127.0.0.1:9100 ANTHROPIC_API_KEY=fake make run
    python -m tests.web.screenshot --username admin --password '…' --out docs/web-chat.png

It signs in, asks a question, pins a model with /model, asks again, and saves the chat view.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from tests.web.conftest import CHROMIUM_ARGS, chromium_path

QUESTIONS = ["Show me a small asyncio example in Python", "And once more, briefly"]


async def take(server: str, username: str, password: str, out: Path, width: int) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": width, "height": 860})
        await page.goto(f"{server}/login/")
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url(f"{server}/")
        await page.goto(f"{server}/chat/")
        await page.wait_for_selector("#connection[data-state=ready]")
        box = page.get_by_label("Message")
        for number, text in enumerate([QUESTIONS[0], "/model claude-sonnet-4-6", QUESTIONS[1]]):
            await box.fill(text)
            await box.press("Enter")
            if text.startswith("/"):
                await page.locator(".msg.command").last.wait_for()
            else:
                await page.locator("article .route").nth(number // 2).wait_for(timeout=60_000)
        await page.locator("#messages").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/web-chat.png"))
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    asyncio.run(take(args.server.rstrip("/"), args.username, args.password, args.out, args.width))
    print(f"Saved {args.out}")


if __name__ == "__main__":
    main()
