"""The Z.ai (GLM) adapter, through the official SDK, against the fake Z.ai API."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI

from mosaic.fakes.base import Fault, Script, ToolUse
from mosaic.fakes.chat_completions import FakeZai
from providers.adapters.base import (
    ChatMessage,
    ChatRequest,
    Done,
    ErrorKind,
    ProviderAdapter,
    ResolvedCredential,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from providers.adapters.zai import ZaiAdapter
from tests.providers.streams import collect, failure

CALC_TOOL = ToolSpec(
    name="add",
    description="Add two integers",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)


@pytest.fixture
def adapter() -> ZaiAdapter:
    return ZaiAdapter()


@pytest.fixture
def credential(fake_zai: FakeZai) -> ResolvedCredential:
    return ResolvedCredential(api_key="zai-test-key", base_url=fake_zai.api_base)


def ask(text: str = "Hello?", **kwargs: Any) -> ChatRequest:
    return ChatRequest(model="glm-5", messages=[ChatMessage("user", text)], **kwargs)


def zai_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def test_adapter_satisfies_the_provider_protocol(adapter: ZaiAdapter) -> None:
    assert isinstance(adapter, ProviderAdapter)
    assert adapter.default_base_url == "https://api.z.ai/api/paas/v4"


async def test_thinking_streams_from_reasoning_content(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(
        Script(text="Olá!", thinking="Portuguese greeting.", input_tokens=15, output_tokens=6)
    )

    events = await collect(adapter, ask("Say hi in Portuguese", reasoning=True), credential)

    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == (
        "Portuguese greeting."
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Olá!"
    assert events[-2:] == [Usage(input_tokens=15, output_tokens=6), Done("end_turn")]
    sent = fake_zai.chat_requests()[0]
    assert sent.json["thinking"] == {"type": "enabled"}
    assert sent.headers["authorization"] == "Bearer zai-test-key"


async def test_thinking_is_switched_off_when_not_asked_for(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    await collect(adapter, ask(), credential)

    assert fake_zai.chat_requests()[0].json["thinking"] == {"type": "disabled"}


async def test_whole_tool_call_in_the_final_chunk_with_usage(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(
        Script(
            text="",
            thinking="Need to add.",
            tool_calls=[ToolUse("add", {"a": 2, "b": 3}, call_id="call_-812")],
            input_tokens=40,
            output_tokens=12,
        )
    )

    events = await collect(adapter, ask("2+3?", tools=[CALC_TOOL], reasoning=True), credential)

    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall("call_-812", "add", {"a": 2, "b": 3})
    ]
    assert events[-2:] == [Usage(input_tokens=40, output_tokens=12), Done("tool_use")]


async def test_history_returns_reasoning_with_the_tool_calling_turn(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    request = ChatRequest(
        model="glm-5",
        system="You can add.",
        tools=[CALC_TOOL],
        reasoning=True,
        messages=[
            ChatMessage("user", "2+3?"),
            ChatMessage("thinking", "Need to add."),
            ChatMessage("tool_call", tool_call_id="c1", tool_name="add", tool_arguments={"a": 2}),
            ChatMessage("tool_result", "5", tool_call_id="c1"),
        ],
    )

    await collect(adapter, request, credential)

    messages = fake_zai.chat_requests()[0].json["messages"]
    assert messages == [
        {"role": "system", "content": "You can add."},
        {"role": "user", "content": "2+3?"},
        {
            "role": "assistant",
            "content": "",
            "reasoning_content": "Need to add.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "5"},
    ]


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("sensitive", "refusal"),
        ("model_context_window_exceeded", "max_tokens"),
        ("max_tokens", "max_tokens"),  # the fake sends "length"
        ("something_new", "other"),
    ],
)
async def test_finish_reasons_map_to_stop_reasons(
    adapter: ZaiAdapter,
    credential: ResolvedCredential,
    fake_zai: FakeZai,
    finish_reason: str,
    stop_reason: str,
) -> None:
    fake_zai.script(Script(text="...", stop_reason=finish_reason))

    events = await collect(adapter, ask(), credential)

    assert events[-1] == Done(stop_reason)


async def test_network_error_finish_reason_is_an_interrupted_stream(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(Script(text="Half an ans", stop_reason="network_error"))

    error, events = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.INTERRUPTED
    assert error.retryable is True
    assert any(isinstance(e, TextDelta) for e in events)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(Fault("status", 401), (ErrorKind.AUTH, False, None), id="401-1002"),
        pytest.param(
            Fault("status", 429, headers={"Retry-After": "7"}),
            (ErrorKind.RATE_LIMIT, True, 7.0),
            id="429-1302-retry-after",
        ),
        pytest.param(
            Fault("status", 429, body=zai_error("1113", "Your account is in arrears")),
            (ErrorKind.AUTH, False, None),
            id="429-1113-arrears",
        ),
        pytest.param(
            Fault("status", 429, body=zai_error("1308", "Usage limit reached for 5 hours")),
            (ErrorKind.RATE_LIMIT, False, None),
            id="429-1308-plan-limit",
        ),
        pytest.param(
            Fault("status", 429, body=zai_error("1305", "The API has triggered a rate limit")),
            (ErrorKind.RATE_LIMIT, True, None),
            id="429-1305",
        ),
        pytest.param(
            Fault("status", 400, body=zai_error("1301", "unsafe or sensitive content")),
            (ErrorKind.BAD_REQUEST, False, None),
            id="400-1301",
        ),
        pytest.param(
            Fault("status", 400, body=zai_error("1211", "Model does not exist")),
            (ErrorKind.BAD_REQUEST, False, None),
            id="400-1211",
        ),
        pytest.param(Fault("status", 500), (ErrorKind.UNAVAILABLE, True, None), id="500"),
        pytest.param(Fault("status", 503), (ErrorKind.UNAVAILABLE, True, None), id="503"),
    ],
)
async def test_error_codes_map_to_provider_errors(
    adapter: ZaiAdapter,
    credential: ResolvedCredential,
    fake_zai: FakeZai,
    fault: Fault,
    expected: tuple[ErrorKind, bool, float | None],
) -> None:
    fake_zai.script(Script(fault=fault))

    error, events = await failure(adapter, ask(), credential)

    assert events == []
    assert (error.kind, error.retryable, error.retry_after) == expected
    assert error.status == fault.status
    assert error.provider == "zai"


async def test_wrong_key_is_an_auth_error(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.api_keys = {"the-right-key"}

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.AUTH
    assert "Authorization Token is invalid" in error.message


async def test_connection_cut_mid_stream_is_interrupted(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(Script(text="Some words here", fault=Fault("cut", after_chunks=2)))

    error, _ = await failure(adapter, ask(), credential)

    assert error.kind is ErrorKind.INTERRUPTED


async def test_stalled_upstream_times_out(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(Script(fault=Fault("stall", seconds=30)))

    started = time.monotonic()
    error, _ = await failure(adapter, ask(timeout=0.5), credential)

    assert error.kind is ErrorKind.TIMEOUT
    assert time.monotonic() - started < 3


async def test_list_models_comes_from_the_catalog(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    models = {m.id: m for m in await adapter.list_models(credential)}

    assert models["glm-5"].tier == "standard"
    assert models["glm-5"].context_window == 200_000
    assert models["glm-5"].reasoning is True
    assert fake_zai.requests == []


async def test_health_check_falls_back_to_a_one_token_completion(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    first = await adapter.health_check(credential)
    second = await adapter.health_check(credential)

    assert first.status == second.status == "healthy"
    paths = [r.path for r in fake_zai.requests]
    # /models is not Z.ai's: asked once, then the probe goes straight to a completion.
    assert paths == [
        "/api/paas/v4/models",
        "/api/paas/v4/chat/completions",
        "/api/paas/v4/chat/completions",
    ]
    probe = fake_zai.chat_requests()[0].json
    assert probe["max_tokens"] == 1
    assert probe["thinking"] == {"type": "disabled"}
    assert probe["model"] == "glm-5"


async def test_health_check_with_a_bad_key_is_down(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.api_keys = {"another-key"}

    health = await adapter.health_check(credential)

    assert health.status == "down"


async def test_health_check_when_rate_limited_is_degraded(
    adapter: ZaiAdapter, credential: ResolvedCredential, fake_zai: FakeZai
) -> None:
    fake_zai.script(Script(fault=Fault("status", 429)))  # answers the completion probe

    health = await adapter.health_check(credential)

    assert health.status == "degraded"


def test_fake_rejects_requests_without_a_bearer_key(fake_zai: FakeZai) -> None:
    response = httpx.post(fake_zai.api_base + "/chat/completions", json={"model": "glm-5"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "1001"


async def test_fake_answers_non_streamed_completions_in_the_sdk_shape(fake_zai: FakeZai) -> None:
    fake_zai.script(Script(text="Done.", thinking="Easy."))
    client = AsyncOpenAI(api_key="zai-test-key", base_url=fake_zai.api_base, max_retries=0)

    completion = await client.chat.completions.create(
        model="glm-5", messages=[{"role": "user", "content": "Hi"}]
    )

    message = completion.choices[0].message
    assert message.content == "Done."
    assert (message.model_extra or {})["reasoning_content"] == "Easy."
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 12
    await client.close()
