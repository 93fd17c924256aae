"""The Ollama adapter against the fake Ollama server (and the official client against the fake)."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import AsyncGenerator
from typing import Any

import ollama
import pytest

from mosaic.fakes.base import Fault, Script, ToolUse
from mosaic.fakes.ollama import ErrorLine, FakeOllama, FakeOllamaModel, fake_embedding
from providers import catalog
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
from providers.adapters.ollama import OllamaAdapter
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
QWEN = FakeOllamaModel("qwen3:8b", "qwen3", "8.2B", "Q4_K_M", 5_225_376_047, thinking=True)


@pytest.fixture
def adapter() -> OllamaAdapter:
    return OllamaAdapter()


@pytest.fixture
def credential(fake_ollama: FakeOllama) -> ResolvedCredential:
    # No key: Ollama needs none.
    return ResolvedCredential(base_url=fake_ollama.base_url)


@pytest.fixture(autouse=True)
def _forget_registered_ollama_models() -> Any:
    yield
    catalog.clear_dynamic("ollama")


def ask(text: str = "Hello?", model: str = "llama3.2", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=[ChatMessage("user", text)], **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_adapter_satisfies_the_provider_protocol(adapter: OllamaAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.name == "ollama"
    assert adapter.default_base_url == "http://localhost:11434"
    assert adapter.supports_embeddings is True


# --- models --------------------------------------------------------------------------------------


async def test_list_models_describes_pulled_models_from_the_catalog(
    adapter: OllamaAdapter, credential: ResolvedCredential
) -> None:
    specs = {spec.id: spec for spec in await adapter.list_models(credential)}

    assert set(specs) == {"llama3.2:latest", "nomic-embed-text:latest"}
    llama = specs["llama3.2:latest"]
    assert (llama.tier, llama.tools, llama.embedding_dims) == ("local", True, None)
    assert (llama.input_cost_per_mtok, llama.output_cost_per_mtok) == (0.0, 0.0)
    assert specs["nomic-embed-text:latest"].embedding_dims == 768


async def test_list_models_gives_unknown_models_conservative_specs(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models += [
        FakeOllamaModel("acme-private:7b", "llama", "7B", "Q4_0", 4_000_000_000),
        FakeOllamaModel("all-minilm:l6-v2", "bert", "23M", "F16", 45_000_000, embedding_dims=384),
        FakeOllamaModel("acme-embed:latest", "bert", "300M", "F16", 600_000_000, 512),
    ]

    specs = {spec.id: spec for spec in await adapter.list_models(credential)}

    private = specs["acme-private:7b"]
    assert (private.context_window, private.tools, private.reasoning) == (8192, False, False)
    assert (private.tier, private.input_cost_per_mtok) == ("local", 0.0)
    assert specs["all-minilm:l6-v2"].embedding_dims == 384
    assert specs["acme-embed:latest"].embedding_dims == 0  # an embedding model of unknown size
    # The catalog now answers for what the server has.
    assert catalog.get_spec("ollama", "acme-private:7b") == private


# --- streaming -----------------------------------------------------------------------------------


async def test_text_stream_yields_deltas_then_usage_then_done(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(
        Script(text="The sky is blue because of Rayleigh scattering.", input_tokens=26)
    )

    events = await collect(adapter, ask(), credential)

    texts = [e for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1, "the reply must arrive in pieces"
    assert "".join(t.text for t in texts) == "The sky is blue because of Rayleigh scattering."
    assert events[len(texts) :] == [Usage(input_tokens=26, output_tokens=7), Done("end_turn")]
    sent = fake_ollama.chat_requests()[-1].json
    assert (sent["model"], sent["stream"]) == ("llama3.2", True)
    assert "think" not in sent


async def test_thinking_model_streams_thinking_before_the_answer(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models.append(QWEN)
    fake_ollama.script(Script(thinking="17 * 23 = 391.", text="391"))

    events = await collect(adapter, ask("17 * 23?", model="qwen3:8b", reasoning=True), credential)

    thinking = [e for e in events if isinstance(e, ThinkingDelta)]
    assert "".join(t.text for t in thinking) == "17 * 23 = 391."
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(isinstance(e, ThinkingDelta) for e in events[:first_text])
    assert fake_ollama.chat_requests()[-1].json["think"] is True


async def test_reasoning_on_a_model_that_cannot_think_retries_without_think(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(text="Plain answer."))

    events = await collect(adapter, ask(reasoning=True), credential)

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Plain answer."
    first, second = fake_ollama.chat_requests()
    assert first.json["think"] is True
    assert "think" not in second.json


async def test_tool_calls_get_stable_ids_and_end_with_tool_use(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    script = Script(
        text="",
        tool_calls=[
            ToolUse("get_weather", {"city": "Paris"}),
            ToolUse("get_weather", {"city": "Lyon"}),
        ],
    )
    fake_ollama.script(script, script)

    first = await collect(adapter, ask(tools=[WEATHER_TOOL]), credential)
    again = await collect(adapter, ask(tools=[WEATHER_TOOL]), credential)

    calls = [e for e in first if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Lyon"}),
    ]
    assert len({c.call_id for c in calls}) == 2
    assert all(c.call_id.startswith("call_") for c in calls)
    assert [e for e in again if isinstance(e, ToolCall)] == calls, "same answer, same ids"
    assert first[-1] == Done("tool_use")
    assert fake_ollama.chat_requests()[-1].json["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": WEATHER_TOOL.parameters,
            },
        }
    ]


async def test_length_stop_is_normalised_and_options_are_sent(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(text="Trunc", stop_reason="length"))

    events = await collect(adapter, ask(max_tokens=5, temperature=0.2), credential)

    assert events[-1] == Done("max_tokens")
    assert fake_ollama.chat_requests()[-1].json["options"] == {
        "temperature": 0.2,
        "num_predict": 5,
    }


# --- history translation -------------------------------------------------------------------------


async def test_resumed_tool_turn_sends_ollama_shaped_history(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    history = [
        ChatMessage("user", "Weather in Paris and Lyon?"),
        ChatMessage("thinking", "Two calls."),
        ChatMessage("assistant", "Checking."),
        ChatMessage("tool_call", tool_call_id="c1", tool_name="get_weather",
                    tool_arguments={"city": "Paris"}),
        ChatMessage("tool_call", tool_call_id="c2", tool_name="get_weather",
                    tool_arguments={"city": "Lyon"}),
        ChatMessage("tool_result", "18°C", tool_call_id="c1"),
        ChatMessage("tool_result", "city not found", tool_call_id="c2", is_error=True),
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "And tomorrow?"),
    ]  # fmt: skip
    request = ChatRequest(model="llama3.2", messages=history, system="You are Mosaic.")

    await collect(adapter, request, credential)

    assert fake_ollama.chat_requests()[-1].json["messages"] == [
        {"role": "system", "content": "You are Mosaic."},
        {"role": "user", "content": "Weather in Paris and Lyon?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "thinking": "Two calls.",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {
                        "index": 0,
                        "name": "get_weather",
                        "arguments": {"city": "Paris"},
                    },
                },
                {
                    "type": "function",
                    "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Lyon"}},
                },
            ],
        },
        {"role": "tool", "tool_name": "get_weather", "content": "18°C"},
        {"role": "tool", "tool_name": "get_weather", "content": "Error: city not found"},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "And tomorrow?"},
    ]


# --- authentication ------------------------------------------------------------------------------


async def test_no_credential_sends_no_authorization(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    await collect(adapter, ask(), credential)

    assert "authorization" not in fake_ollama.chat_requests()[-1].headers


async def test_a_key_for_a_proxied_ollama_is_sent_as_bearer(
    adapter: OllamaAdapter, fake_ollama: FakeOllama
) -> None:
    proxied = ResolvedCredential(api_key="proxy-token", base_url=fake_ollama.base_url)

    await collect(adapter, ask(), proxied)

    assert fake_ollama.chat_requests()[-1].headers["authorization"] == "Bearer proxy-token"


async def test_a_stream_abandoned_midway_leaves_the_client_usable(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(text="A long answer the user cancels.", delay=0.01))
    stream = adapter.stream(ask(), credential)
    assert isinstance(stream, AsyncGenerator)  # so a cancelled turn can close it at once
    assert isinstance(await anext(stream), TextDelta)
    await stream.aclose()  # what cancelling a turn does

    events = await collect(adapter, ask(timeout=2), credential)

    assert events[-1] == Done("end_turn")


# --- failures ------------------------------------------------------------------------------------


async def test_model_not_pulled_is_a_bad_request_that_says_how_to_fix_it(
    adapter: OllamaAdapter, credential: ResolvedCredential
) -> None:
    error, _ = await failure(adapter, ask(model="mistral:7b"), credential)

    assert (error.kind, error.retryable, error.status) == (ErrorKind.BAD_REQUEST, False, 404)
    assert "model mistral:7b is not pulled" in error.message
    assert "`ollama pull mistral:7b`" in error.message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, (ErrorKind.BAD_REQUEST, False)),
        (401, (ErrorKind.AUTH, False)),
        (429, (ErrorKind.RATE_LIMIT, True)),
        (500, (ErrorKind.UNAVAILABLE, True)),
        (502, (ErrorKind.UNAVAILABLE, True)),
        (503, (ErrorKind.UNAVAILABLE, True)),
    ],
)
async def test_error_status_maps_to_kind_and_retryability(
    adapter: OllamaAdapter,
    credential: ResolvedCredential,
    fake_ollama: FakeOllama,
    status: int,
    expected: tuple[ErrorKind, bool],
) -> None:
    fake_ollama.script(Script(fault=Fault("status", status=status, headers={"retry-after": "3"})))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == expected
    assert (error.status, error.retry_after, events) == (status, 3.0, [])


async def test_stream_cut_mid_answer_is_interrupted(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    # The delay lets each line reach the client before the reset, which discards unread data.
    fake_ollama.script(
        Script(
            text="A long answer that never ends.", fault=Fault("cut", after_chunks=2), delay=0.05
        )
    )

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.INTERRUPTED, True)
    assert events == [TextDelta("A long a"), TextDelta("nswer th")]


async def test_error_line_mid_stream_is_interrupted(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(text="Partial answer here", fault=ErrorLine(after_chunks=1)))

    error, events = await failure(adapter, ask(), credential)

    assert (error.kind, error.retryable) == (ErrorKind.INTERRUPTED, True)
    assert "an error was encountered while running the model" in error.message
    assert events == [TextDelta("Partial ")]


async def test_stalled_server_times_out_within_the_request_timeout(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(fault=Fault("stall", seconds=10)))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert (error.kind, error.retryable) == (ErrorKind.TIMEOUT, True)
    assert time.monotonic() - started < 2.0


async def test_stream_that_stalls_mid_answer_times_out(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.script(Script(text="Slow answer", delay=3.0))

    started = time.monotonic()
    error, events = await failure(adapter, ask(timeout=0.5), credential)

    assert (error.kind, error.retryable) == (ErrorKind.TIMEOUT, True)
    assert events == [TextDelta("Slow ans")]
    assert time.monotonic() - started < 2.0


async def test_unreachable_server_is_unavailable(adapter: OllamaAdapter) -> None:
    nowhere = ResolvedCredential(base_url=f"http://127.0.0.1:{free_port()}")

    error, _ = await failure(adapter, ask(timeout=2), nowhere)

    assert (error.kind, error.retryable) == (ErrorKind.UNAVAILABLE, True)
    assert "cannot reach Ollama" in error.message


# --- health --------------------------------------------------------------------------------------


async def test_health_check_is_healthy_with_latency(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    health = await adapter.health_check(credential)

    assert health.status == "healthy"
    assert health.latency_ms is not None
    assert fake_ollama.requests[-1].path == "/api/version"


async def test_health_check_of_a_failing_server_is_down(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    fake_ollama.tags_fault = Fault("status", status=500)

    health = await adapter.health_check(credential)

    assert health.status == "down"
    assert "500" in health.error


async def test_health_check_of_an_unreachable_server_is_down(adapter: OllamaAdapter) -> None:
    health = await adapter.health_check(
        ResolvedCredential(base_url=f"http://127.0.0.1:{free_port()}")
    )

    assert health.status == "down"
    assert "cannot reach Ollama" in health.error


# --- embeddings ----------------------------------------------------------------------------------


async def test_embeddings_have_the_models_dimension_in_input_order(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    vectors = await adapter.embed(["first text", "second text"], "nomic-embed-text", credential)

    assert [len(v) for v in vectors] == [768, 768]
    assert vectors == [fake_embedding("first text", 768), fake_embedding("second text", 768)]
    assert math.isclose(math.fsum(x * x for x in vectors[0]), 1.0)
    assert fake_ollama.requests[-1].json == {
        "model": "nomic-embed-text",
        "input": ["first text", "second text"],
    }


async def test_embedding_nothing_makes_no_request(
    adapter: OllamaAdapter, credential: ResolvedCredential, fake_ollama: FakeOllama
) -> None:
    assert await adapter.embed([], "nomic-embed-text", credential) == []
    assert fake_ollama.requests == []


async def test_embedding_with_a_model_not_pulled_says_how_to_fix_it(
    adapter: OllamaAdapter, credential: ResolvedCredential
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["text"], "mxbai-embed-large", credential)

    assert (caught.value.kind, caught.value.retryable) == (ErrorKind.BAD_REQUEST, False)
    assert "`ollama pull mxbai-embed-large`" in caught.value.message


async def test_embedding_with_a_chat_model_is_a_bad_request(
    adapter: OllamaAdapter, credential: ResolvedCredential
) -> None:
    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["text"], "llama3.2", credential)

    assert caught.value.kind is ErrorKind.BAD_REQUEST
    assert "does not support embeddings" in caught.value.message


async def test_embedding_on_an_unreachable_server_is_unavailable(adapter: OllamaAdapter) -> None:
    nowhere = ResolvedCredential(base_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(ProviderError) as caught:
        await adapter.embed(["text"], "nomic-embed-text", nowhere)

    assert (caught.value.kind, caught.value.retryable) == (ErrorKind.UNAVAILABLE, True)


# --- the fake speaks the real protocol -----------------------------------------------------------


async def test_official_client_parses_the_fakes_chat_stream(fake_ollama: FakeOllama) -> None:
    fake_ollama.models.append(QWEN)
    fake_ollama.script(
        Script(thinking="Hmm.", text="Sunny.", tool_calls=[ToolUse("get_weather", {"city": "X"})])
    )
    client = ollama.AsyncClient(host=fake_ollama.base_url)

    chunks = [
        chunk
        async for chunk in await client.chat(
            model="qwen3:8b",
            messages=[{"role": "user", "content": "Weather?"}],
            think=True,
            stream=True,
        )
    ]

    assert "".join(c.message.thinking or "" for c in chunks) == "Hmm."
    assert "".join(c.message.content or "" for c in chunks) == "Sunny."
    calls = [call for c in chunks for call in c.message.tool_calls or ()]
    assert [(call.function.name, dict(call.function.arguments)) for call in calls] == [
        ("get_weather", {"city": "X"})
    ]
    assert (chunks[-1].done, chunks[-1].done_reason, chunks[-1].eval_count) == (True, "stop", 7)


async def test_official_client_reads_the_fakes_tags_and_embeddings(
    fake_ollama: FakeOllama,
) -> None:
    client = ollama.AsyncClient(host=fake_ollama.base_url)

    listed = await client.list()
    embedded = await client.embed(model="nomic-embed-text", input="hello")
    with pytest.raises(ollama.ResponseError) as missing:
        await client.chat(model="nope", messages=[{"role": "user", "content": "hi"}])

    assert [m.model for m in listed.models] == ["llama3.2:latest", "nomic-embed-text:latest"]
    assert listed.models[0].details is not None
    assert listed.models[0].details.quantization_level == "Q4_K_M"
    assert len(embedded.embeddings[0]) == 768
    assert missing.value.status_code == 404
    assert "try pulling it first" in missing.value.error
