"""``/memory`` in the chat: see, search and forget what Mosaic remembers about the user.

``/memory`` lists the newest insights and every preference, ``/memory search <text>`` finds
insights by meaning, ``/memory forget <id>`` deletes one. Each goes through the memory app's
selectors and services with the session's user, so another user's insight is "not found", like
one that does not exist. (Registered in ``agents.commands``; the REST API offers the same and
more: docs/memory.md.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents import channel as ch
from core.db import in_database_thread
from core.errors import InvalidInput
from memory import selectors, services
from memory.models import Insight

if TYPE_CHECKING:
    from agents.session import ChatSession

LISTED = 10
SEARCHED = 5
USAGE = "Use /memory, /memory search <text> or /memory forget <id>."


def _insight_data(insight: Insight, score: float | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": insight.pk,
        "content": insight.content,
        "category": insight.category,
        "tier": insight.tier,
        "use_count": insight.use_count,
    }
    if score is not None:
        data["score"] = round(score, 3)
    return data


def _insight_line(insight: Insight, score: float | None = None) -> str:
    tags = [insight.category]
    if insight.tier != Insight.Tier.HOT:
        tags.append(insight.tier)
    if score is not None:
        tags.append(f"{score:.2f}")
    return f"  #{insight.pk:<6} {insight.content}  ({', '.join(tags)})"


def _overview(chat: ChatSession) -> tuple[str, dict[str, Any]]:
    user = chat.user
    rows = selectors.insight_list(user=user)
    total = rows.count()
    newest = list(rows[:LISTED])
    preferences = list(selectors.preference_list(user=user))
    switches = selectors.memory_settings_get(user=user)
    state = (
        f"recall {'on' if switches.recall else 'off'}, "
        f"automatic extraction {'on' if switches.auto_extract else 'off'}"
    )
    lines = [
        f"Memory: {total} insight{'s' if total != 1 else ''}, {len(preferences)} "
        f"preference{'s' if len(preferences) != 1 else ''}; {state}. The last answer here was "
        f"given {chat.memories_used} of them."
    ]
    if newest:
        heading = "Newest insights" if total > len(newest) else "Insights"
        lines.append(f"{heading} (/memory forget <id> deletes one):")
        lines += [_insight_line(i) for i in newest]
    if preferences:
        lines.append("Preferences:")
        lines += [f"  {p.key} = {p.value}" for p in preferences]
    if not newest and not preferences:
        lines.append("Nothing remembered yet.")
    data = {
        "insight_count": total,
        "insights": [_insight_data(i) for i in newest],
        "preferences": {p.key: p.value for p in preferences},
        "recall": switches.recall,
        "auto_extract": switches.auto_extract,
        "memories_used": chat.memories_used,
    }
    return "\n".join(lines), data


def _search(chat: ChatSession, text: str) -> tuple[str, dict[str, Any]]:
    found = selectors.insight_search(user=chat.user, text=text, k=SEARCHED)
    if not found:
        return f"No insight matches {text!r}.", {"results": []}
    lines = [f"Insights nearest to {text!r} (similarity):"]
    lines += [_insight_line(r.insight, r.score) for r in found]
    return "\n".join(lines), {"results": [_insight_data(r.insight, r.score) for r in found]}


def _forget(chat: ChatSession, insight_id: str) -> tuple[str, dict[str, Any]]:
    insight = selectors.insight_get(user=chat.user, insight_id=insight_id)
    services.insight_delete(user=chat.user, insight_id=insight.pk)
    return f"Forgot #{insight.pk}: {insight.content}", {"forgotten": insight.pk}


async def memory_command(chat: ChatSession, text: str, rest: list[str]) -> ch.CommandAnswered:
    if not rest:
        output, data = await in_database_thread(_overview, chat)
    elif rest[0] == "search":
        query = " ".join(rest[1:]).strip()
        if not query:
            raise InvalidInput("What should I look for? /memory search <text>")
        output, data = await in_database_thread(_search, chat, query)
    elif rest[0] == "forget":
        if len(rest) != 2:
            raise InvalidInput("Which one? /memory forget <id> (the number /memory shows).")
        output, data = await in_database_thread(_forget, chat, rest[1].lstrip("#"))
    else:
        raise InvalidInput(f"Unknown /memory command {rest[0]!r}. {USAGE}")
    return ch.CommandAnswered(text, True, output, data)
