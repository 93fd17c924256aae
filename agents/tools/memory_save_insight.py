"""``memory_save_insight``: remember a durable fact about the session's user.

Saved for the session's user only, with the conversation as its source; a near-duplicate of
something already remembered updates that memory instead of adding a second one."""

from __future__ import annotations

from typing import Any

from agents.tools import Tool, ToolContext, ToolError, register
from core.db import in_database_thread
from core.errors import MosaicError
from memory import services
from memory.models import Insight


def _save(context: ToolContext, arguments: dict[str, Any]) -> services.SavedInsight:
    return services.insight_save(
        user=context.user,
        content=arguments["content"],
        category=arguments.get("category", Insight.Category.FACT),
        importance=arguments.get("importance", 0.5),
        source=Insight.Source.AGENT,
        conversation_id=context.conversation_id or None,
    )


async def memory_save_insight(context: ToolContext, arguments: dict[str, Any]) -> str:
    try:
        saved = await in_database_thread(_save, context, arguments)
    except MosaicError as exc:
        raise ToolError(exc.message) from None
    if saved.created:
        return f"Saved as memory #{saved.insight.pk}."
    return (
        f"Updated memory #{saved.insight.pk}, which said nearly the same "
        f"(similarity {saved.similarity:.2f}); no duplicate was added."
    )


register(
    Tool(
        name="memory_save_insight",
        description=(
            "Remember a durable fact about the user for future conversations (who they are, what "
            "they work on, what they like or want). One short self-contained sentence; not for "
            "passing details of this conversation. The user can see and delete every memory."
        ),
        parameters={
            "type": "object",
            "properties": {
                "content": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": services.MAX_CONTENT_CHARS,
                },
                "category": {
                    "type": "string",
                    "enum": list(Insight.Category.values),
                    "default": "fact",
                },
                "importance": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            },
            "required": ["content"],
            "additionalProperties": False,
        },
        run=memory_save_insight,
    )
)
