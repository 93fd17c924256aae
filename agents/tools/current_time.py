from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.tools import Tool, ToolContext, ToolError, register


async def current_time(context: ToolContext, arguments: dict[str, Any]) -> str:
    name = arguments.get("timezone") or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'."
        ) from None
    now = dt.datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({name}, {now.strftime('%A %d %B %Y, %H:%M')})"


register(
    Tool(
        name="current_time",
        description="The current date and time, in UTC or a given IANA time zone.",
        parameters={
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone, e.g. 'Europe/Berlin'",
                }
            },
            "additionalProperties": False,
        },
        run=current_time,
    )
)
