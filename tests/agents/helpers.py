"""Helpers for the agents tests: seeding, and reading what the fake upstreams received."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.apps import apps
from django.db import connection

from agents.models import AgentConfig
from routing.classifier import classify
from routing.decision import RoutingDecision

SONNET = "anthropic:claude-sonnet-4-6"
OPUS = "anthropic:claude-opus-4-6"


def pinned_decision(message: str = "hello", **fields: Any) -> RoutingDecision:
    """The routing decision of a turn with Claude Sonnet pinned (``/model``)."""
    return RoutingDecision(
        provider="anthropic",
        model="claude-sonnet-4-6",
        reason="pinned",
        classification=classify(message),
        **fields,
    )


def seed_system_agents() -> None:
    """Apply the system-agents data migration again (it is idempotent)."""
    migration = importlib.import_module("agents.migrations.0002_system_agents")
    migration.seed(apps, SimpleNamespace(connection=connection))


def agent_row(slug: str) -> AgentConfig:
    return AgentConfig.objects.get(slug=slug, owner__isnull=True)


def tool_names(anthropic_request: dict[str, Any]) -> list[str]:
    """The tool names an Anthropic Messages request offered the model, sorted."""
    return sorted(tool["name"] for tool in anthropic_request.get("tools", []))


def texts(anthropic_request: dict[str, Any]) -> list[str]:
    """Every text block of an Anthropic request's messages, in order."""
    out = []
    for message in anthropic_request["messages"]:
        content = message["content"]
        if isinstance(content, str):
            out.append(content)
            continue
        for block in content:
            if block.get("type") == "text":
                out.append(block["text"])
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                if isinstance(inner, str):
                    out.append(inner)
                else:
                    out.extend(b.get("text", "") for b in inner or [])
    return out


async def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` (a sync function, run in a thread) until it returns something truthy."""
    from asgiref.sync import sync_to_async

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await sync_to_async(check)()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)
