"""Tools the model may call. Adding one is one small module in this package plus its name in
``TOOL_MODULES``: it defines a ``Tool`` and registers it.

A tool receives a ``ToolContext`` whose ``user`` is the session's user, bound by the runtime;
nothing a model says can change whose data a tool touches.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from providers.adapters.base import ToolSpec

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TOOL_MODULES = (
    "agents.tools.current_time",
    "agents.tools.conversation_search",
    "agents.tools.calculator",
    "agents.tools.memory_search",
    "agents.tools.memory_save_insight",
    "agents.tools.memory_preferences",
)


@dataclass(frozen=True)
class ToolContext:
    user: User
    conversation_id: str
    session_id: str


ToolFunction = Callable[[ToolContext, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object
    run: ToolFunction

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model as an error result."""


_registry: dict[str, Tool] = {}


def register(tool: Tool) -> Tool:
    _registry[tool.name] = tool
    return tool


@cache
def _load() -> None:
    for module in TOOL_MODULES:
        importlib.import_module(module)


def all_tools() -> dict[str, Tool]:
    _load()
    return dict(_registry)


def get_tool(name: str) -> Tool | None:
    _load()
    return _registry.get(name)
