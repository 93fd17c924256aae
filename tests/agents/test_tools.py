"""The tools and how the runtime runs them: the user bound in from the session, arguments checked
against each tool's schema, failures turned into error results the model can read."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from jsonschema import Draft202012Validator

from agents import runtime
from agents.models import AgentConfig
from agents.runtime import execute_tool
from agents.tools import Tool, ToolContext, ToolError, all_tools, get_tool
from agents.tools.calculator import evaluate
from conversations import services as conversation_services
from mosaic.fakes.base import Script, ToolUse
from providers.adapters.base import ToolCall
from tests.agents.chat import ChatClient, of_type
from tests.agents.helpers import SONNET


def context_for(user: Any) -> ToolContext:
    return ToolContext(user=user, conversation_id="", session_id="")


def call(name: str, arguments: dict[str, Any]) -> ToolCall:
    return ToolCall(call_id="call-1", name=name, arguments=arguments)


# --- the registry: every tool follows the recipe ------------------------------------------------


def test_the_registry_has_the_documented_tools() -> None:
    assert sorted(all_tools()) == [
        "calculator", "conversation_search", "current_time", "memory_get_preferences",
        "memory_save_insight", "memory_search", "memory_set_preference",
    ]  # fmt: skip


@pytest.mark.parametrize("name", sorted(all_tools()))
def test_every_tool_has_a_strict_valid_schema_and_a_description(name: str) -> None:
    tool = get_tool(name)
    assert tool is not None
    Draft202012Validator.check_schema(tool.parameters)
    assert tool.parameters["type"] == "object"
    # No free-form arguments: nothing the model adds (a user id, say) reaches the tool.
    assert tool.parameters["additionalProperties"] is False
    assert tool.description
    assert tool.spec().name == name


@pytest.mark.django_db
def test_every_system_agent_names_only_registered_tools(system_agents: None) -> None:
    for agent in AgentConfig.objects.filter(owner__isnull=True):
        assert set(agent.tool_allowlist) <= set(all_tools()), agent.slug


# --- the runtime's execute_tool ----------------------------------------------------------------


async def _explode(context: ToolContext, arguments: dict[str, Any]) -> str:
    raise RuntimeError("boom")


async def _sleep(context: ToolContext, arguments: dict[str, Any]) -> str:
    await asyncio.sleep(5)
    return "too late"


async def _echo_user(context: ToolContext, arguments: dict[str, Any]) -> str:
    return f"user={context.user} " + "x" * int(arguments.get("size", 0))


SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}
ECHO_SCHEMA = {
    "type": "object",
    "properties": {"size": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}


async def test_a_raising_tool_becomes_an_error_result() -> None:
    tools = {"explode": Tool("explode", "Always fails.", SCHEMA, _explode)}
    outcome = await execute_tool(call("explode", {}), tools, context_for("alice"))
    assert outcome.is_error is True
    assert outcome.result == "explode failed: RuntimeError: boom"


async def test_a_slow_tool_times_out_as_an_error_result(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "TOOL_TIMEOUT", 0.05)
    tools = {"sleep": Tool("sleep", "Sleeps.", SCHEMA, _sleep)}
    outcome = await execute_tool(call("sleep", {}), tools, context_for("alice"))
    assert outcome.is_error is True
    assert "did not finish" in outcome.result


async def test_arguments_are_checked_against_the_schema_before_the_tool_runs() -> None:
    tools = {"echo": Tool("echo", "Echo.", ECHO_SCHEMA, _echo_user)}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"size": -1}, "size: -1 is less than the minimum of 0"),
        ({"size": "big"}, "size: 'big' is not of type 'integer'"),
        ({"user_id": 2}, "Additional properties are not allowed ('user_id' was unexpected)"),
    ]
    for arguments, problem in cases:
        outcome = await execute_tool(call("echo", arguments), tools, context_for("alice"))
        assert outcome.is_error is True
        assert outcome.result.startswith("Invalid arguments for echo:")
        assert problem in outcome.result


async def test_the_tool_gets_the_bound_user_and_long_results_are_truncated() -> None:
    tools = {"echo": Tool("echo", "Echo.", ECHO_SCHEMA, _echo_user)}
    outcome = await execute_tool(call("echo", {"size": 60_000}), tools, context_for("alice"))
    assert outcome.is_error is False
    assert outcome.result.startswith("user=alice xxx")
    assert outcome.result.endswith("\n[truncated]")
    assert len(outcome.result) == runtime.MAX_TOOL_RESULT_CHARS + len("\n[truncated]")


async def test_a_tool_not_in_the_allowlist_is_refused_with_the_allowed_ones() -> None:
    tools = {"echo": Tool("echo", "Echo.", ECHO_SCHEMA, _echo_user)}
    outcome = await execute_tool(call("shell", {"cmd": "ls"}), tools, context_for("alice"))
    assert outcome.is_error is True
    assert outcome.result == "Tool 'shell' is not available to this agent (available: echo)."


# --- calculator and current_time ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("6*7", 42),
        ("2**10", 1024),
        ("sqrt(16) + abs(-2)", 6.0),
        ("-(3 - 5) % 3", 2),
        ("pi > 3", None),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, value: Any) -> None:
    if value is None:
        with pytest.raises(ToolError):
            evaluate(expression)
    else:
        assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('id')", "open('/etc/passwd')", "(1).__class__", "2**100000", "x"],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    with pytest.raises(ToolError):
        evaluate(expression)


async def test_calculator_reports_math_errors() -> None:
    tool = get_tool("calculator")
    assert tool is not None
    outcome = await execute_tool(
        call("calculator", {"expression": "sqrt(-1)"}), {"calculator": tool}, context_for("a")
    )
    assert outcome.is_error is True
    assert outcome.result.startswith("Cannot compute")


async def test_current_time_in_a_zone_and_an_unknown_zone() -> None:
    tool = get_tool("current_time")
    assert tool is not None
    tools = {"current_time": tool}
    paris = await execute_tool(
        call("current_time", {"timezone": "Europe/Paris"}), tools, context_for("a")
    )
    assert paris.is_error is False
    assert "(Europe/Paris," in paris.result
    bad = await execute_tool(
        call("current_time", {"timezone": "Mars/Olympus"}), tools, context_for("a")
    )
    assert bad.is_error is True
    assert "Unknown time zone 'Mars/Olympus'" in bad.result


# --- conversation_search: the session's user's conversations, whatever the model asks ----------


def _say(user: Any, text: str, title: str) -> str:
    conversation = conversation_services.conversation_create(user=user, title=title)
    conversation_services.message_persist_user(
        user=user, conversation_id=conversation.pk, content=text
    )
    return str(conversation.pk)


@pytest.mark.django_db(transaction=True)
async def test_conversation_search_tool_finds_only_the_bound_users_messages(
    alice: Any, bob: Any
) -> None:
    alices = await sync_to_async(_say)(alice, "My kumquat harvest was small this year.", "garden")
    bobs = await sync_to_async(_say)(bob, "Bob's secret kumquat recipe: rum.", "bob's kitchen")
    tool = get_tool("conversation_search")
    assert tool is not None
    tools = {"conversation_search": tool}

    outcome = await execute_tool(
        call("conversation_search", {"query": "kumquat"}), tools, context_for(alice)
    )
    results = json.loads(outcome.result)
    assert [r["conversation_id"] for r in results] == [alices]
    assert "rum" not in outcome.result

    as_bob = await execute_tool(
        call("conversation_search", {"query": "kumquat recipe rum"}), tools, context_for(bob)
    )
    assert [r["conversation_id"] for r in json.loads(as_bob.result)] == [bobs]

    nothing = await execute_tool(
        call("conversation_search", {"query": "rum"}), tools, context_for(alice)
    )
    assert nothing.result == "No matching messages in your conversations."


@pytest.mark.django_db(transaction=True)
async def test_conversation_search_over_the_socket_never_returns_another_users_messages(
    alice_chat: ChatClient, alice: Any, bob: Any, fake_anthropic: Any
) -> None:
    """Whatever the model asks — bob's words, bob's id, bob's name, bob's conversation id —
    alice's session searches alice's conversations only."""
    await sync_to_async(_say)(alice, "Notes on the zucchini glut.", "alice garden")
    bob_conversation = await sync_to_async(_say)(
        bob, "Bob's zucchini password is hunter2.", "bob private"
    )
    fake_anthropic.script(
        Script(
            text="",
            tool_calls=[
                ToolUse("conversation_search", {"query": "zucchini"}),
                ToolUse("conversation_search", {"query": "hunter2 password"}),
                ToolUse("conversation_search", {"query": "zucchini", "user_id": bob.pk}),
                ToolUse("conversation_search", {"query": "zucchini", "user": "bob"}),
                ToolUse("conversation_search", {"query": bob_conversation}),
                ToolUse("conversation_search", {"query": "bob private", "limit": 20}),
            ],
        ),
        Script(text="Done searching."),
    )
    await alice_chat.open(model=SONNET, agent="general")
    frames = await alice_chat.say("Search my notes about zucchini.")
    results = of_type(frames, "tool:result")
    assert len(results) == 6
    for result in results:
        assert "hunter2" not in result["result"]
        assert bob_conversation not in result["result"]
        assert "bob private" not in result["result"]
    found = json.loads(results[0]["result"])
    assert {r["conversation_title"] for r in found} <= {
        "alice garden",
        "Search my notes about zucchini.",
    }
    assert any("zucchini glut" in r["excerpt"] for r in found)
    assert results[1]["result"] == "No matching messages in your conversations."
    assert results[2]["is_error"]
    assert "user_id" in results[2]["result"]
    assert results[3]["is_error"]
    assert "'user' was unexpected" in results[3]["result"]
    assert results[4]["result"] == "No matching messages in your conversations."
    assert results[5]["result"] == "No matching messages in your conversations."
    # And the results that went back to the model (as the upstream recorded them) hold nothing
    # of bob's either (the model's own questions, naturally, still name what it asked for).
    fed_back = [
        block
        for message in fake_anthropic.chat_requests()[-1].json["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "tool_result"
    ]
    assert len(fed_back) == 6
    assert "hunter2" not in json.dumps(fed_back)
    assert bob_conversation not in json.dumps(fed_back)
