"""Plain-text formatting shared by the chat view and the list commands (no Textual here)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from mosaic.tui.frames import Routing, Usage


def short_id(value: str, length: int = 8) -> str:
    return value[:length]


def human_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k".replace(".0k", "k")
    return f"{count / 1_000_000:.1f}M".replace(".0M", "M")


def context_usage(tokens: int, window: int) -> str:
    if not window:
        return f"ctx {human_tokens(tokens)}"
    return f"ctx {human_tokens(tokens)}/{human_tokens(window)} {100 * tokens / window:.1f}%"


def one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def compact_json(value: Any, limit: int = 60) -> str:
    return one_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)


def routing_label(routing: Routing | None) -> str:
    """How the model was chosen, in a few words: ``override: …``, ``failover: …`` or the reason."""
    if routing is None:
        return "routing: no decision recorded"
    tags = [
        tag for tag, on in (("override", routing.override), ("failover", routing.failover)) if on
    ]
    reason = routing.reason or (f"rule {routing.rule}" if routing.rule else "")
    if tags:
        return f"{' + '.join(tags)}: {reason}" if reason else " + ".join(tags)
    return reason or "routing: no reason given"


def route_line(
    *,
    provider: str,
    model: str,
    routing: Routing | None,
    status: str = "complete",
    latency_ms: int | None = None,
    usage: Usage | None = None,
) -> str:
    """The one line under every response: who answered, why, and what it cost."""
    who = f"{provider}:{model}" if provider else (model or "unknown model")
    bits = [f"↳ {who}", routing_label(routing)]
    if status and status != "complete":
        bits.append(status)
    if latency_ms:
        bits.append(f"{latency_ms / 1000:.1f} s" if latency_ms >= 1000 else f"{latency_ms} ms")
    if usage is not None and (usage.input_tokens or usage.output_tokens):
        bits.append(f"{human_tokens(usage.input_tokens)}→{human_tokens(usage.output_tokens)} tok")
    return " · ".join(bits)


def local_time(iso: str) -> str:
    """``2026-11-25T08:30:00+00:00`` → ``2026-11-25 09:30`` in the local time zone."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


# --- /help and /agent, as lists ------------------------------------------------------------------

AGENT_FORM_HELP = "a form asks for the name, system prompt, tools and a description"
CLIENT_COMMANDS = [
    ("/new", "start a new conversation"),
    ("/quit", "leave (also /exit)"),
]
KEYS = [
    ("enter", "send the message (or run the /command)"),
    ("ctrl+j", "new line (shift+enter and alt+enter too, where the terminal reports them)"),
    ("↑ / ↓", "earlier / later input, on the first / last line of the input"),
    ("esc", "stop the reply being written"),
    ("ctrl+c", "stop the reply; quit when nothing runs (or press it twice)"),
]
# A command line of the server's /help: two spaces or more between the command and its text.
_HELP_LINE = re.compile(r"^\s*(/\S+(?: [^\s/]\S*)?)\s{2,}(\S.*)$")


def help_rows(server_help: str) -> list[tuple[str, str]]:
    """The server's commands (as this client runs them), this client's own, and the keys.

    Rows with an empty name are headings. Empty when the server's text has no command lines.
    """
    commands = []
    for line in server_help.splitlines():
        match = _HELP_LINE.match(line)
        if match:
            name, text = match.groups()
            # This client asks for the new agent's fields in a form, not as protocol arguments.
            commands.append((name, AGENT_FORM_HELP if name == "/agent new" else text))
    if not commands:
        return []
    return [
        ("", "Commands"),
        *commands,
        ("", "In this client"),
        *CLIENT_COMMANDS,
        ("", "Keys"),
        *KEYS,
    ]


def agent_rows(agents: list[Any], current: str) -> list[tuple[str, str]]:
    """One row per agent from /agent's data: slug, then name, owner, tools and the whole
    description (the view wraps it; nothing is cut)."""
    rows = []
    for agent in agents:
        if not isinstance(agent, dict):
            continue
        slug = str(agent.get("slug", ""))
        whose = "system" if agent.get("system") else "yours"
        tools = ", ".join(str(t) for t in agent.get("tools") or []) or "no tools"
        text = f"{agent.get('name', slug)} ({whose}; {tools})"
        if agent.get("description"):
            text += f" — {' '.join(str(agent['description']).split())}"
        rows.append((f"{'●' if slug == current else ' '} {slug}", text))
    return rows
