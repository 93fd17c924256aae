"""``memory_search``: the session user's own insights nearest to a query, with scores.

The user comes from the session (``ToolContext``); the schema has no user field, and unknown
arguments are refused, so a model cannot ask for anyone else's memories."""

from __future__ import annotations

import json
from typing import Any

from agents.tools import Tool, ToolContext, ToolError, register
from core.db import in_database_thread
from core.errors import MosaicError
from memory import selectors, services
from memory.models import Insight


def _search(context: ToolContext, arguments: dict[str, Any]) -> list[dict[str, Any]]:
    results = selectors.insight_search(
        user=context.user,
        text=arguments["query"],
        k=int(arguments.get("k", 5)),
        category=arguments.get("category"),
    )
    services.insights_mark_used(user=context.user, insight_ids=[r.insight.pk for r in results])
    return [
        {
            "id": r.insight.pk,
            "content": r.insight.content,
            "category": r.insight.category,
            "score": round(r.score, 3),
            "saved": r.insight.created_at.date().isoformat(),
        }
        for r in results
    ]


async def memory_search(context: ToolContext, arguments: dict[str, Any]) -> str:
    try:
        results = await in_database_thread(_search, context, arguments)
    except MosaicError as exc:
        raise ToolError(exc.message) from None
    if not results:
        return "No saved memories match."
    return json.dumps(results, ensure_ascii=False)


register(
    Tool(
        name="memory_search",
        description=(
            "Search what you remember about the user (facts, preferences, goals, projects, "
            "people they mentioned) by meaning; returns the closest memories with a similarity "
            "score from -1 to 1."
        ),
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 2000},
                "k": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
                "category": {"type": "string", "enum": list(Insight.Category.values)},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        run=memory_search,
    )
)
