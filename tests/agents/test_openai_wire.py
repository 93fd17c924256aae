"""Reading Chat Completions requests: what is accepted, what is refused and with which ``param``
(the OpenAI-shaped 400s), and the bodies the SDK reads back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from agents.openai_api.wire import (
    ApiError,
    Completion,
    parse_body,
    parse_request,
)
from providers.adapters.base import ToolCall

USER = {"role": "user", "content": "hi"}


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [USER], **fields}


def refused(data: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_request(data)
    assert caught.value.status == 400
    assert caught.value.body()["error"]["type"] == "invalid_request_error"
    return caught.value


def test_a_full_request_is_read_and_unknown_fields_are_ignored() -> None:
    parsed = parse_request(
        request(
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use SI units."}]},
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"x": 1}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "42"},
            ],
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.5,
            max_completion_tokens=100,
            max_tokens=5,
            stop="END",
            tools=[{"type": "function", "function": {"name": "f"}}],
            tool_choice={"type": "function", "function": {"name": "f"}},
            user="someone",
            logit_bias={"1": 2},
            presence_penalty=0.3,
        )
    )
    assert parsed.system == "Be brief.\n\nUse SI units."
    assert [m.role for m in parsed.conversation_messages] == ["user", "assistant", "tool"]
    assert parsed.conversation_messages[1].tool_calls == (ToolCall("call_1", "f", {"x": 1}),)
    assert parsed.stream
    assert parsed.include_usage
    assert parsed.temperature == 0.5
    assert parsed.max_tokens == 100  # max_completion_tokens wins over the deprecated name
    assert parsed.stop == ("END",)
    assert parsed.tool_choice == ("tool", "f")
    assert parsed.tools[0].parameters == {"type": "object", "properties": {}}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": 3}, "model"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0]",
        ),
        ({"messages": [USER, {"role": "tool", "content": "x"}]}, "messages[1].tool_call_id"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"stop": [1]}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"tools": [{"type": "function"}]}, "tools[0]"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"n": 2}, "n"),
    ],
)
def test_a_wrong_type_is_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    assert refused(request(**fields)).param == param


def test_a_body_that_is_not_a_json_object_is_refused() -> None:
    for raw in (b"{", b"[1]", b""):
        with pytest.raises(ApiError):
            parse_body(raw)


def test_the_bodies_are_what_the_sdk_reads() -> None:
    completion = Completion(id="chatcmpl-1", model="anthropic:claude-sonnet-4-6")
    completion.calls.append(ToolCall("call_1", "f", {"x": 1}))
    completion.input_tokens, completion.output_tokens = 3, 4
    parsed = ChatCompletion.model_validate(completion.body())
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert parsed.choices[0].message.content is None
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 7

    chunk = completion.chunk({"content": "x"}, include_usage=True)
    assert chunk.startswith(b"data: ")
    assert chunk.endswith(b"\n\n")
    streamed = ChatCompletionChunk.model_validate(json.loads(chunk[6:]))
    assert streamed.choices[0].delta.content == "x"
    final = ChatCompletionChunk.model_validate(json.loads(completion.usage_chunk()[6:]))
    assert final.choices == []
    assert final.usage is not None
