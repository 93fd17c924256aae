from __future__ import annotations

import json
from typing import Any

from agents.tools import Tool, ToolContext, ToolError, register
from conversations import selectors
from core.db import in_database_thread
from core.errors import InvalidInput


def _search(context: ToolContext, query: str, limit: int) -> list[dict[str, Any]]:
    # Scoped to the session's user: the model cannot ask for anyone else's conversations.
    page = selectors.conversation_search(user=context.user, query=query, page_size=limit)
    return [
        {
            "conversation_id": str(hit.conversation_id),
            "conversation_title": hit.conversation_title,
            "role": hit.role,
            "date": hit.created_at.date().isoformat(),
            "excerpt": hit.raw_snippet.replace("\x02", "").replace("\x03", ""),
        }
        for hit in page.hits
    ]


async def conversation_search(context: ToolContext, arguments: dict[str, Any]) -> str:
    try:
        results = await in_database_thread(
            _search, context, arguments["query"], int(arguments.get("limit", 5))
        )
    except InvalidInput as exc:
        raise ToolError(exc.message) from None
    if not results:
        return "No matching messages in your conversations."
    return json.dumps(results, ensure_ascii=False)


register(
    Tool(
        name="conversation_search",
        description="Full-text search over the user's own past conversations; returns excerpts.",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 500},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        run=conversation_search,
    )
)
