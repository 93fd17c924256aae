"""Browser tests: Debian's Chromium driven by Playwright for Python, against a real daphne.

Nothing is downloaded at run time: Playwright is given the system browser's executable. The
tests use Playwright's asyncio API (its sync API runs an event loop around the test, where
Django refuses database calls), on one event loop per module so that the browser is started
once per module: mark browser test modules with ``BROWSER_TESTS``. Without Chromium (or
Playwright) the browser tests are left out with one line saying why; CI sets
MOSAIC_REQUIRE_BROWSER=1 (``.ci/run``), which turns a missing browser into a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.live import LiveProcess, start_daphne

# A loaded machine (two cores shared by many) can take far longer than usual to import the
# provider SDKs; a slow start is not a failure of the page.
SERVER_START_SECONDS = 120.0

CHROMIUM_ARGS = [
    "--no-sandbox",  # runs as root on CI machines
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machines' network is closed: without these Chromium keeps trying to reach Google.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    explicit = os.environ.get("MOSAIC_CHROMIUM")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (make install)"
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a browser, leave the browser tests out and say so once, not once per test."""
    missing = _missing_browser()
    if missing is None or os.environ.get("MOSAIC_REQUIRE_BROWSER"):
        return
    left_out = [item for item in items if "browser" in getattr(item, "fixturenames", ())]
    if not left_out:
        return
    items[:] = [item for item in items if item not in left_out]
    config.hook.pytest_deselected(items=left_out)
    config.stash[_BROWSER_NOTE] = f"{len(left_out)} browser tests skipped: {missing}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    note = config.stash.get(_BROWSER_NOTE, "")
    if note:
        terminalreporter.write_line(note, yellow=True)


_BROWSER_NOTE = pytest.StashKey[str]()

BROWSER_TESTS = [
    pytest.mark.e2e,
    # The first test of a module also waits for the browser and the module's daphne to start.
    pytest.mark.timeout(SERVER_START_SECONDS + 120),
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio(loop_scope="module"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    missing = _missing_browser()
    if missing is not None:
        if os.environ.get("MOSAIC_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests cannot run: {missing}", pytrace=False)
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def collected_static() -> None:
    """The page's files where WhiteNoise serves them from, as ``mosaic run`` does."""
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


def _start_web_daphne(
    tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any, anthropic: Any
) -> LiveProcess:
    env = {"ANTHROPIC_BASE_URL": anthropic.base_url, "ANTHROPIC_API_KEY": "sk-ant-test-system-key"}
    with django_db_blocker.unblock():
        return start_daphne(tmp_path_factory.mktemp("web"), env, wait=SERVER_START_SECONDS)


@pytest.fixture(scope="package")
def live_web(
    collected_static: None,
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    _fake_anthropic_server: Any,
) -> Iterator[LiveProcess]:
    """One daphne for the browser and socket tests on the test database (each test still gets
    empty tables and a reset fake), with Anthropic as its one provider, the fake upstream: routes
    are then the same on every machine. Starting daphne costs seconds; the package shares one."""
    server = _start_web_daphne(tmp_path_factory, django_db_blocker, _fake_anthropic_server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def other_live_web(
    live_web: LiveProcess,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    _fake_anthropic_server: Any,
) -> Iterator[LiveProcess]:
    """A second daphne process on the same database and Redis (sockets on two processes)."""
    server = _start_web_daphne(tmp_path_factory, django_db_blocker, _fake_anthropic_server)
    yield server
    server.stop()


@pytest.fixture
def web_server(browser: Any, live_web: LiveProcess) -> LiveProcess:
    """The live server for a browser test (skipped, with the browser, when there is none)."""
    return live_web


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    await context.close()


async def sign_in(page: Any, server: LiveProcess, username: str = "alice") -> None:
    await page.goto(f"{server.http_url}/login/")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(f"{username}-Secret-pw-1")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.http_url}/")
