"""The Anthropic adapter, through the official SDK, against the fake Anthropic API."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import pytest

from mosaic.fakes.anthropic import EndStream, FakeAnthropic, FakeModel, SSEError, signature_for
from mosaic.fakes.base import Fault, Script, ToolUse
from providers.adapters import anthropic as anthropic_adapter
from providers.adapters.anthropic import AnthropicAdapter, thinking_budget
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
from tests.providers.streams import collect, failure

# The lead registers fixture modules centrally in tests/conftest.py; until then, this module
# loads them itself (registering a plugin twice is harmless).

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
def adapter() -> AnthropicAdapter:
    return AnthropicAdapter()


@pytest.fixture
def credential(fake_anthropic: FakeAnthropic) -> ResolvedCredential:
    return ResolvedCredential(api_key="sk-ant-test", base_url=fake_anthropic.base_url)


def ask(text: str = "Hello?", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-6", messages=[ChatMessage("user", text)], **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the contract -------------------------------------------------------------------------------


def test_adapter_satisfies_the_provider_protocol(adapter: AnthropicAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.name == "anthropic"
    assert adapter.default_base_url == "https://api.anthropic.com"
    assert adapter.supports_embeddings is False


# --- models --------------------------------------------------------------------------------------


async def test_list_models_enriches_listed_models_with_catalog_specs(
    adapter: AnthropicAdapter, credential: ResolvedCredential
) -> None:
    specs = {spec.id: spec for spec in await adapter.list_models(credential)}

    # The dated Haiku id is matched to its catalog alias.
    assert set(specs) == {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"}
    assert specs["claude-opus-4-6"].tier == "premium"
    assert specs["claude-haiku-4-5"].tier == "cheap"
    assert specs["claude-sonnet-4-6"].input_cost_per_mtok is not None


async def test_list_models_describes_an_uncatalogued_model_from_the_api(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.models.insert(
        0,
        FakeModel(
            "claude-experimental-9",
            "Claude Experimental 9",
            "2026-09-01T00:00:00Z",
            max_input_tokens=500_000,
            max_tokens=32_000,
            thinking_types=(),
            vision=False,
        ),
    )

    specs = {spec.id: spec for spec in await adapter.list_models(credential)}

    new = specs["claude-experimental-9"]
    assert (new.display_name, new.context_window, new.max_output) == (
        "Claude Experimental 9",
        500_000,
        32_000,
    )
    assert (new.reasoning, new.vision, new.tier) == (False, False, "standard")


async def test_list_models_follows_pagination(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.models += [
        FakeModel(f"claude-old-{n}", f"Old {n}", "2024-01-01T00:00:00Z") for n in range(150)
    ]

    specs = await adapter.list_models(credential)

    assert len(specs) == 153
    pages = [r for r in fake_anthropic.requests if r.path == "/v1/models"]
    assert len(pages) == 2
    assert pages[1].query["after_id"] == "claude-old-96"


# --- streaming -----------------------------------------------------------------------------------


async def test_text_stream_yields_deltas_then_usage_then_done(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        Script(text="The sky is blue because of Rayleigh scattering.", input_tokens=31)
    )

    events = await collect(adapter, ask(), credential)

    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1, "the reply must arrive in pieces"
    assert "".join(t.text for t in texts) == "The sky is blue because of Rayleigh scattering."
    assert events[len(texts) :] == [Usage(input_tokens=31, output_tokens=7), Done("end_turn")]


async def test_thinking_stream_yields_thinking_deltas_and_the_signature(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(thinking="Rayleigh scattering favours short waves.", text="Blue."))

    events = await collect(adapter, ask(reasoning=True), credential)

    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(t.text for t in thinking) == "Rayleigh scattering favours short waves."
    assert thinking[-1].signature == signature_for("Rayleigh scattering favours short waves.")
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(isinstance(e, ThinkingDelta) for e in events[:first_text])


async def test_claude_4_6_thinks_adaptively(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    await collect(adapter, ask(reasoning=True), credential)

    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert sent["max_tokens"] == 32_000


async def test_haiku_4_5_thinks_with_a_budget_below_max_tokens(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(thinking="Short thought.", text="Done."))
    request = ChatRequest(
        model="claude-haiku-4-5", messages=[ChatMessage("user", "Hi")], reasoning=True
    )

    events = await collect(adapter, request, credential)

    assert any(isinstance(e, ThinkingDelta) and e.signature for e in events)
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert sent["max_tokens"] == 8192


def test_thinking_budget_stays_within_the_api_rules() -> None:
    assert thinking_budget(8192) == (8192, 4096)
    assert thinking_budget(64_000) == (64_000, 16_384)
    # Too small to hold the minimum budget: the budget is added on top of the answer's allowance.
    assert thinking_budget(500) == (1524, 1024)
    for max_tokens in (1, 1024, 2048, 2049, 10_000, 200_000):
        new_max, budget = thinking_budget(max_tokens)
        assert 1024 <= budget < new_max
        assert new_max >= max_tokens


async def test_tool_use_is_assembled_into_one_tool_call_with_parsed_arguments(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        Script(
            text="Let me check.",
            tool_calls=[ToolUse("get_weather", {"city": "Paris", "units": ["c", "f"]}, "toolu_1")],
        )
    )

    events = await collect(adapter, ask(tools=[WEATHER_TOOL]), credential)

    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolCall("toolu_1", "get_weather", {"city": "Paris", "units": ["c", "f"]})]
    assert events[-1] == Done("tool_use")
    assert fake_anthropic.chat_requests()[-1].json["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER_TOOL.parameters,
        }
    ]


async def test_stop_reason_max_tokens_is_normalised(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(text="Truncat", stop_reason="max_tokens"))

    events = await collect(adapter, ask(max_tokens=2), credential)

    assert events[-1] == Done("max_tokens")
    assert fake_anthropic.chat_requests()[-1].json["max_tokens"] == 2


async def test_temperature_is_not_sent_because_the_api_version_rejects_it(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    events = await collect(adapter, ask(temperature=0.2), credential)

    assert events[-1] == Done("end_turn")
    assert "temperature" not in fake_anthropic.chat_requests()[-1].json


# --- history translation -------------------------------------------------------------------------


async def test_resumed_tool_turn_sends_grouped_history_with_signed_thinking(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    history = [
        ChatMessage("system", "Answer in French."),
        ChatMessage("user", "Weather in Paris and Lyon?"),
        ChatMessage("thinking", "I should call the tool twice.", signature="sig-1"),
        ChatMessage("thinking", "An unsigned summary that cannot go back."),
        ChatMessage("assistant", "Checking both."),
        ChatMessage("tool_call", tool_call_id="toolu_a", tool_name="get_weather",
                    tool_arguments={"city": "Paris"}),
        ChatMessage("tool_call", tool_call_id="toolu_b", tool_name="get_weather",
                    tool_arguments={"city": "Lyon"}),
        ChatMessage("tool_result", "18°C", tool_call_id="toolu_a"),
        ChatMessage("tool_result", "city not found", tool_call_id="toolu_b", is_error=True),
        ChatMessage("user", "And tomorrow?"),
    ]  # fmt: skip
    request = ChatRequest(
        model="claude-opus-4-6",
        messages=history,
        system="You are Mosaic.",
        tools=[WEATHER_TOOL],
        reasoning=True,
    )

    events = await collect(adapter, request, credential)

    assert events[-1] == Done("end_turn")  # the fake accepted the history as the API would
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["system"] == "You are Mosaic.\n\nAnswer in French."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "I should call the tool twice.", "signature": "sig-1"},
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Lyon"}},
    ]
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18°C", "is_error": False},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "content": "city not found",
            "is_error": True,
        },
        {"type": "text", "text": "And tomorrow?"},
    ]


async def test_consecutive_user_messages_are_merged(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    request = ChatRequest(
        model="claude-haiku-4-5",
        messages=[ChatMessage("user", "One."), ChatMessage("user", "Two.")],
    )

    await collect(adapter, request, credential)

    assert fake_anthropic.chat_requests()[-1].json["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}],
        }
    ]


# --- authentication ------------------------------------------------------------------------------


async def test_api_key_is_sent_as_x_api_key_and_never_as_bearer(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    await collect(adapter, ask(), credential)

    headers = fake_anthropic.chat_requests()[-1].headers
    assert headers["x-api-key"] == "sk-ant-test"
    assert "authorization" not in headers
    assert headers["anthropic-version"]


async def test_oauth_token_is_sent_as_bearer_and_never_as_x_api_key(
    adapter: AnthropicAdapter, fake_anthropic: FakeAnthropic
) -> None:
    oauth = ResolvedCredential(
        access_token="oauth-access-token",
        base_url=fake_anthropic.base_url,
        extra_headers={"anthropic-beta": "oauth-2025-04-20"},
    )

    await collect(adapter, ask(), oauth)

    headers = fake_anthropic.chat_requests()[-1].headers
    assert headers["authorization"] == "Bearer oauth-access-token"
    assert "x-api-key" not in headers
    assert headers["anthropic-beta"] == "oauth-2025-04-20"


async def test_with_both_a_key_and_a_token_only_the_token_is_sent(
    adapter: AnthropicAdapter, fake_anthropic: FakeAnthropic
) -> None:
    both = ResolvedCredential(
        api_key="sk-ant-test", access_token="oauth-access-token", base_url=fake_anthropic.base_url
    )

    await collect(adapter, ask(), both)

    headers = fake_anthropic.chat_requests()[-1].headers
    assert headers["authorization"] == "Bearer oauth-access-token"
    assert "x-api-key" not in headers


async def test_missing_credential_fails_with_auth_before_any_request(
    adapter: AnthropicAdapter, fake_anthropic: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would fall back to these; the adapter must not.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-the-environment")
    nothing = ResolvedCredential(base_url=fake_anthropic.base_url)

    error, _ = await failure(adapter, ask(), nothing)

    assert (error.kind, error.retryable) == (ErrorKind.AUTH, False)
    assert fake_anthropic.requests == []


async def test_clients_are_reused_across_turns_with_the_same_credential(
    adapter: AnthropicAdapter, credential: ResolvedCredential
) -> None:
    await collect(adapter, ask(), credential)
    first = anthropic_adapter._clients.get(credential, credential.base_url)
    await collect(adapter, ask(), credential)

    assert anthropic_adapter._clients.get(credential, credential.base_url) is first
    other = ResolvedCredential(api_key="sk-ant-other", base_url=credential.base_url)
    assert anthropic_adapter._clients.get(other, credential.base_url) is not first


async def test_a_stream_abandoned_midway_leaves_the_client_usable(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(text="A long answer the user cancels.", delay=0.01))
    stream = adapter.stream(ask(), credential)
    assert isinstance(stream, AsyncGenerator)  # so a cancelled turn can close it at once
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()  # what cancelling a turn does

    events = await collect(adapter, ask(timeout=2), credential)

    assert events[-1] == Done("end_turn")


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (ErrorKind.BAD_REQUEST, False)),
        (401, (ErrorKind.AUTH, False)),
        (403, (ErrorKind.AUTH, False)),
        (404, (ErrorKind.BAD_REQUEST, False)),
        (413, (ErrorKind.BAD_REQUEST, False)),
        (500, (ErrorKind.UNAVAILABLE, True)),
        (502, (ErrorKind.UNAVAILABLE, True)),
        (503, (ErrorKind.UNAVAILABLE, True)),
        (529, (ErrorKind.OVERLOADED, True)),
    ],
)
async def test_error_status_maps_to_kind_and_retryability(
    adapter: AnthropicAdapter,
    credential: ResolvedCredential,
    fake_anthropic: FakeAnthropic,
    status: int,
    expected: tuple[ErrorKind, bool],
) -> None:
    fake_anthropic.script(Script(fault=Fault("status", status=status)))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == expected
    assert error.status == status
    assert events == []
    assert "req_fake_fault" in error.message
    assert len(fake_anthropic.chat_requests()) == 1, "the adapter must not retry by itself"


async def test_rate_limit_carries_retry_after_from_the_header(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(fault=Fault("status", status=429, headers={"retry-after": "7"})))

    error, _ = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable, error.retry_after) == (ErrorKind.RATE_LIMIT, True, 7.0)


async def test_stream_cut_mid_answer_is_interrupted(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    # message_start, content_block_start, ping, two text deltas; then the connection is reset.
    # The delay lets each event reach the client before the reset, which discards unread data.
    fake_anthropic.script(
        Script(
            text="A long answer that never ends.",
            fault=Fault("cut", after_chunks=5),
            delay=0.05,
        )
    )

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.INTERRUPTED, True)
    assert events == [TextDelta("A long a"), TextDelta("nswer th")]


async def test_stream_ending_without_message_stop_is_interrupted(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    # message_start, content_block_start, ping, one text delta, content_block_stop; then EOF.
    fake_anthropic.script(Script(text="Half", fault=EndStream(after_chunks=5)))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.INTERRUPTED, True)
    assert events == [TextDelta("Half")]


async def test_overloaded_error_event_before_content_is_overloaded(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(fault=SSEError(after_chunks=1)))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.OVERLOADED, True)
    assert events == []


async def test_overloaded_error_event_after_content_is_interrupted(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(text="Partial answer here", fault=SSEError(after_chunks=4)))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.INTERRUPTED, True)
    assert any(isinstance(e, TextDelta) for e in events)


async def test_stalled_upstream_times_out_within_the_request_timeout(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(fault=Fault("stall", seconds=10)))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert (error.kind, error.retryable) == (ErrorKind.TIMEOUT, True)
    assert time.monotonic() - started < 2.0


async def test_stream_that_stalls_mid_answer_times_out(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Script(text="Slow answer", delay=3.0))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert (error.kind, error.retryable) == (ErrorKind.TIMEOUT, True)
    assert time.monotonic() - started < 2.0


async def test_unreachable_server_is_unavailable(adapter: AnthropicAdapter) -> None:
    nowhere = ResolvedCredential(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{free_port()}")

    error, _ = await failure(adapter, ask(timeout=2), nowhere)

    assert (error.kind, error.retryable) == (ErrorKind.UNAVAILABLE, True)


# --- health and embeddings -----------------------------------------------------------------------


async def test_health_check_is_healthy_with_latency(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    health = await adapter.health_check(credential)

    assert health.status == "healthy"
    assert health.latency_ms is not None
    assert health.latency_ms >= 0
    probe = fake_anthropic.requests[-1]
    assert (probe.path, probe.query) == ("/v1/models", {"limit": "1"})


@pytest.mark.parametrize(
    ("status", "expected"),
    [(529, "degraded"), (429, "degraded"), (401, "down"), (503, "down")],
)
async def test_health_check_reports_pushback_as_degraded_and_failure_as_down(
    adapter: AnthropicAdapter,
    credential: ResolvedCredential,
    fake_anthropic: FakeAnthropic,
    status: int,
    expected: str,
) -> None:
    fake_anthropic.models_fault = Fault("status", status=status)

    health = await adapter.health_check(credential)

    assert health.status == expected
    assert str(status) in health.error


async def test_health_check_of_unreachable_server_is_down(adapter: AnthropicAdapter) -> None:
    nowhere = ResolvedCredential(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{free_port()}")

    health = await adapter.health_check(nowhere)

    assert health.status == "down"
    assert "cannot reach Anthropic" in health.error


async def test_embed_is_refused_because_anthropic_has_no_embeddings(
    adapter: AnthropicAdapter, credential: ResolvedCredential
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["text"], "claude-haiku-4-5", credential)

    assert (caught.value.kind, caught.value.retryable) == (ErrorKind.BAD_REQUEST, False)
    assert "does not offer embeddings" in caught.value.message


# --- the fake speaks the real protocol -----------------------------------------------------------


async def test_fake_stream_accumulates_into_the_same_message_in_the_sdk_helper(
    fake_anthropic: FakeAnthropic,
) -> None:
    """The SDK's own accumulator must rebuild what the fake meant to say."""
    fake_anthropic.script(
        Script(
            thinking="Hmm.",
            text="Sunny.",
            tool_calls=[ToolUse("get_weather", {"city": "Nice"}, "toolu_9")],
        )
    )
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=fake_anthropic.base_url)

    async with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Weather in Nice?"}],
    ) as stream:
        message = await stream.get_final_message()

    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature == signature_for("Hmm.")  # type: ignore[union-attr]
    assert message.content[1].text == "Sunny."  # type: ignore[union-attr]
    assert message.content[2].input == {"city": "Nice"}  # type: ignore[union-attr]
    assert (message.stop_reason, message.usage.output_tokens) == ("tool_use", 7)
    await client.close()


