"""``mosaic chat``, ``mosaic conversations`` and ``mosaic search``: registered into ``mosaic``.

All three use the server URL and token that ``mosaic login`` stored (``--server`` overrides
the URL) and talk to the server over HTTP(S)/WS(S) only.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mosaic.client import config as client_config
from mosaic.client.http import ApiClient, ClientError
from mosaic.console import CommandError

NOT_LOGGED_IN = "Not logged in: run `mosaic login --server http://HOST:PORT` first."


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("chat", help="chat with your agents in the terminal")
    p.add_argument("--server", help="server URL (default: the one `mosaic login` stored)")
    p.add_argument(
        "-c", "--conversation", help="resume a conversation (its id, or the start of it)"
    )
    p.add_argument("--agent", help="agent slug for a new conversation (e.g. coding-agent)")
    p.add_argument("--model", help="pin a model for this session (e.g. claude-sonnet-4-6)")
    p.set_defaults(func=cmd_chat)

    p = subparsers.add_parser("conversations", help="list your conversations")
    p.add_argument("--server", help="server URL (default: the one `mosaic login` stored)")
    p.add_argument("-n", "--limit", type=int, default=50, help="show at most this many (50)")
    p.add_argument(
        "--full-ids", action="store_true", help="show whole ids, not their first 8 characters"
    )
    p.set_defaults(func=cmd_conversations)

    p = subparsers.add_parser("search", help="full-text search over your messages")
    p.add_argument("query", nargs="+", help="words to look for")
    p.add_argument("--server", help="server URL (default: the one `mosaic login` stored)")
    p.add_argument("-n", "--limit", type=int, default=20, help="show at most this many (20)")
    p.set_defaults(func=cmd_search)


def _login(args: argparse.Namespace) -> tuple[str, str]:
    stored = client_config.load()
    if not stored.token:
        raise CommandError(NOT_LOGGED_IN)
    server = (args.server or stored.server or "").rstrip("/")
    if not server:
        raise CommandError(NOT_LOGGED_IN)
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"{server!r} is not a server URL like http://127.0.0.1:8000.")
    return server, stored.token


# --- chat ------------------------------------------------------------------------------------------


def cmd_chat(args: argparse.Namespace) -> int:
    server, token = _login(args)
    conversation_id = None
    if args.conversation:
        conversation_id = resolve_conversation_id(ApiClient(server, token), args.conversation)
    code, message = asyncio.run(
        run_chat(server, token, conversation_id=conversation_id, agent=args.agent, model=args.model)
    )
    if message:
        raise CommandError(message)
    return code


async def run_chat(
    server: str,
    token: str,
    *,
    conversation_id: str | None = None,
    agent: str | None = None,
    model: str | None = None,
) -> tuple[int, str]:
    """Connect, then run the full-screen chat. Returns (exit code, a sentence for the user)."""
    from mosaic.tui.app import ChatApp
    from mosaic.tui.client import ChatClient, ChatFatal

    client = ChatClient(server, token, conversation_id=conversation_id, agent=agent, model=model)
    try:
        # Connect before the screen switches, so that a refusal is one plain line on the terminal.
        async with asyncio.timeout(30):
            await client.wait_ready()
    except ChatFatal as exc:
        await client.close()
        return 2, exc.message
    except TimeoutError:
        await client.close()
        return 2, f"{server} did not open the conversation within 30 s; try again."
    app = ChatApp(client)
    code = await app.run_async()
    await client.close()
    if app.fatal:
        return 2, app.fatal
    return int(code or 0), ""


def resolve_conversation_id(api: ApiClient, ref: str) -> str:
    """A full id as is; the start of one (as ``mosaic conversations`` shows) looked up."""
    ref = ref.strip()
    try:
        return str(uuid.UUID(ref))
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-F-]{4,36}", ref):
        raise CommandError(f"{ref!r} is not a conversation id: `mosaic conversations` lists yours.")
    matches = [
        c for c in _conversations(api, limit=1000) if str(c.get("id", "")).startswith(ref.lower())
    ]
    if not matches:
        raise CommandError(f"Conversation {ref} not found: `mosaic conversations` lists yours.")
    if len(matches) > 1:
        raise CommandError(f"{ref} matches {len(matches)} conversations; give more of the id.")
    return str(matches[0]["id"])


# --- lists ---------------------------------------------------------------------------------------


def _pages(api: ApiClient, path: str, params: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Follow a DRF paginated list (``next`` links) until ``limit`` rows."""
    rows: list[dict[str, Any]] = []
    url: str | None = path
    first = True
    while url and len(rows) < limit:
        try:
            page = api.request("GET", url, params=params if first else None)
        except ClientError as exc:
            raise CommandError(_sentence(str(exc))) from None
        first = False
        if isinstance(page, list):  # an unpaginated list
            rows.extend(r for r in page if isinstance(r, dict))
            break
        if not isinstance(page, dict):
            break
        rows.extend(r for r in page.get("results", []) if isinstance(r, dict))
        next_url = page.get("next")
        # Stay on the server we were given: keep only the path and query of the link.
        url = _relative(next_url) if isinstance(next_url, str) and next_url else None
    return rows[:limit]


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _conversations(api: ApiClient, *, limit: int) -> list[dict[str, Any]]:
    return _pages(api, "/api/conversations", {}, limit)


