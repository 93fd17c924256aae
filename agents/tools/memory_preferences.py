"""``memory_get_preferences`` and ``memory_set_preference``: the session user's key/value
preferences (answer language, units, tone, …). The user is the session's, never an argument."""

from __future__ import annotations

import json
from typing import Any

from agents.tools import Tool, ToolContext, ToolError, register
from core.db import in_database_thread
from core.errors import MosaicError
from memory import selectors, services
from memory.models import Preference


def _get(context: ToolContext) -> dict[str, str]:
    return {p.key: p.value for p in selectors.preference_list(user=context.user)}


async def memory_get_preferences(context: ToolContext, arguments: dict[str, Any]) -> str:
    preferences = await in_database_thread(_get, context)
    if not preferences:
        return "The user has no saved preferences."
    return json.dumps(preferences, ensure_ascii=False)


def _set(context: ToolContext, key: str, value: str) -> tuple[Preference, bool]:
    return services.preference_set(
        user=context.user, key=key, value=value, source=Preference.Source.AGENT
    )


async def memory_set_preference(context: ToolContext, arguments: dict[str, Any]) -> str:
    try:
        preference, changed = await in_database_thread(
            _set, context, arguments["key"], arguments["value"]
        )
    except MosaicError as exc:
        raise ToolError(exc.message) from None
    if not changed:
        return f"{preference.key} was already {preference.value!r}."
    return f"Saved preference {preference.key} = {preference.value!r}."


register(
    Tool(
        name="memory_get_preferences",
        description="The user's saved preferences as a JSON object of key → value.",
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
        run=memory_get_preferences,
    )
)

register(
    Tool(
        name="memory_set_preference",
        description=(
            "Save one of the user's preferences when they state it (e.g. key 'language', value "
            "'French'; key 'units', value 'metric'). Keys: lowercase letters, digits, _ . -"
        ),
        parameters={
            "type": "object",
            "properties": {
                "key": {"type": "string", "minLength": 1, "maxLength": services.MAX_KEY_CHARS},
                "value": {"type": "string", "minLength": 1, "maxLength": services.MAX_VALUE_CHARS},
            },
            "required": ["key", "value"],
            "additionalProperties": False,
        },
        run=memory_set_preference,
    )
)
