"""Switching model and agent mid-session, creating agents from the client, and the other slash
commands — over the socket, against the fake upstreams (PRD M5-002…M5-008, AC-4, AC-5)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents import services
from agents.models import AgentConfig, Session
from mosaic.fakes.base import Script
from tests.agents.chat import ChatClient, of_type, text_of
from tests.agents.helpers import OPUS, SONNET, agent_row, texts, tool_names
from tests.conftest import api_client_for, token_for

pytestmark = pytest.mark.django_db(transaction=True)


async def command_frames(chat: ChatClient, command: str, **args: Any) -> list[dict[str, Any]]:
    """Every frame a command produced, up to and including its command:result."""
    frame: dict[str, Any] = {"type": "command:execute", "command": command}
    if args:
        frame["args"] = args
    await chat.send(frame)
    return await chat.until("command:result")


# --- M5-008: /model then /agent, as the PRD's verification walks it ---------------------------


async def test_model_then_agent_switch_changes_model_prompt_and_tools_and_keeps_history(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    general = await sync_to_async(agent_row)("general")
    research = await sync_to_async(agent_row)("research-bot")
    info, _ = await alice_chat.open()
    assert info["agent"] == "general"

    # /model claude-opus-4-6 → session:info with the pin, then the next request goes to Opus.
    frames = await command_frames(alice_chat, "/model claude-opus-4-6")
    assert [f["type"] for f in frames] == ["session:info", "command:result"]
    assert (frames[0]["provider"], frames[0]["model"]) == ("anthropic", "claude-opus-4-6")
    assert frames[0]["model_override"] == OPUS
    assert frames[1]["ok"] is True

    fake_anthropic.script(Script(text="The first answer, from Opus."))
    first = await alice_chat.say("Remember the word periwinkle, please.")
    assert (first[-1]["provider"], first[-1]["model"]) == ("anthropic", "claude-opus-4-6")
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["model"] == "claude-opus-4-6"
    assert sent["system"] == general.system_prompt
    assert tool_names(sent) == sorted(general.tool_allowlist)

    # /agent research-bot → session:info names the agent; the pinned model stays pinned.
    frames = await command_frames(alice_chat, "/agent research-bot")
    assert [f["type"] for f in frames] == ["session:info", "command:result"]
    assert frames[0]["agent"] == "research-bot"
    assert frames[0]["model"] == "claude-opus-4-6"
    assert frames[1]["ok"] is True
    assert frames[1]["data"] == {"agent": "research-bot"}

    fake_anthropic.script(Script(text="The second answer, from the research bot."))
    second = await alice_chat.say("Which word did I ask you to remember?")
    assert second[-1]["model"] == "claude-opus-4-6"
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["model"] == "claude-opus-4-6"
    assert sent["system"] == research.system_prompt != general.system_prompt
    assert tool_names(sent) == sorted(research.tool_allowlist) != sorted(general.tool_allowlist)
    # History kept across the switch: the earlier exchange is in the request.
    assert texts(sent) == [
        "Remember the word periwinkle, please.",
        "The first answer, from Opus.",
        "Which word did I ask you to remember?",
    ]


async def test_agent_switch_to_coding_agent_changes_prompt_and_tools(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    """AC-5: /agent coding-agent switches to a different system prompt and tool set."""
    general = await sync_to_async(agent_row)("general")
    coding = await sync_to_async(agent_row)("coding-agent")
    await alice_chat.open(model=SONNET)
    await alice_chat.say("hi")
    before = fake_anthropic.chat_requests()[-1].json
    result = await alice_chat.command("/agent coding-agent")
    assert result["ok"] is True
    await alice_chat.say("and now?")
    after = fake_anthropic.chat_requests()[-1].json

    assert (before["system"], after["system"]) == (general.system_prompt, coding.system_prompt)
    memory = ["memory_get_preferences", "memory_save_insight", "memory_search"]
    assert tool_names(before) == [
        "conversation_search", "current_time", *memory, "memory_set_preference",
    ]  # fmt: skip
    assert tool_names(after) == ["calculator", "conversation_search", *memory]
    # The schema sent is the tool's own, not a summary of it.
    calculator = next(t for t in after["tools"] if t["name"] == "calculator")
    assert calculator["input_schema"]["required"] == ["expression"]


async def test_agent_switch_without_a_pin_uses_the_new_agents_model(
    alice_chat: ChatClient, fake_anthropic: Any, fake_openai: Any
) -> None:
    """research-bot prefers openai:gpt-5.4 for general messages: the next turn goes there."""
    await alice_chat.open()
    await alice_chat.say("hello there")
    assert len(fake_anthropic.chat_requests()) == 1
    frames = await command_frames(alice_chat, "/agent research-bot")
    info = frames[0]
    assert (info["agent"], info["provider"], info["model"]) == ("research-bot", "openai", "gpt-5.4")
    assert info["routing"] is None  # routing has not decided for the new agent yet

    done = (await alice_chat.say("hello again"))[-1]
    assert (done["provider"], done["model"]) == ("openai", "gpt-5.4")
    assert "research-bot prefers it" in done["routing"]["reason"]
    sent = fake_openai.chat_requests()[-1].json
    research = await sync_to_async(agent_row)("research-bot")
    assert sent["model"] == "gpt-5.4"
    assert sent["instructions"] == research.system_prompt
    assert sorted(t["name"] for t in sent["tools"]) == sorted(research.tool_allowlist)
    # The conversation so far went along to the other provider.
    assert [item.get("content") for item in sent["input"] if item["type"] == "message"][:2] == [
        "hello there",
        "Hello from the fake upstream.",
    ]


async def test_model_auto_unpins_and_routing_decides_again(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await alice_chat.open(model=OPUS)
    result = await alice_chat.command("/model auto")
    assert result["ok"] is True
    assert result["data"] == {"model_override": ""}
    done = (await alice_chat.say("hello there"))[-1]
    assert done["routing"]["override"] is False
    assert fake_anthropic.chat_requests()[-1].json["model"] == "claude-haiku-4-5"


async def test_model_after_model_auto_no_longer_reports_the_old_pin(
    alice_chat: ChatClient,
) -> None:
    await alice_chat.open(model=OPUS)
    frames = await command_frames(alice_chat, "/model auto")
    info = frames[0]
    assert info["type"] == "session:info"
    assert info["model_override"] == ""
    assert info["model"] != "claude-opus-4-6"  # what routing starts from, not the old pin
    shown = await alice_chat.command("/model")
    assert shown["ok"] is True
    assert "claude-opus-4-6" not in shown["output"]
    assert "pinned" not in shown["output"]


async def test_opening_a_new_conversation_with_an_unknown_agent_creates_nothing(
    alice: Any, alice_chat: ChatClient
) -> None:
    from conversations.models import Conversation

    await alice_chat.send({"type": "conversation:open", "agent": "nosuch"})
    error = await alice_chat.recv()
    assert error["type"] == "error"
    assert error["code"] == "not_found"
    assert "nosuch" in error["message"]
    assert await sync_to_async(Conversation.objects.filter(owner=alice).count)() == 0


async def test_unknown_model_is_refused_with_suggestions(alice_chat: ChatClient) -> None:
    await alice_chat.open()
    frames = await command_frames(alice_chat, "/model claude-opus-4-7")
    assert [f["type"] for f in frames] == ["command:result"]  # no session:info: nothing changed
    assert frames[0]["ok"] is False
    assert "Unknown model" in frames[0]["output"]
    assert "claude-opus-4-6" in frames[0]["output"]


# --- /agent: list, unknown, another user's ------------------------------------------------------


async def test_agent_without_argument_lists_the_visible_agents(
    alice_chat: ChatClient, alice: Any, bob: Any
) -> None:
    await sync_to_async(services.agent_create)(
        user=alice, name="Alice's helper", system_prompt="Help Alice."
    )
    await sync_to_async(services.agent_create)(user=bob, name="Bobs agent", system_prompt="Bob.")
    await alice_chat.open(agent="coding-agent")
    result = await alice_chat.command("/agent")
    assert result["ok"] is True
    slugs = [a["slug"] for a in result["data"]["agents"]]
    assert slugs == ["coding-agent", "general", "research-bot", "alices-helper"]
    assert "* coding-agent" in result["output"]
    assert "alices-helper" in result["output"]
    assert "bobs-agent" not in result["output"]


async def test_unknown_agent_is_a_clear_error_listing_the_available_slugs(
    alice_chat: ChatClient,
) -> None:
    await alice_chat.open()
    frames = await command_frames(alice_chat, "/agent no-such-agent")
    assert [f["type"] for f in frames] == ["command:result"]
    result = frames[0]
    assert result["ok"] is False
    assert result["output"] == (
        "Unknown agent 'no-such-agent'. Available agents: coding-agent, general, research-bot."
    )


async def test_another_users_private_agent_cannot_be_switched_to(
    alice_chat: ChatClient, alice: Any, bob: Any
) -> None:
    await sync_to_async(services.agent_create)(
        user=bob, slug="bobs-agent", name="Bob's agent", system_prompt="Bob's secret prompt."
    )
    await sync_to_async(services.agent_create)(
        user=alice, slug="alices-agent", name="Alice's agent", system_prompt="Alice's prompt."
    )
    info, _ = await alice_chat.open()
    result = await alice_chat.command("/agent bobs-agent")
    assert result["ok"] is False
    assert result["output"].startswith("Unknown agent 'bobs-agent'.")
    available = result["output"].split("Available agents: ", 1)[1].rstrip(".").split(", ")
    assert available == ["alices-agent", "coding-agent", "general", "research-bot"]
    assert "Bob's" not in result["output"]
    session = await sync_to_async(Session.objects.get)(pk=info["session_id"])
    assert (session.agent_slug, session.agent_switches) == ("general", 0)

    # Nor opened with it.
    await alice_chat.send({"type": "conversation:open", "agent": "bobs-agent"})
    error = await alice_chat.recv()
    assert (error["type"], error["code"]) == ("error", "not_found")
    assert "bobs-agent" not in error["message"].split("Available agents:", 1)[1]


async def test_agent_switch_is_remembered_by_the_conversation(
    alice_chat: ChatClient, alice: Any, upstreams: dict[str, str]
) -> None:
    info, _ = await alice_chat.open()
    await alice_chat.command("/agent coding-agent")
    await alice_chat.close()
    again = await ChatClient.connect(await sync_to_async(token_for)(alice))
    try:
        resumed, _ = await again.open(conversation_id=info["conversation_id"])
        assert resumed["agent"] == "coding-agent"
        assert resumed["session_id"] != info["session_id"]
    finally:
        await again.close()


async def test_switching_to_the_current_agent_is_not_counted(alice_chat: ChatClient) -> None:
    info, _ = await alice_chat.open(agent="research-bot")
    result = await alice_chat.command("/agent research-bot")
    assert result["ok"] is True
    assert result["output"].startswith("Already using")
    session = await sync_to_async(Session.objects.get)(pk=info["session_id"])
    assert session.agent_switches == 0


# --- /agent new ---------------------------------------------------------------------------------


async def test_agent_new_creates_an_agent_for_this_user_only(
    alice_chat: ChatClient, alice: Any, bob: Any, fake_anthropic: Any
) -> None:
    await alice_chat.open(model=SONNET)
    result = await alice_chat.command(
        "/agent new",
        name="Release notes writer",
        system_prompt="You write crisp release notes.",
        tools=["conversation_search", "calculator"],
        description="Turns changelogs into notes.",
    )
    assert result["ok"] is True, result
    assert result["data"]["slug"] == "release-notes-writer"
    assert "/agent release-notes-writer" in result["output"]

    alice_api, bob_api = (
        await sync_to_async(api_client_for)(alice),
        await sync_to_async(api_client_for)(bob),
    )
    alices = await sync_to_async(alice_api.get)("/api/agents")
    bobs = await sync_to_async(bob_api.get)("/api/agents")
    created = next(a for a in alices.json() if a["slug"] == "release-notes-writer")
    assert created["id"] == result["data"]["id"]
    assert created["system"] is False
    assert created["system_prompt"] == "You write crisp release notes."
    assert created["tool_allowlist"] == ["conversation_search", "calculator"]
    assert created["description"] == "Turns changelogs into notes."
    assert "release-notes-writer" not in [a["slug"] for a in bobs.json()]

    # And it works: switch to it, and the model gets its prompt and exactly its tools.
    assert (await alice_chat.command("/agent release-notes-writer"))["ok"] is True
    await alice_chat.say("Write notes for 1.2")
    sent = fake_anthropic.chat_requests()[-1].json
    assert sent["system"] == "You write crisp release notes."
    assert tool_names(sent) == ["calculator", "conversation_search"]


async def test_agent_new_with_unknown_tools_lists_the_available_ones(
    alice_chat: ChatClient, alice: Any
) -> None:
    await alice_chat.open()
    result = await alice_chat.command(
        "/agent new", name="Shell bot", system_prompt="Run things.", tools=["shell", "calculator"]
    )
    assert result["ok"] is False
    assert result["output"] == (
        "tool_allowlist: unknown tool 'shell'. "
        "Available tools: calculator, conversation_search, current_time, "
        "memory_get_preferences, memory_save_insight, memory_search, memory_set_preference."
    )
    assert not await sync_to_async(AgentConfig.objects.filter(owner=alice).exists)()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "/agent new needs a name, instructions (a system prompt) and the tools"),
        ({"name": "", "system_prompt": "x"}, "name: must not be empty."),
        ({"name": "Empty", "system_prompt": "   "}, "system_prompt: must not be empty."),
        ({"name": 42, "system_prompt": "x"}, "name: expected text."),
        ({"name": "Typo", "system_prompt": "x", "tool": ["calculator"]}, "tool: unknown argument"),
        ({"name": "Bad", "system_prompt": "x", "tools": 7}, "tool_allowlist: expected a list"),
        ({"name": "General", "system_prompt": "x"}, "slug: 'general' is a system agent's slug"),
        ({"name": "x", "system_prompt": "x", "slug": "Not A Slug"}, "slug: 'Not A Slug' is not"),
    ],
)
async def test_agent_new_refuses_bad_args_with_the_problem(
    alice_chat: ChatClient, args: dict[str, Any], expected: str
) -> None:
    await alice_chat.open()
    result = await alice_chat.command("/agent new", **args)
    assert result["ok"] is False
    assert expected in result["output"]


async def test_agent_new_accepts_tools_as_a_comma_separated_line(
    alice_chat: ChatClient, alice: Any
) -> None:
    await alice_chat.open()
    result = await alice_chat.command(
        "/agent new", name="Clock", system_prompt="Tell the time.", tools="current_time, calculator"
    )
    assert result["ok"] is True
    agent = await sync_to_async(AgentConfig.objects.get)(owner=alice, slug="clock")
    assert agent.tool_allowlist == ["current_time", "calculator"]


async def test_agent_new_twice_with_the_same_name_is_a_conflict(alice_chat: ChatClient) -> None:
    await alice_chat.open()
    args = {"name": "Twin", "system_prompt": "Same."}
    assert (await alice_chat.command("/agent new", **args))["ok"] is True
    again = await alice_chat.command("/agent new", **args)
    assert again["ok"] is False
    assert again["output"] == "slug: you already have an agent 'twin'."


# --- /history, /help, unknown commands ----------------------------------------------------------


async def test_history_reports_message_count_and_context_usage(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await alice_chat.open(model=SONNET)
    await alice_chat.say("first message")
    await alice_chat.say("second message")
    result = await alice_chat.command("/history")
    assert result["ok"] is True
    data = result["data"]
    assert data["message_count"] == 4
    assert data["context_window"] > 100_000
    assert 0 < data["context_tokens"] < data["context_window"]
    assert "4 messages" in result["output"]
    assert "anthropic:claude-sonnet-4-6" in result["output"]


async def test_help_lists_every_command(alice_chat: ChatClient) -> None:
    result = await alice_chat.command("/help")
    assert result["ok"] is True
    for command in ("/model <id>", "/model auto", "/agent <slug>", "/agent new", "/history"):
        assert command in result["output"]


@pytest.mark.parametrize("command", ["/frobnicate", "/MODELS now"])
async def test_unknown_command_says_so_and_shows_help(alice_chat: ChatClient, command: str) -> None:
    result = await alice_chat.command(command)
    assert result["ok"] is False
    assert result["output"].startswith(f"Unknown command {command.split(maxsplit=1)[0].lower()}.")
    assert "/agent <slug>" in result["output"]


async def test_text_without_a_slash_is_not_a_command(alice_chat: ChatClient) -> None:
    result = await alice_chat.command("model opus")
    assert result["ok"] is False
    assert "start with '/'" in result["output"]


async def test_commands_that_need_a_conversation_say_so(alice_chat: ChatClient) -> None:
    for command in ("/model opus", "/agent coding-agent", "/history"):
        result = await alice_chat.command(command)
        assert result["ok"] is False
        assert "Open a conversation first" in result["output"]
    # Listing agents needs none.
    assert (await alice_chat.command("/agent"))["ok"] is True


async def test_commands_are_answered_while_nothing_else_is_sent(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    """A command during a conversation does not start a turn or reach the upstream."""
    await alice_chat.open(model=SONNET)
    await alice_chat.command("/agent")
    await alice_chat.command("/history")
    await alice_chat.command("/help")
    assert fake_anthropic.chat_requests() == []
    assert await alice_chat.nothing(timeout=0.3)


async def test_session_info_is_sent_on_open_and_each_switch_only(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    await alice_chat.send({"type": "conversation:open"})
    assert (await alice_chat.recv())["type"] == "session:info"
    await alice_chat.recv()  # conversation:history
    for command in (
        "/model claude-opus-4-6",
        "/agent coding-agent",
        "/model auto",
        "/agent general",
    ):
        frames = await command_frames(alice_chat, command)
        assert of_type(frames, "session:info"), command
    for command in ("/history", "/help", "/agent", "/model"):
        frames = await command_frames(alice_chat, command)
        assert not of_type(frames, "session:info"), command


async def test_turn_text_is_streamed_after_a_switch(
    alice_chat: ChatClient, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Coding agent here."))
    await alice_chat.open(model=SONNET)
    await alice_chat.command("/agent coding-agent")
    frames = await alice_chat.say("hi")
    assert text_of(frames) == "Coding agent here."


# --- an agent that goes away --------------------------------------------------------------------


async def test_a_conversation_whose_agent_was_deleted_reopens_with_the_default_agent(
    alice_chat: ChatClient, alice: Any
) -> None:
    agent = await sync_to_async(services.agent_create)(
        user=alice, name="Temporary", system_prompt="Soon gone."
    )
    info, _ = await alice_chat.open(agent="temporary")
    await sync_to_async(services.agent_delete)(user=alice, agent_id=agent.pk)
    resumed, _ = await alice_chat.open(conversation_id=info["conversation_id"])
    assert resumed["agent"] == "general"


async def test_a_deleted_agent_stays_in_use_until_the_session_switches(
    alice_chat: ChatClient, alice: Any, fake_anthropic: Any
) -> None:
    """The session loaded the agent's config when it switched; deleting the row later does not
    pull the prompt from under a running conversation, and it cannot be switched to again."""
    agent = await sync_to_async(services.agent_create)(
        user=alice, name="Temporary", system_prompt="Soon gone."
    )
    await alice_chat.open(model=SONNET, agent="temporary")
    await sync_to_async(services.agent_delete)(user=alice, agent_id=agent.pk)
    await alice_chat.say("still there?")
    assert fake_anthropic.chat_requests()[-1].json["system"] == "Soon gone."
    assert (await alice_chat.command("/agent general"))["ok"] is True
    assert (await alice_chat.command("/agent temporary"))["ok"] is False