def cmd_conversations(args: argparse.Namespace) -> int:
    from mosaic.tui.text import local_time

    server, token = _login(args)
    rows = _conversations(ApiClient(server, token), limit=max(1, args.limit))
    console = Console()
    if not rows:
        console.print("No conversations yet: `mosaic chat` starts one.")
        return 0
    table = Table(title=f"Conversations on {server}", title_justify="left", expand=False)
    # Short ids by default: `mosaic chat -c` takes a prefix, and whole ids leave no room for
    # the titles on an 80-column terminal.
    table.add_column("ID", no_wrap=True, style="cyan")
    table.add_column("Title", overflow="fold", min_width=16)
    table.add_column("Agent", no_wrap=True)
    table.add_column("Updated", no_wrap=True)
    table.add_column("Msgs", justify="right", no_wrap=True)
    for row in rows:
        title = Text(str(row.get("title") or "(untitled)"))
        if row.get("archived"):
            title.append(" (archived)", style="dim")
        conversation_id = str(row.get("id", ""))
        table.add_row(
            conversation_id if args.full_ids else conversation_id[:8],
            title,
            str(row.get("agent") or ""),
            local_time(str(row.get("updated_at") or "")),
            str(row.get("message_count", "")),
        )
    console.print(table)
    console.print(
        "Resume one with `mosaic chat -c ID` (the first 8 characters are enough).", style="dim"
    )
    return 0


_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def snippet_text(snippet: str) -> Text:
    """The server's snippet (HTML-escaped, hits in <mark>) as Rich text with highlighted hits."""
    text = Text()
    position = 0
    for match in _MARK.finditer(snippet):
        text.append(html.unescape(snippet[position : match.start()]))
        text.append(html.unescape(match.group(1)), style="bold black on yellow")
        position = match.end()
    text.append(html.unescape(snippet[position:]))
    return text


def cmd_search(args: argparse.Namespace) -> int:
    from mosaic.tui.text import local_time, short_id

    server, token = _login(args)
    query = " ".join(args.query).strip()
    if not query:
        raise CommandError("Give some words to search for.")
    rows = _pages(
        ApiClient(server, token), "/api/conversations/search", {"q": query}, max(1, args.limit)
    )
    console = Console()
    if not rows:
        console.print(f"No messages match {query!r}.")
        return 0
    table = Table(title=f"Messages matching {query!r}", title_justify="left")
    table.add_column("Conversation", overflow="fold", max_width=30)
    table.add_column("Role", no_wrap=True)
    table.add_column("Match", overflow="fold")
    table.add_column("When", no_wrap=True)
    for row in rows:
        where = Text(str(row.get("conversation_title") or "(untitled)"))
        where.append(f"\n{short_id(str(row.get('conversation_id', '')))}", style="cyan")
        table.add_row(
            where,
            str(row.get("role", "")),
            snippet_text(str(row.get("snippet", ""))),
            local_time(str(row.get("created_at") or "")),
        )
    console.print(table)
    console.print("Open one with `mosaic chat -c ID`.", style="dim")
    return 0