async def test_fake_answers_non_streaming_requests_with_a_message(
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.script(Script(text="Plain answer."))
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=fake_anthropic.base_url)

    message = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )

    assert message.content[0].text == "Plain answer."  # type: ignore[union-attr]
    assert (message.stop_reason, message.usage.input_tokens) == ("end_turn", 12)
    await client.close()


async def test_fake_rejects_what_the_real_api_rejects(fake_anthropic: FakeAnthropic) -> None:
    client = anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=fake_anthropic.base_url)

    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=1000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Hi"}],
        )
    with pytest.raises(anthropic.BadRequestError, match="tool_result"):
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}],
                },
                {"role": "user", "content": "no result"},
            ],
        )
    with pytest.raises(anthropic.BadRequestError, match="adaptive"):
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            thinking={"type": "adaptive"},
            messages=[{"role": "user", "content": "Hi"}],
        )
    with pytest.raises(anthropic.NotFoundError, match="claude-nonexistent"):
        await client.messages.create(
            model="claude-nonexistent", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
        )
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        await client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "Hi"}],
            extra_body={"temperature": 1.0},
        )
    await client.close()


async def test_an_error_event_names_the_upstream_error_and_its_message(
    adapter: AnthropicAdapter, credential: ResolvedCredential, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        Script(fault=SSEError(after_chunks=1, error_type="api_error", message="Internal hiccup"))
    )

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind == ErrorKind.UNAVAILABLE
    assert error.message.startswith("Anthropic stream error api_error: Internal hiccup")


async def _lines(*lines: str) -> AsyncGenerator[str, None]:
    for line in lines:
        yield line


async def test_server_sent_events_are_read_as_the_sse_format_says() -> None:
    events = [
        event
        async for event in anthropic_adapter._server_sent_events(
            _lines(
                ": a comment, as a keep-alive",
                "event: message_start",
                'data:{"type": "message_start",',  # no space after the colon
                'data: "n": 1}',  # a second data line, joined with a newline
                "",
                "event: ping",  # not a Messages event: skipped
                'data: {"type": "ping"}',
                "",
                "event: something_new",  # unknown: skipped, as the SDK does
                'data: {"type": "something_new"}',
                "",
                "event: message_stop",  # the last event, without its blank line
                'data: {"type": "message_stop"}',
            )
        )
    ]

    assert events == [
        ("message_start", {"type": "message_start", "n": 1}),
        ("message_stop", {"type": "message_stop"}),
    ]


async def test_an_event_whose_data_is_not_json_breaks_the_stream() -> None:
    with pytest.raises(json.JSONDecodeError):
        async for _ in anthropic_adapter._server_sent_events(
            _lines("event: message_start", "data: {not json", "")
        ):
            pass
