"""Chat failures between probes: a provider that keeps failing in chat is down for routing."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from providers import chat_health, selectors
from providers.adapters.base import ErrorKind, ProviderError, ResolvedCredential

pytestmark = pytest.mark.django_db

SYSTEM = ResolvedCredential(api_key="sk-system", source="system")
USERS = ResolvedCredential(api_key="sk-user", source="user")


def timeout() -> ProviderError:
    return ProviderError(ErrorKind.TIMEOUT, "no reply began within 45 s", provider="anthropic")


async def status_of(provider: str) -> Any:
    return (await sync_to_async(selectors.health_map)())[provider]


async def test_failures_in_a_row_with_the_system_key_make_the_provider_down(
    settings: Any,
) -> None:
    settings.MOSAIC_CHAT_FAILURES_DOWN = 2
    assert await chat_health.chat_failed("anthropic", SYSTEM, timeout()) == 1
    assert (await status_of("anthropic")).status != "down"
    assert await chat_health.chat_failed("anthropic", SYSTEM, timeout()) == 2
    down = await status_of("anthropic")
    assert down.status == "down"
    assert down.error == "2 chat calls in a row failed"
    assert (await status_of("openai")).status != "down"


async def test_a_success_clears_the_count(settings: Any) -> None:
    settings.MOSAIC_CHAT_FAILURES_DOWN = 2
    await chat_health.chat_failed("anthropic", SYSTEM, timeout())
    await chat_health.chat_succeeded("anthropic", SYSTEM)
    assert await chat_health.chat_failed("anthropic", SYSTEM, timeout()) == 1
    assert (await status_of("anthropic")).status != "down"


async def test_users_own_keys_and_refusals_are_not_counted(settings: Any) -> None:
    settings.MOSAIC_CHAT_FAILURES_DOWN = 1
    assert await chat_health.chat_failed("anthropic", USERS, timeout()) == 0
    refused = ProviderError(ErrorKind.AUTH, "invalid x-api-key", provider="anthropic")
    assert await chat_health.chat_failed("anthropic", SYSTEM, refused) == 0
    assert (await status_of("anthropic")).status != "down"
