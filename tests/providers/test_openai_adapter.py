"""The OpenAI adapter (Responses API), through the official SDK, against the fake OpenAI API."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from mosaic.fakes.base import Fault, Script, ToolUse
from mosaic.fakes.openai import FakeOpenAI, fake_embedding
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    Done,
    ErrorKind,
    ProviderAdapter,
    ProviderError,
    ResolvedCredential,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from providers.adapters.openai import OpenAIAdapter, ResponsesStreamState
from providers.adapters.openai_compat import INVALID_ARGUMENTS_KEY, parse_tool_arguments
from tests.providers.streams import collect, failure

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


@pytest.fixture
def adapter() -> OpenAIAdapter:
    return OpenAIAdapter()


@pytest.fixture
def credential(fake_openai: FakeOpenAI) -> ResolvedCredential:
    return ResolvedCredential(api_key="sk-test", base_url=fake_openai.base_url + "/v1")


def ask(text: str = "Hello?", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model="gpt-5.4", messages=[ChatMessage("user", text)], **kwargs)


def test_adapter_satisfies_the_provider_protocol(adapter: OpenAIAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.supports_embeddings is True


async def test_streamed_reply_yields_text_then_usage_then_end_turn(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(text="Hello from GPT", input_tokens=21, output_tokens=5))

    events = await collect(adapter, ask(), credential)

    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Hello from GPT"
    assert events[-2:] == [Usage(input_tokens=21, output_tokens=5), Done("end_turn")]
    [sent] = fake_openai.chat_requests()
    assert sent.json["stream"] is True
    assert sent.json["store"] is False
    assert sent.headers["authorization"] == "Bearer sk-test"


async def test_reasoning_request_streams_the_summary_as_thinking(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(text="42.", thinking="Adding six and seven twice."))

    events = await collect(adapter, ask("What is it?", reasoning=True), credential)

    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Adding six and seven twice."
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    last_thinking = max(i for i, e in enumerate(events) if isinstance(e, ThinkingDelta))
    assert last_thinking < first_text
    sent = fake_openai.chat_requests()[0].json
    assert sent["reasoning"] == {"effort": "medium", "summary": "auto"}


async def test_temperature_is_sent_only_without_reasoning(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    await collect(adapter, ask(temperature=0.2), credential)
    await collect(adapter, ask(temperature=0.2, reasoning=True), credential)

    plain, reasoning = (r.json for r in fake_openai.chat_requests())
    assert plain["temperature"] == 0.2
    assert "reasoning" not in plain
    assert "temperature" not in reasoning


async def test_tool_call_arrives_with_parsed_arguments_and_stop_reason_tool_use(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(
        Script(
            text="Checking.",
            tool_calls=[ToolUse("get_weather", {"city": "Paris", "days": 2}, call_id="call_7")],
            chunk_size=4,
        )
    )

    events = await collect(adapter, ask("Weather?", tools=[WEATHER_TOOL]), credential)

    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolCall("call_7", "get_weather", {"city": "Paris", "days": 2})]
    assert events[-1] == Done("tool_use")
    sent = fake_openai.chat_requests()[0].json
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": WEATHER_TOOL.parameters,
            "strict": False,
        }
    ]


async def test_history_is_sent_as_instructions_and_input_items(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    history = [
        ChatMessage("user", "Weather in Paris?"),
        ChatMessage("thinking", "I should call the tool.", signature=""),
        ChatMessage("assistant", "Let me look."),
        ChatMessage(
            "tool_call",
            tool_call_id="call_1",
            tool_name="get_weather",
            tool_arguments={"city": "Paris"},
        ),
        ChatMessage("tool_result", "18°C, sunny", tool_call_id="call_1"),
        ChatMessage("assistant", "It is 18°C and sunny."),
        ChatMessage("user", "And tomorrow?"),
        ChatMessage("tool_call", tool_call_id="call_2", tool_name="get_weather", tool_arguments={}),
        ChatMessage("tool_result", "service down", tool_call_id="call_2", is_error=True),
    ]
    request = ChatRequest(
        model="gpt-5.4",
        messages=history,
        system="You are terse.",
        tools=[WEATHER_TOOL],
        max_tokens=300,
    )

    await collect(adapter, request, credential)

    sent = fake_openai.chat_requests()[0].json
    assert sent["instructions"] == "You are terse."
    assert sent["max_output_tokens"] == 300
    assert sent["input"] == [
        {"type": "message", "role": "user", "content": "Weather in Paris?"},
        {"type": "message", "role": "assistant", "content": "Let me look."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18°C, sunny"},
        {"type": "message", "role": "assistant", "content": "It is 18°C and sunny."},
        {"type": "message", "role": "user", "content": "And tomorrow?"},
        {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_2", "output": "Error: service down"},
    ]


async def test_oauth_access_token_is_sent_as_the_bearer_key(
    adapter: OpenAIAdapter, fake_openai: FakeOpenAI
) -> None:
    credential = ResolvedCredential(
        access_token="oauth-access-123", base_url=fake_openai.base_url + "/v1"
    )

    await collect(adapter, ask(), credential)

    assert fake_openai.chat_requests()[0].headers["authorization"] == "Bearer oauth-access-123"


async def test_running_out_of_output_tokens_ends_with_max_tokens(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(text="A long answ", stop_reason="max_tokens"))

    events = await collect(adapter, ask(max_tokens=3), credential)

    assert events[-1] == Done("max_tokens")
    assert isinstance(events[-2], Usage)


async def test_missing_credential_fails_without_calling_the_provider(
    adapter: OpenAIAdapter, fake_openai: FakeOpenAI
) -> None:
    credential = ResolvedCredential(base_url=fake_openai.base_url + "/v1")

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.AUTH
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(Fault("status", 401), (ErrorKind.AUTH, False, None), id="401-auth"),
        pytest.param(
            Fault("status", 429, headers={"retry-after": "7"}),
            (ErrorKind.RATE_LIMIT, True, 7.0),
            id="429-retry-after",
        ),
        pytest.param(
            Fault(
                "status",
                429,
                body={
                    "error": {
                        "message": "You exceeded your current quota.",
                        "type": "insufficient_quota",
                        "param": None,
                        "code": "insufficient_quota",
                    }
                },
            ),
            (ErrorKind.AUTH, False, None),
            id="429-quota-is-not-a-rate-limit",
        ),
        pytest.param(Fault("status", 503), (ErrorKind.UNAVAILABLE, True, None), id="503"),
        pytest.param(Fault("status", 500), (ErrorKind.UNAVAILABLE, True, None), id="500"),
        pytest.param(Fault("status", 529), (ErrorKind.OVERLOADED, True, None), id="529"),
        pytest.param(Fault("status", 400), (ErrorKind.BAD_REQUEST, False, None), id="400"),
        pytest.param(Fault("status", 404), (ErrorKind.BAD_REQUEST, False, None), id="404"),
    ],
)
async def test_error_statuses_map_to_provider_errors(
    adapter: OpenAIAdapter,
    credential: ResolvedCredential,
    fake_openai: FakeOpenAI,
    fault: Fault,
    expected: tuple[ErrorKind, bool, float | None],
) -> None:
    fake_openai.script(Script(fault=fault))

    error, events = await failure(adapter, ask(), credential)

    assert events == []
    assert (error.kind, error.retryable, error.retry_after) == expected
    assert error.status == fault.status
    assert error.provider == "openai"


async def test_wrong_key_is_an_auth_error(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.api_keys = {"sk-the-right-one"}

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.AUTH
    assert "Incorrect API key" in error.message


async def test_connection_cut_mid_stream_is_interrupted(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(text="A fairly long reply", fault=Fault("cut", after_chunks=7)))

    error, events = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.INTERRUPTED
    assert error.retryable is True
    assert any(isinstance(e, TextDelta) for e in events)


async def test_stalled_upstream_times_out_within_the_request_timeout(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(fault=Fault("stall", seconds=30)))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert error.kind is ErrorKind.TIMEOUT
    assert error.retryable is True
    assert time.monotonic() - started < 3


async def test_unreachable_upstream_is_unavailable(adapter: OpenAIAdapter) -> None:
    credential = ResolvedCredential(api_key="sk-test", base_url="http://127.0.0.1:9/v1")

    error, _ = await failure(adapter, ask(timeout=2), credential)

    assert error.kind is ErrorKind.UNAVAILABLE


def test_failed_response_event_maps_by_its_error_code() -> None:
    state = ResponsesStreamState(provider="openai")
    failed = SimpleNamespace(
        type="response.failed",
        response=SimpleNamespace(
            error=SimpleNamespace(code="rate_limit_exceeded", message="Slow down")
        ),
    )
    server_error = SimpleNamespace(type="error", code="server_error", message="Oops")
    unknown = SimpleNamespace(type="error", code=None, message="Something broke")

    with pytest.raises(ProviderError) as rate:
        state.feed(failed, started_output=True)
    with pytest.raises(ProviderError) as down:
        state.feed(server_error, started_output=False)
    with pytest.raises(ProviderError) as broke:
        state.feed(unknown, started_output=True)

    assert rate.value.kind is ErrorKind.RATE_LIMIT
    assert down.value.kind is ErrorKind.UNAVAILABLE
    assert broke.value.kind is ErrorKind.INTERRUPTED


def test_arguments_that_are_not_a_json_object_are_kept_for_the_runtime() -> None:
    assert parse_tool_arguments("") == {}
    assert parse_tool_arguments('{"a": 1}') == {"a": 1}
    assert parse_tool_arguments('{"a": ') == {INVALID_ARGUMENTS_KEY: '{"a": '}
    assert parse_tool_arguments("[1, 2]") == {INVALID_ARGUMENTS_KEY: "[1, 2]"}


async def test_list_models_offers_the_catalog_chat_models_the_account_has(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.model_ids = ("gpt-5.4", "gpt-5.4-mini", "gpt-4o", "text-embedding-3-small")

    models = await adapter.list_models(credential)

    assert [m.id for m in models] == ["gpt-5.4", "gpt-5.4-mini"]
    gpt = models[0]
    assert gpt.tier == "premium"
    assert gpt.context_window == 1_050_000
    assert (gpt.input_cost_per_mtok, gpt.output_cost_per_mtok) == (2.5, 15.0)


async def test_health_check_reports_healthy_with_latency(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    health = await adapter.health_check(credential)

    assert health.status == "healthy"
    assert health.latency_ms is not None
    assert [r.path for r in fake_openai.requests] == ["/v1/models"]


async def test_health_check_with_a_revoked_key_is_down(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.api_keys = {"sk-other"}

    health = await adapter.health_check(credential)

    assert health.status == "down"
    assert "Incorrect API key" in health.error


async def test_embed_returns_one_vector_per_text_in_order(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    texts = ["first text", "second text", "first text"]

    vectors = await adapter.embed(texts, "text-embedding-3-small", credential)

    assert len(vectors) == 3
    assert all(len(v) == 1536 for v in vectors)
    assert vectors[0] == pytest.approx(fake_embedding("first text", 1536), abs=1e-6)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    [sent] = fake_openai.embedding_requests()
    assert sent.json["input"] == texts
    assert sent.json["model"] == "text-embedding-3-small"


async def test_embed_failure_is_a_provider_error(
    adapter: OpenAIAdapter, credential: ResolvedCredential, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script(Script(fault=Fault("status", 429, headers={"retry-after": "2"})))

    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["x"], "text-embedding-3-small", credential)

    assert caught.value.kind is ErrorKind.RATE_LIMIT
    assert caught.value.retry_after == 2.0


async def test_clients_are_reused_per_credential(
    adapter: OpenAIAdapter, credential: ResolvedCredential
) -> None:
    other = ResolvedCredential(api_key="sk-other", base_url=credential.base_url)

    assert adapter.client(credential) is adapter.client(credential)
    assert adapter.client(credential) is not adapter.client(other)


def test_fake_rejects_requests_without_a_bearer_key(fake_openai: FakeOpenAI) -> None:
    response = httpx.post(fake_openai.base_url + "/v1/responses", json={"model": "gpt-5.4"})

    assert response.status_code == 401
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.headers["x-request-id"]


async def test_fake_answers_non_streamed_responses_in_the_sdk_shape(
    fake_openai: FakeOpenAI,
) -> None:
    fake_openai.script(
        Script(text="Plain answer", tool_calls=[ToolUse("get_weather", {"city": "Oslo"}, "c9")])
    )
    client = AsyncOpenAI(api_key="sk-test", base_url=fake_openai.base_url + "/v1", max_retries=0)

    response = await client.responses.create(model="gpt-5.4", input="Hi")

    assert response.output_text == "Plain answer"
    assert response.usage is not None
    assert response.usage.input_tokens == 12
    [call] = [item for item in response.output if item.type == "function_call"]
    assert (call.call_id, call.name, call.arguments) == ("c9", "get_weather", '{"city": "Oslo"}')
    await client.close()
