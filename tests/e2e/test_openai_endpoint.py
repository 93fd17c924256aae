"""The OpenAI-compatible endpoint, end to end: the official ``openai`` SDK against a live daphne,
with the fake upstreams answering (docs/openai-api.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from asgiref.sync import sync_to_async

from agents.models import AgentConfig, Session
from conversations.models import Conversation, Message
from conversations.selectors import conversation_search
from mosaic.fakes.base import Fault, Script, ToolUse
from tests.agents.chat import ChatClient
from tests.conftest import token_for
from tests.live import LiveProcess, start_daphne

# The first test also starts daphne, which took up to a minute on a busy 2-core machine.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
]

SONNET = "anthropic:claude-sonnet-4-6"
# coding + moderate, with a clear margin (94 %) under the shipped classifier
CODING = "Write a Flask endpoint that returns one user's orders from PostgreSQL, with a test"
SIMPLE = "What is the capital of France?"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def _daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveProcess]]:
    holder: dict[str, LiveProcess] = {}
    yield holder
    if "server" in holder:
        holder["server"].stop()


@pytest.fixture
def server(
    _daphne: dict[str, LiveProcess],
    upstreams: dict[str, str],
    transactional_db: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> LiveProcess:
    """One daphne for the module (the fake upstreams keep their ports for the whole session)."""
    if "server" not in _daphne:
        _daphne["server"] = start_daphne(tmp_path_factory.mktemp("openai-daphne"), upstreams)
    return _daphne["server"]


def client_for(server: LiveProcess, token: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.http_url}/v1", api_key=token, max_retries=0)


async def token(user: Any) -> str:
    return await sync_to_async(token_for)(user)


def rows(conversation_id: str) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("sequence"))


async def stored(conversation_id: str) -> list[Message]:
    return await sync_to_async(rows)(conversation_id)


async def test_a_completion_answers_in_openai_shape_and_is_stored_as_a_conversation(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Paris.", input_tokens=21, output_tokens=3))
    client = client_for(server, await token(alice))

    raw = await client.chat.completions.with_raw_response.create(
        model=SONNET,
        messages=[
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": SIMPLE},
        ],
        temperature=0.2,
        max_tokens=50,
        stop=["END"],
        extra_body={"unknown_field": {"is": "ignored"}},
    )
    completion = raw.parse()

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Paris."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (21, 3)
    assert completion.model == SONNET
    assert raw.headers["x-mosaic-provider"] == "anthropic"
    assert raw.headers["x-mosaic-model"] == "claude-sonnet-4-6"
    assert raw.headers["x-mosaic-reason"]
    assert float(raw.headers["x-mosaic-added-ms"]) >= 0
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["model"] == "claude-sonnet-4-6"
    assert sent["max_tokens"] == 50
    assert sent["stop_sequences"] == ["END"]
    assert "Answer in one word." in sent["system"]

    conversation_id = raw.headers["x-mosaic-conversation-id"]
    messages = await stored(conversation_id)
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", SIMPLE, "complete"),
        ("assistant", "Paris.", "complete"),
    ]
    assert messages[1].routing is not None
    assert messages[1].routing["provider"] == "anthropic"
    conversation = await sync_to_async(Conversation.objects.get)(pk=conversation_id)
    assert conversation.owner_id == alice.pk
    assert conversation.title == SIMPLE
    found = await sync_to_async(
        lambda: {
            str(hit.conversation_id)
            for hit in conversation_search(user=alice, query="capital").hits
        }
    )()
    assert found == {conversation_id}
    session = await sync_to_async(Session.objects.get)(conversation_id=conversation_id)
    assert session.client == "openai"
    assert (session.turns, session.input_tokens, session.output_tokens) == (1, 21, 3)
    assert session.ended_at is not None


async def test_a_stream_sends_chunks_then_usage_then_done(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    reply = "Streaming works in several pieces."
    # Chunks a few milliseconds apart, as a model sends them (chunks that arrive all at once
    # are merged by the relay, which would make this a test of one chunk).
    fake_anthropic.script(
        Script(text=reply, chunk_size=4, input_tokens=9, output_tokens=8, delay=0.03)
    )
    client = client_for(server, await token(alice))

    stream = await client.chat.completions.create(
        model=SONNET,
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert {c.model for c in chunks} == {SONNET}
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 8)


async def test_the_raw_stream_ends_with_done_and_carries_the_route_in_headers(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="raw"))
    headers = {"Authorization": f"Bearer {await token(alice)}"}
    body = {"model": SONNET, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream(
            "POST", f"{server.http_url}/v1/chat/completions", json=body, headers=headers
        ) as response,
    ):
        lines = [line async for line in response.aiter_lines() if line]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-mosaic-model"] == "claude-sonnet-4-6"
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)
    assert "usage" not in json.loads(lines[1].removeprefix("data: "))


async def test_auto_routes_a_coding_request_and_a_simple_question_to_different_models(
    alice: Any, server: LiveProcess, fake_anthropic: Any, fake_openai: Any, fake_zai: Any
) -> None:
    client = client_for(server, await token(alice))
    coding = await client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": CODING}]
    )
    simple = await client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": SIMPLE}]
    )

    assert coding.headers["x-mosaic-rule"] == "coding-moderate"
    assert coding.headers["x-mosaic-model"] == "claude-sonnet-4-6"
    assert fake_anthropic.chat_requests()[0].json["model"] == "claude-sonnet-4-6"
    assert simple.headers["x-mosaic-model"] != coding.headers["x-mosaic-model"]
    assert simple.headers["x-mosaic-rule"] not in ("", "coding-moderate")
    fakes = {"anthropic": fake_anthropic, "openai": fake_openai, "zai": fake_zai}
    answered = fakes[simple.headers["x-mosaic-provider"]].chat_requests()[-1].json
    assert answered["model"] == simple.headers["x-mosaic-model"]


async def test_an_agent_model_uses_the_agents_prompt_with_the_callers_system_text(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    coding = await sync_to_async(AgentConfig.objects.get)(slug="coding-agent", owner=None)
    client = client_for(server, await token(alice))
    raw = await client.chat.completions.with_raw_response.create(
        model="agent:coding-agent",
        messages=[
            {"role": "developer", "content": "Prefer Python."},
            {"role": "user", "content": CODING},
        ],
    )
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["system"] == f"{coding.system_prompt}\n\nPrefer Python."
    conversation = await sync_to_async(Conversation.objects.get)(
        pk=raw.headers["x-mosaic-conversation-id"]
    )
    assert conversation.agent_slug == "coding-agent"


async def test_the_callers_tools_round_trip_and_resending_history_stores_nothing_twice(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("get_weather", {"city": "Oslo"}, "toolu_1")]),
        Script(text="It is sunny in Oslo."),
    )
    client = client_for(server, await token(alice))
    question: Any = {"role": "user", "content": "What is the weather in Oslo?"}

    first = await client.chat.completions.with_raw_response.create(
        model=SONNET, messages=[question], tools=[WEATHER_TOOL], tool_choice="auto"
    )
    asked = first.parse().choices[0]
    assert asked.finish_reason == "tool_calls"
    assert asked.message.tool_calls is not None
    (call,) = asked.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    tools_sent = fake_anthropic.chat_requests()[0].json["tools"]
    assert [t["name"] for t in tools_sent][-1] == "get_weather"
    assert fake_anthropic.chat_requests()[0].json["tool_choice"] == {"type": "auto"}
    conversation_id = first.headers["x-mosaic-conversation-id"]

    answer: Any = asked.message.model_dump(exclude_none=True)
    second = await client.chat.completions.create(
        model=SONNET,
        messages=[
            question,
            answer,
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
        tools=[WEATHER_TOOL],
        user=conversation_id,
    )
    assert second.choices[0].message.content == "It is sunny in Oslo."

    sent = fake_anthropic.chat_requests()[1].json["messages"]
    result = sent[-1]["content"][0]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == call.id
    assert "sunny, 21 C" in json.dumps(result["content"])
    roles = [m.role for m in await stored(conversation_id)]
    assert roles == ["user", "tool_call", "tool_result", "assistant"]


async def test_a_named_conversation_continues_without_duplicating_the_resent_history(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Hello Ada."), Script(text="You are Ada."))
    client = client_for(server, await token(alice))
    hello: Any = {"role": "user", "content": "My name is Ada."}
    first = await client.chat.completions.with_raw_response.create(model=SONNET, messages=[hello])
    conversation_id = first.headers["x-mosaic-conversation-id"]

    await client.chat.completions.create(
        model=SONNET,
        messages=[
            hello,
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "Who am I?"},
        ],
        extra_headers={"X-Mosaic-Conversation-Id": conversation_id},
    )

    messages = await stored(conversation_id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "Who am I?"),
        ("assistant", "You are Ada."),
    ]
    sent = fake_anthropic.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


async def test_a_call_without_a_conversation_stores_the_history_it_brings(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    client = client_for(server, await token(alice))
    raw = await client.chat.completions.with_raw_response.create(
        model=SONNET,
        messages=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    messages = await stored(raw.headers["x-mosaic-conversation-id"])
    assert [(m.role, m.content) for m in messages][:3] == [
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
    ]
    sent = fake_anthropic.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


async def test_wrong_types_unknown_models_and_missing_tokens_get_openai_errors(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    client = client_for(server, await token(alice))
    before = await sync_to_async(Conversation.objects.count)()

    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(
            model=SONNET,
            messages=[{"role": "user", "content": "hi"}],
            temperature="hot",  # type: ignore[call-overload]
        )
    assert bad.value.status_code == 400
    assert bad.value.body["param"] == "temperature"  # type: ignore[index]
    assert bad.value.body["type"] == "invalid_request_error"  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as role:
        await client.chat.completions.create(
            model=SONNET,
            messages=[{"role": "wizard", "content": "hi"}],  # type: ignore[list-item,misc]
        )
    assert role.value.body["param"] == "messages[0].role"  # type: ignore[index]

    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(
            model="anthropic:no-such-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert unknown.value.code == "model_not_found"

    with pytest.raises(openai.AuthenticationError):
        await client_for(server, "not-a-token").chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "hi"}]
        )
    assert await sync_to_async(Conversation.objects.count)() == before
    assert fake_anthropic.chat_requests() == []


async def test_upstream_rate_limits_and_outages_map_to_openai_statuses(
    alice: Any, server: LiveProcess, fake_anthropic: Any, fake_openai: Any, fake_zai: Any
) -> None:
    limited = Fault(
        "status",
        status=429,
        headers={"retry-after": "7"},
        body={"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
    )
    fake_anthropic.default_script = Script(fault=limited)
    client = client_for(server, await token(alice))

    with pytest.raises(openai.RateLimitError) as rate:
        await client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "hi"}]
        )
    assert rate.value.response.headers["retry-after"] == "7"
    assert rate.value.code == "provider_rate_limit"

    broken = Fault(
        "status", status=500, body={"type": "error", "error": {"type": "api_error", "message": "x"}}
    )
    fake_anthropic.default_script = Script(fault=broken)
    fake_openai.default_script = Script(fault=Fault("status", status=500))
    fake_zai.default_script = Script(fault=Fault("status", status=500))
    with pytest.raises(openai.APIStatusError) as down:
        await client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    assert down.value.status_code in (502, 503)
    assert down.value.body["type"] == "server_error"  # type: ignore[index]


async def test_another_users_conversation_answers_404(
    alice: Any, bob: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    alices = await client_for(server, await token(alice)).chat.completions.with_raw_response.create(
        model=SONNET, messages=[{"role": "user", "content": "private"}]
    )
    conversation_id = alices.headers["x-mosaic-conversation-id"]
    bobs = client_for(server, await token(bob))

    with pytest.raises(openai.NotFoundError) as missing:
        await bobs.chat.completions.create(
            model=SONNET,
            messages=[{"role": "user", "content": "let me in"}],
            user=conversation_id,
        )
    assert missing.value.code == "conversation_not_found"
    assert [m.content for m in await stored(conversation_id)] == ["private", Script().text]


async def test_the_conversation_is_then_open_on_the_socket(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Stored for later."))
    key = await token(alice)
    raw = await client_for(server, key).chat.completions.with_raw_response.create(
        model=SONNET, messages=[{"role": "user", "content": "remember this"}]
    )
    socket = await ChatClient.connect_url(server.ws_url, key)
    _, history = await socket.open(conversation_id=raw.headers["x-mosaic-conversation-id"])
    await socket.close()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", "remember this"),
        ("assistant", "Stored for later."),
    ]


async def test_a_client_leaving_mid_stream_stops_the_upstream_and_stores_the_part_as_failed(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    reply = "".join(f"w{i:03d} " for i in range(400))
    fake_anthropic.script(Script(text=reply, chunk_size=5, delay=0.02))
    client = client_for(server, await token(alice))
    raw = await client.chat.completions.with_raw_response.create(
        model=SONNET, messages=[{"role": "user", "content": "a long one"}], stream=True
    )
    conversation_id = raw.headers["x-mosaic-conversation-id"]
    stream = raw.parse()
    received = 0
    async for chunk in stream:
        received += bool(chunk.choices and chunk.choices[0].delta.content)
        if received >= 5:
            break
    await stream.close()

    for _ in range(200):
        messages = await stored(conversation_id)
        if len(messages) == 2:
            break
        await asyncio.sleep(0.05)
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "failed")]
    assert 0 < len(messages[1].content) < len(reply)


async def test_models_lists_auto_the_agents_and_the_usable_models(
    alice: Any, server: LiveProcess
) -> None:
    listing = await client_for(server, await token(alice)).models.list()
    ids = [model.id for model in listing.data]
    assert ids[0] == "auto"
    assert "agent:general" in ids
    assert "agent:coding-agent" in ids
    assert SONNET in ids
    assert all(model.object == "model" for model in listing.data)


async def read_text(stream: Any, text: list[str]) -> None:
    async for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")


async def test_a_stream_cut_upstream_ends_with_an_error_event_and_a_failed_reply(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="x" * 400, chunk_size=10, fault=Fault("cut", after_chunks=4)))
    client = client_for(server, await token(alice))
    raw = await client.chat.completions.with_raw_response.create(
        model=SONNET, messages=[{"role": "user", "content": "go"}], stream=True
    )
    assert raw.http_response.status_code == 200
    text: list[str] = []
    with pytest.raises(openai.APIError) as cut:
        await read_text(raw.parse(), text)
    assert "cut off" in cut.value.message
    messages = await stored(raw.headers["x-mosaic-conversation-id"])
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "failed")]
    assert messages[1].content == "".join(text)


async def test_a_message_over_the_size_limit_is_refused_and_nothing_is_stored(
    alice: Any, server: LiveProcess, fake_anthropic: Any
) -> None:
    client = client_for(server, await token(alice))
    before = await sync_to_async(Conversation.objects.count)()
    with pytest.raises(openai.APIStatusError) as big:
        await client.chat.completions.create(
            model=SONNET, messages=[{"role": "user", "content": "x" * (300 * 1024)}]
        )
    assert big.value.status_code == 413
    assert big.value.code == "too_large"
    assert await sync_to_async(Conversation.objects.count)() == before
    assert fake_anthropic.chat_requests() == []
