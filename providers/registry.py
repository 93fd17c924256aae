"""The provider registry: a plain dict from provider name to its adapter, built on first use.

Adding a provider is one module in ``providers/adapters/`` and one line here.
"""

from __future__ import annotations

import importlib
from functools import cache

from core.errors import NotFound
from providers.adapters.base import ProviderAdapter

# name -> "module:Class"; imported on first use so that start-up stays fast.
ADAPTERS: dict[str, str] = {
    "anthropic": "providers.adapters.anthropic:AnthropicAdapter",
    "openai": "providers.adapters.openai:OpenAIAdapter",
    "openrouter": "providers.adapters.openrouter:OpenRouterAdapter",
    "zai": "providers.adapters.zai:ZaiAdapter",
    "ollama": "providers.adapters.ollama:OllamaAdapter",
}
PROVIDERS: tuple[str, ...] = tuple(ADAPTERS)


class UnknownProvider(NotFound):
    code = "unknown_provider"

    def __init__(self, name: str) -> None:
        super().__init__(f"Unknown provider {name!r}; known providers: {', '.join(PROVIDERS)}.")
        self.name = name


@cache
def get_adapter(name: str) -> ProviderAdapter:
    try:
        target = ADAPTERS[name]
    except KeyError:
        raise UnknownProvider(name) from None
    module_name, _, class_name = target.partition(":")
    adapter: ProviderAdapter = getattr(importlib.import_module(module_name), class_name)()
    return adapter


def all_adapters() -> dict[str, ProviderAdapter]:
    return {name: get_adapter(name) for name in PROVIDERS}
