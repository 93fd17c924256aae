"""Helpers shared by the adapter tests: run a stream to the end, or to its ProviderError."""

from __future__ import annotations

import pytest

from providers.adapters.base import (
    ChatRequest,
    Event,
    ProviderAdapter,
    ProviderError,
    ResolvedCredential,
)


async def collect(
    adapter: ProviderAdapter, request: ChatRequest, credential: ResolvedCredential
) -> list[Event]:
    return [event async for event in adapter.stream(request, credential)]


async def failure(
    adapter: ProviderAdapter, request: ChatRequest, credential: ResolvedCredential
) -> tuple[ProviderError, list[Event]]:
    """The error a stream ends with, and the events that came before it."""
    received: list[Event] = []

    async def drain() -> None:
        async for event in adapter.stream(request, credential):
            received.append(event)

    with pytest.raises(ProviderError) as caught:
        await drain()
    return caught.value, received
