"""The chat turn over the socket (Channels' communicator, real Redis and PostgreSQL, fake upstreams)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from mosaic.fakes.base import Fault, Script, ToolUse
from tests.agents.chat import ChatClient, of_type, text_of
from tests.conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


@pytest.fixture
async def alice_chat(alice: Any, upstreams: dict[str, str]) -> Any:
    client = await ChatClient.connect(await sync_to_async(token_for)(alice))
    yield client
    await client.close()


def rows(conversation_id: str) -> list[Message]:
    return list(Message.objects.filter(conversation_id=conversation_id).order_by("sequence"))


async def test_turn_streams_and_persists_user_then_assistant_with_metadata(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="Paris is the capital of France.", input_tokens=21, output_tokens=9)
    )
    info, history = await alice_chat.open(model=SONNET)
    assert history["messages"] == []
    frames = await alice_chat.say("What is the capital of France?", client_id="c-1")

    ack = of_type(frames, "message:ack")[0]
    assert ack["client_id"] == "c-1"
    assert text_of(frames) == "Paris is the capital of France."
    done = frames[-1]
    assert done["status"] == "complete"
    assert (done["provider"], done["model"]) == ("anthropic", "claude-sonnet-4-6")
    assert done["usage"] == {"input_tokens": 21, "output_tokens": 9}

    stored = await sync_to_async(rows)(info["conversation_id"])
    assert [(m.role, m.sequence) for m in stored] == [("user", 1), ("assistant", 2)]
    user_row, assistant_row = stored
    assert str(user_row.id) == ack["message_id"]
    assert user_row.client_id == "c-1"
    assert str(assistant_row.id) == done["message_id"]
    assert assistant_row.content == "Paris is the capital of France."
    assert (assistant_row.provider, assistant_row.model) == ("anthropic", "claude-sonnet-4-6")
    assert (assistant_row.input_tokens, assistant_row.output_tokens) == (21, 9)
    assert assistant_row.latency_ms is not None
    assert assistant_row.routing is not None
    assert assistant_row.routing["override"] is True
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["model"] == "claude-sonnet-4-6"
    assert sent["messages"][-1]["content"] in (
        "What is the capital of France?",
        [{"type": "text", "text": "What is the capital of France?"}],
    )


async def test_resend_with_same_client_id_is_stored_once_and_answered_once(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    info, _ = await alice_chat.open(model=SONNET)
    await alice_chat.say("hello there", client_id="same-id")
    await alice_chat.send(
        {"type": "message:send", "content": "hello there", "client_id": "same-id"}
    )
    ack = await alice_chat.recv()
    assert ack["type"] == "message:ack"
    assert ack["duplicate"] is True
    assert await alice_chat.nothing(timeout=1.0)  # no second turn
    stored = await sync_to_async(rows)(info["conversation_id"])
    assert [m.role for m in stored] == ["user", "assistant"]
    assert len(fake_anthropic.chat_requests()) == 1


async def test_thinking_and_tool_calls_are_persisted_with_metadata(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(
            text="",
            thinking="I should check the time.",
            tool_calls=[ToolUse("current_time", {"timezone": "UTC"})],
        ),
        Script(text="", tool_calls=[ToolUse("calculator", {"expression": "6*7"})]),
        Script(text="It is late, and the answer is 42."),
    )
    info, _ = await alice_chat.open(model=SONNET, agent="research-bot")
    # "step by step" makes the classifier ask for reasoning, so thinking is requested.
    frames = await alice_chat.say(
        "Think it through step by step: what time is it, and what is 6*7?"
    )
    calls = of_type(frames, "tool:call")
    results = of_type(frames, "tool:result")
    assert [c["name"] for c in calls] == ["current_time", "calculator"]
    assert [r["is_error"] for r in results] == [False, False]
    assert results[1]["result"] == "42"
    assert of_type(frames, "thinking:delta")
    assert text_of(frames) == "It is late, and the answer is 42."

    stored = await sync_to_async(rows)(info["conversation_id"])
    roles = [m.role for m in stored]
    assert roles == [
        "user",
        "thinking",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "assistant",
    ]
    thinking = stored[1]
    assert thinking.content == "I should check the time."
    assert thinking.metadata["blocks"][0]["signature"]
    assert stored[2].tool_name == "current_time"
    assert stored[2].tool_arguments == {"timezone": "UTC"}
    assert stored[3].tool_call_id == stored[2].tool_call_id
    # The second request carried the signed thinking block, the tool call and its result.
    second = fake_anthropic.chat_requests()[1].json
    assistant_blocks = second["messages"][-2]["content"]
    assert [b["type"] for b in assistant_blocks] == ["thinking", "tool_use"]
    assert second["messages"][-1]["content"][0]["type"] == "tool_result"


async def test_tool_outside_allowlist_is_refused_and_reported_to_the_model(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("current_time", {})]),
        Script(text="Sorry, I cannot tell the time."),
    )
    await alice_chat.open(model=SONNET, agent="coding-agent")  # coding-agent has no current_time
    frames = await alice_chat.say("what time is it?")
    result = of_type(frames, "tool:result")[0]
    assert result["is_error"] is True
    assert "not available to this agent" in result["result"]
    tool_result = fake_anthropic.chat_requests()[1].json["messages"][-1]["content"][0]
    assert tool_result["is_error"] is True


async def test_raising_tool_and_invalid_arguments_become_error_results(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(
            text="",
            tool_calls=[
                ToolUse("calculator", {"expression": "1/0"}),
                ToolUse("calculator", {"expr": "2"}),
            ],
        ),
        Script(text="Division by zero is undefined."),
    )
    await alice_chat.open(model=SONNET, agent="research-bot")
    frames = await alice_chat.say("compute 1/0")
    results = of_type(frames, "tool:result")
    assert [r["is_error"] for r in results] == [True, True]
    assert "Cannot compute" in results[0]["result"]
    assert "Invalid arguments" in results[1]["result"]
    assert frames[-1]["status"] == "complete"


async def test_turn_limit_stops_the_tool_loop(
    alice_chat: ChatClient, fake_anthropic: Any, settings: Any
) -> None:
    settings.MOSAIC_AGENT_MAX_TURNS = 2
    fake_anthropic.default_script = Script(
        text="", tool_calls=[ToolUse("calculator", {"expression": "1+1"})]
    )
    await alice_chat.open(model=SONNET, agent="research-bot")
    frames = await alice_chat.say("loop forever")
    assert len(fake_anthropic.chat_requests()) == 2
    notes = [f for f in of_type(frames, "message:created") if f["message"]["role"] == "system"]
    assert "turn limit" in notes[0]["message"]["content"]
    assert frames[-1]["status"] == "complete"


async def test_stream_cut_midway_keeps_partial_reply_as_failed(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(
            text="This reply will be cut off somewhere in the middle.",
            chunk_size=5,
            delay=0.02,
            fault=Fault("cut", after_chunks=6),
        )
    )
    info, _ = await alice_chat.open(model=SONNET)
    frames = await alice_chat.say("tell me something long")
    errors = of_type(frames, "error")
    assert errors
    assert errors[0]["code"] == "provider_interrupted"
    assert frames[-1]["status"] == "failed"
    stored = await sync_to_async(rows)(info["conversation_id"])
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].status == "failed"
    assert stored[1].content
    assert "This reply will be cut off".startswith(stored[1].content[:10])


async def test_provider_error_before_first_token_gives_clear_error_and_keeps_user_message(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.default_script = Script(fault=Fault("status", status=401))
    info, _ = await alice_chat.open(model=SONNET)
    frames = await alice_chat.say("hello?")
    error = of_type(frames, "error")[0]
    assert error["code"] == "provider_auth"
    assert "anthropic:claude-sonnet-4-6" in error["message"]
    assert frames[-1]["status"] == "failed"
    stored = await sync_to_async(rows)(info["conversation_id"])
    # The reply that never began is stored empty and failed, with the error: message:done names it.
    assert [(m.role, m.status, m.content) for m in stored] == [
        ("user", "complete", "hello?"),
        ("assistant", "failed", ""),
    ]
    assert frames[-1]["message_id"] == str(stored[1].id)
    assert stored[1].metadata["error"]["code"] == "provider_auth"


async def test_cancel_stops_the_turn_and_marks_the_message_cancelled(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="word " * 200, chunk_size=5, delay=0.05))
    info, _ = await alice_chat.open(model=SONNET)
    await alice_chat.send(
        {"type": "message:send", "content": "talk a lot", "client_id": "c-cancel"}
    )
    await alice_chat.until("message:delta")
    await alice_chat.send({"type": "message:cancel"})
    frames = await alice_chat.until("message:done")
    assert frames[-1]["status"] == "cancelled"
    stored = await sync_to_async(rows)(info["conversation_id"])
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].status == "cancelled"
    assert 0 < len(stored[1].content) < len("word " * 200)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        (json.dumps({"type": "message:explode"}), "unknown_type"),
        (json.dumps({"type": "message:send", "content": "hi"}), "invalid_frame"),
        (json.dumps({"type": "message:send", "content": "", "client_id": "x"}), "invalid_frame"),
        (
            json.dumps({"type": "conversation:open", "conversation_id": "not-a-uuid"}),
            "invalid_frame",
        ),
        (json.dumps({"type": "conversation:open", "colour": "blue"}), "invalid_frame"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(
    alice_chat: ChatClient, raw: str, code: str
) -> None:
    await alice_chat.send_raw(raw)
    error = await alice_chat.recv()
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    await alice_chat.send({"type": "ping"})
    assert (await alice_chat.recv())["type"] == "pong"


async def test_oversized_message_is_refused_and_nothing_is_stored(
    alice_chat: ChatClient, settings: Any
) -> None:
    settings.MOSAIC_MAX_MESSAGE_BYTES = 2048
    info, _ = await alice_chat.open(model=SONNET)
    await alice_chat.send({"type": "message:send", "content": "x" * 10_000, "client_id": "big"})
    error = await alice_chat.recv()
    assert error["code"] == "too_large"
    assert await sync_to_async(rows)(info["conversation_id"]) == []
    await alice_chat.send({"type": "ping"})
    assert (await alice_chat.recv())["type"] == "pong"


async def test_message_before_open_is_an_error(alice_chat: ChatClient) -> None:
    await alice_chat.send({"type": "message:send", "content": "hi", "client_id": "early"})
    error = await alice_chat.recv()
    assert error["type"] == "error"
    assert "conversation:open" in error["message"]


async def test_another_users_conversation_is_not_found(alice_chat: ChatClient, bob: Any) -> None:
    conversation = await sync_to_async(Conversation.objects.create)(
        owner=bob, title="bob's secrets"
    )
    await alice_chat.send({"type": "conversation:open", "conversation_id": str(conversation.id)})
    error = await alice_chat.recv()
    assert error["code"] == "not_found"
    assert "bob" not in error["message"]


async def test_unknown_agent_lists_the_available_ones(alice_chat: ChatClient) -> None:
    await alice_chat.send({"type": "conversation:open", "agent": "no-such-agent"})
    error = await alice_chat.recv()
    assert error["code"] == "not_found"
    assert "coding-agent" in error["message"]
    assert "research-bot" in error["message"]
