"""The OpenRouter adapter (Chat Completions), through the official SDK, against the fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mosaic.fakes.base import Fault, Script, ToolUse
from mosaic.fakes.chat_completions import FakeOpenRouter
from providers import catalog
from providers.adapters import openrouter
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    Done,
    ErrorKind,
    ModelSpec,
    ProviderAdapter,
    ProviderError,
    ResolvedCredential,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from providers.adapters.openrouter import OpenRouterAdapter
from tests.providers.streams import collect, failure

SEARCH_TOOL = ToolSpec(
    name="search",
    description="Search the web",
    parameters={"type": "object", "properties": {"query": {"type": "string"}}},
)


@pytest.fixture(autouse=True)
def _fresh_model_caches() -> Iterator[None]:
    openrouter.clear_models_cache()
    catalog.clear_dynamic()
    yield
    openrouter.clear_models_cache()
    catalog.clear_dynamic()


@pytest.fixture
def adapter() -> OpenRouterAdapter:
    return OpenRouterAdapter(referer="https://mosaic.example.org")


@pytest.fixture
def credential(fake_openrouter: FakeOpenRouter) -> ResolvedCredential:
    return ResolvedCredential(api_key="sk-or-v1-test", base_url=fake_openrouter.api_base)


def ask(text: str = "Hello?", **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model="anthropic/claude-sonnet-4.6", messages=[ChatMessage("user", text)], **kwargs
    )


def test_adapter_satisfies_the_provider_protocol(adapter: OpenRouterAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.default_base_url == "https://openrouter.ai/api/v1"


async def test_model_list_is_mapped_into_model_specs(
    adapter: OpenRouterAdapter, credential: ResolvedCredential
) -> None:
    models = {m.id: m for m in await adapter.list_models(credential)}

    assert models["anthropic/claude-sonnet-4.6"] == ModelSpec(
        provider="openrouter",
        id="anthropic/claude-sonnet-4.6",
        display_name="Anthropic: Claude Sonnet 4.6",
        tier="standard",
        context_window=1_000_000,
        max_output=128_000,
        tools=True,
        vision=True,
        reasoning=True,
        streaming=True,
        input_cost_per_mtok=3.0,
        output_cost_per_mtok=15.0,
    )
    assert models["anthropic/claude-opus-4.6"].tier == "premium"
    assert models["z-ai/glm-5"].tier == "cheap"
    assert models["z-ai/glm-5"].vision is False

    free = models["meta-llama/llama-3.3-70b-instruct:free"]
    assert free.tier == "free"
    assert (free.input_cost_per_mtok, free.output_cost_per_mtok) == (0.0, 0.0)
    assert free.max_output == openrouter.DEFAULT_MAX_OUTPUT  # OpenRouter did not say

    assert models["mistralai/mistral-7b-instruct"].tools is False
    router = models["openrouter/auto"]  # priced "-1": varies by the model it picks
    assert router.input_cost_per_mtok is None
    assert router.tier == "standard"


async def test_model_list_is_cached_and_registered_in_the_catalog(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    first = await adapter.list_models(credential)
    second = await OpenRouterAdapter().list_models(credential)

    assert first == second
    assert len(fake_openrouter.models_requests()) == 1
    spec = catalog.get_spec("openrouter", "openai/gpt-5.4")
    assert spec is not None
    assert spec.context_window == 1_050_000


async def test_model_list_is_fetched_again_after_the_ttl(
    adapter: OpenRouterAdapter,
    credential: ResolvedCredential,
    fake_openrouter: FakeOpenRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await adapter.list_models(credential)
    later = time.monotonic() + openrouter.MODELS_TTL_SECONDS + 1
    monkeypatch.setattr(openrouter, "monotonic", lambda: later)

    await adapter.list_models(credential)

    assert len(fake_openrouter.models_requests()) == 2


async def test_streamed_reply_with_reasoning_text_and_usage(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.script(
        Script(text="Bonjour !", thinking="French greeting.", input_tokens=30, output_tokens=9)
    )

    events = await collect(adapter, ask("Say hi in French", reasoning=True), credential)

    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "French greeting."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Bonjour !"
    assert events[-2:] == [Usage(input_tokens=30, output_tokens=9), Done("end_turn")]
    [sent] = fake_openrouter.chat_requests()
    assert sent.json["reasoning"] == {"effort": "medium"}
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.headers["x-title"] == "Mosaic"
    assert sent.headers["http-referer"] == "https://mosaic.example.org"
    assert sent.headers["authorization"] == "Bearer sk-or-v1-test"


async def test_no_reasoning_field_is_sent_unless_asked(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    await collect(adapter, ask(), credential)

    assert "reasoning" not in fake_openrouter.chat_requests()[0].json


async def test_tool_call_pieces_are_accumulated_into_parsed_arguments(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.script(
        Script(
            text="",
            tool_calls=[
                ToolUse("search", {"query": "mosaic harness", "limit": 3}, call_id="call_a"),
                ToolUse("search", {"query": "django channels"}, call_id="call_b"),
            ],
            chunk_size=5,
        )
    )

    events = await collect(adapter, ask("Find things", tools=[SEARCH_TOOL]), credential)

    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_a", "search", {"query": "mosaic harness", "limit": 3}),
        ToolCall("call_b", "search", {"query": "django channels"}),
    ]
    assert events[-1] == Done("tool_use")


async def test_history_becomes_chat_messages(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    request = ChatRequest(
        model="openai/gpt-5.4",
        system="Be brief.",
        tools=[SEARCH_TOOL],
        max_tokens=200,
        temperature=0.3,
        messages=[
            ChatMessage("user", "Search for Mosaic"),
            ChatMessage("thinking", "Use the search tool."),
            ChatMessage("assistant", "Searching."),
            ChatMessage(
                "tool_call", tool_call_id="c1", tool_name="search", tool_arguments={"query": "m"}
            ),
            ChatMessage("tool_result", "3 results", tool_call_id="c1"),
            ChatMessage("assistant", "Found three."),
            ChatMessage("user", "Thanks"),
        ],
    )

    await collect(adapter, request, credential)

    sent = fake_openrouter.chat_requests()[0].json
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Search for Mosaic"},
        {
            "role": "assistant",
            "content": "Searching.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"query": "m"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "3 results"},
        {"role": "assistant", "content": "Found three."},
        {"role": "user", "content": "Thanks"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web",
                "parameters": SEARCH_TOOL.parameters,
            },
        }
    ]
    assert sent["max_tokens"] == 200
    assert sent["temperature"] == 0.3


async def test_length_finish_maps_to_max_tokens(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.script(Script(text="Cut sh", stop_reason="max_tokens"))

    events = await collect(adapter, ask(), credential)

    assert events[-1] == Done("max_tokens")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(Fault("status", 401), (ErrorKind.AUTH, False, None), id="401"),
        pytest.param(
            Fault("status", 429, headers={"Retry-After": "7"}),
            (ErrorKind.RATE_LIMIT, True, 7.0),
            id="429-retry-after",
        ),
        pytest.param(Fault("status", 402), (ErrorKind.AUTH, False, None), id="402-no-credits"),
        pytest.param(
            Fault("status", 403), (ErrorKind.BAD_REQUEST, False, None), id="403-moderated"
        ),
        pytest.param(Fault("status", 408), (ErrorKind.TIMEOUT, True, None), id="408"),
        pytest.param(Fault("status", 502), (ErrorKind.UNAVAILABLE, True, None), id="502"),
        pytest.param(Fault("status", 503), (ErrorKind.UNAVAILABLE, True, None), id="503"),
        pytest.param(Fault("status", 400), (ErrorKind.BAD_REQUEST, False, None), id="400"),
    ],
)
async def test_error_statuses_map_to_provider_errors(
    adapter: OpenRouterAdapter,
    credential: ResolvedCredential,
    fake_openrouter: FakeOpenRouter,
    fault: Fault,
    expected: tuple[ErrorKind, bool, float | None],
) -> None:
    fake_openrouter.script(Script(fault=fault))

    error, events = await failure(adapter, ask(), credential)

    assert events == []
    assert (error.kind, error.retryable, error.retry_after) == expected
    assert error.status == fault.status
    assert error.provider == "openrouter"


async def test_error_event_inside_the_stream_is_mapped_by_its_code(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.stream_error = {"code": 502, "message": "Provider disconnected"}
    fake_openrouter.script(Script(text="Partial"))

    error, events = await failure(adapter, ask(), credential)

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Partial"
    assert error.kind is ErrorKind.UNAVAILABLE
    assert error.message == "Provider disconnected"


async def test_rate_limit_error_inside_the_stream(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.stream_error = {"code": "rate_limit_exceeded", "message": "Slow down"}

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.RATE_LIMIT


async def test_connection_cut_mid_stream_is_interrupted(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.script(Script(text="Some words here", fault=Fault("cut", after_chunks=3)))

    error, events = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.INTERRUPTED
    assert error.retryable is True
    assert any(isinstance(e, TextDelta) for e in events)


async def test_stalled_upstream_times_out(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.script(Script(fault=Fault("stall", seconds=30)))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert error.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 3


async def test_health_check_uses_the_key_endpoint(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    health = await adapter.health_check(credential)

    assert health.status == "healthy"
    assert [r.path for r in fake_openrouter.requests] == ["/api/v1/key"]


async def test_health_check_of_a_key_without_credit_is_down(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.key_limit_remaining = 0.0

    health = await adapter.health_check(credential)

    assert health.status == "down"
    assert "credit" in health.error


async def test_health_check_of_a_revoked_key_is_down(
    adapter: OpenRouterAdapter, credential: ResolvedCredential, fake_openrouter: FakeOpenRouter
) -> None:
    fake_openrouter.api_keys = {"sk-or-v1-other"}

    health = await adapter.health_check(credential)

    assert health.status == "down"


async def test_embed_is_refused(adapter: OpenRouterAdapter, credential: ResolvedCredential) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["x"], "any", credential)

    assert caught.value.kind is ErrorKind.BAD_REQUEST
    assert adapter.supports_embeddings is False


def test_fake_rejects_requests_without_a_bearer_key(fake_openrouter: FakeOpenRouter) -> None:
    response = httpx.post(fake_openrouter.api_base + "/chat/completions", json={"model": "x"})

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "No auth credentials found"}}
