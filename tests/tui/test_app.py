"""``mosaic chat`` driven headless with Textual's pilot against a real daphne and fake upstreams.

PRD acceptance: AC-1 (resume with history), AC-4 (/model), AC-5 (/agent), AC-10 (routing shown
under every response); M1-007 (/history); cancel, reconnect after a server restart, and the
one-line failures.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from textual.pilot import Pilot

from mosaic.fakes.base import Fault, Script, ToolUse
from mosaic.tui.app import ChatApp
from mosaic.tui.client import Backoff, ChatClient
from mosaic.tui.widgets import AgentForm, AssistantMessage, RouteLine, ThinkingBlock, ToolLine
from tests.tui.conftest import ChatServer, eventually, in_thread

pytestmark = pytest.mark.e2e

PINNED = "anthropic:claude-sonnet-4-6"
SIZE = (120, 40)


@asynccontextmanager
async def chat(
    server: ChatServer, size: tuple[int, int] = SIZE, **options: Any
) -> AsyncIterator[tuple[ChatApp, Pilot[int]]]:
    """The app, connected and showing its conversation."""
    client = ChatClient(
        server.url, server.token, backoff=Backoff(initial=0.2, maximum=1.0), **options
    )
    app = ChatApp(client)
    async with app.run_test(size=size) as pilot:
        await eventually(lambda: bool(app.shown_conversation), what="the conversation to open")
        yield app, pilot


async def say(app: ChatApp, pilot: Pilot[int], text: str) -> None:
    app.input.load_text(text)
    await pilot.press("enter")


def lines(app: ChatApp, kind: str) -> list[str]:
    prefix = f"{kind}: "
    return [line[len(prefix) :] for line in app.transcript() if line.startswith(prefix)]


async def reply_done(app: ChatApp, count: int, within: float = 20.0) -> None:
    """Wait until ``count`` responses have their route line and nothing is running."""
    await eventually(
        lambda: len(lines(app, "route")) >= count and not app.running,
        within=within,
        what=f"response {count} to finish; transcript: {app.transcript()}",
    )


def system_prompt(request: Any) -> str:
    system = request.json.get("system", "")
    if isinstance(system, list):
        return "".join(block.get("text", "") for block in system)
    return str(system)


def anthropic_text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


# --- AC-1: resume -------------------------------------------------------------------------------


async def test_resumed_chat_shows_the_history_and_the_model_gets_the_earlier_turns(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(text="Nice to meet you, **Ada**."))
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "My name is Ada.")
        await reply_done(app, 1)
        conversation_id = app.shown_conversation
        await say(app, pilot, "/quit")
        await eventually(lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0

    fake_anthropic.script(Script(text="Your name is Ada."))
    async with chat(chat_server, conversation_id=conversation_id, model=PINNED) as (app, pilot):
        shown = app.transcript()
        assert "you: My name is Ada." in shown
        assert "assistant: Nice to meet you, **Ada**." in shown
        assert len(lines(app, "route")) == 1  # the stored answer keeps its route line
        assert conversation_id[:8] in app.status_text
        await say(app, pilot, "What is my name?")
        await reply_done(app, 2)
        assert lines(app, "assistant")[-1] == "Your name is Ada."

    sent = fake_anthropic.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert anthropic_text(sent[0]) == "My name is Ada."
    assert anthropic_text(sent[1]) == "Nice to meet you, **Ada**."


# --- AC-4, AC-5, AC-10, M1-007 ----------------------------------------------------------------


async def test_model_command_pins_the_model_for_the_next_messages(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "/model claude-sonnet-4-6")
        await eventually(
            lambda: "anthropic:claude-sonnet-4-6 (pinned)" in app.status_text,
            what=f"the status bar to show the pinned model: {app.status_text}",
        )
        assert any("claude-sonnet-4-6" in note for note in lines(app, "note"))
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        route = lines(app, "route")[-1]
        assert route.startswith("↳ anthropic:claude-sonnet-4-6")
        assert " · override: " in route
    assert fake_anthropic.chat_requests()[-1].json["model"] == "claude-sonnet-4-6"


async def test_agent_command_switches_the_system_prompt_the_model_gets(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    from agents.models import AgentConfig

    coding = await in_thread(lambda: AgentConfig.objects.get(owner=None, slug="coding-agent"))
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        await say(app, pilot, "/agent coding-agent")
        await eventually(lambda: " │ coding-agent │ " in app.status_text, what="the agent switch")
        await say(app, pilot, "hello again")
        await reply_done(app, 2)
    before, after = (system_prompt(r) for r in fake_anthropic.chat_requests()[-2:])
    assert before != after
    assert coding.system_prompt.strip()[:60] in after


async def test_every_response_shows_the_model_and_the_routing_reason(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        await say(app, pilot, "Write a Python function that reverses a linked list, with tests.")
        await reply_done(app, 2)
        routes = lines(app, "route")
        assert app.session is not None
        assert app.session.routing is not None
        for route in routes:
            who, reason = route.split(" · ")[:2]
            assert who.startswith("↳ ")
            assert ":" in who
            assert reason
            assert reason != "routing: no decision recorded"
        assert app.session.routing.reason in routes[-1]


async def test_failover_is_said_in_the_route_line(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    fake_anthropic.script(Script(fault=Fault("status", status=529)))
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        assert " · failover: " in lines(app, "route")[-1]


async def test_history_command_shows_message_count_and_context_usage(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        await say(app, pilot, "/history")
        await eventually(
            lambda: any("2 messages" in n for n in lines(app, "note")), what="/history"
        )
        assert app.context_tokens > 0
        assert app.context_window > 0
        assert "ctx " in app.status_text
        assert "%" in app.status_text


async def test_help_lists_the_commands_as_this_client_runs_them_and_the_keys(
    chat_server: ChatServer,
) -> None:
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "/help")
        await eventually(lambda: any("ctrl+j" in n for n in lines(app, "note")), what="/help")
        (shown,) = (n for n in lines(app, "note") if "ctrl+j" in n)
        assert "/model auto  " in shown
        assert "/new  start a new conversation" in shown
        # /agent new opens a form here: the protocol's argument list is not for this reader.
        assert "/agent new  a form asks for the name, system prompt, tools" in shown
        assert "args {" not in shown


async def test_agent_list_shows_whole_descriptions_wrapped_to_the_window(
    chat_server: ChatServer, alice: Any
) -> None:
    from agents.models import AgentConfig

    description = (
        "Keeps the release notes of every project in a plain, friendly voice, with the "
        "breaking changes first and thanks to each contributor at the end, like a zeppelin."
    )
    await in_thread(
        AgentConfig.objects.create,
        owner=alice, slug="release-notes", name="Release notes", system_prompt="Write notes.",
        description=description,
    )  # fmt: skip
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "/agent")
        await eventually(
            lambda: any("release-notes" in n for n in lines(app, "note")), what="/agent"
        )
        (shown,) = (n for n in lines(app, "note") if "release-notes" in n)
        assert f"release-notes  Release notes (yours; no tools) — {description}" in shown
        await pilot.pause(0.2)
        screen = app.export_screenshot()
        assert "zeppelin." in screen  # the end of the description is on the screen


async def test_the_route_line_wraps_in_a_narrow_window_instead_of_hiding_the_reason(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(chat_server, size=(50, 30), model=PINNED) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        await pilot.pause(0.2)
        route = app.log_view.query(RouteLine).last()
        assert len(route.plain) > 50
        assert route.size.height >= 2  # wrapped onto more lines, not cut at the edge


async def test_tool_calls_are_one_line_each_with_their_result(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("current_time", {})]),
        Script(text="It is *now*."),
    )
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "what time is it?")
        await reply_done(app, 1)
        (tool,) = lines(app, "tool")
        assert re.match(r"⚙ current_time\(\{\}\) → \d{4}-\d\d-\d\dT\d\d:\d\d", tool), tool
        assert lines(app, "assistant")[-1] == "It is *now*."
        line = app.log_view.query_one(ToolLine)
        assert line.collapsed
        # Keyboard, not a click: a click lands only if the line is inside the visible region,
        # which depends on the terminal size the test runs with.
        line.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        await eventually(lambda: not line.collapsed, what="the tool line to expand")


async def test_thinking_is_shown_collapsed_and_dimmed(chat_server: ChatServer) -> None:
    from mosaic.tui.frames import MessageDone, ThinkingDelta, Usage

    async with chat(chat_server, model=PINNED) as (app, pilot):
        await app.handle_event(ThinkingDelta("t1", "Let me think "))
        await app.handle_event(ThinkingDelta("t1", "about it."))
        await pilot.pause(0.1)
        await app.handle_event(
            MessageDone("t1", "complete", "anthropic", "claude-sonnet-4-6", Usage(), 10, None)
        )
        block = app.log_view.query_one(ThinkingBlock)
        assert block.collapsed
        assert block.plain == "Let me think about it."
        assert block.title == "thinking (5 words)"


async def test_agent_new_asks_for_name_prompt_and_tools(chat_server: ChatServer) -> None:
    from agents.models import AgentConfig

    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "/agent new")
        await eventually(lambda: isinstance(app.screen, AgentForm), what="the agent form")
        form = app.screen
        form.query_one("#agent-name").value = "Release notes"  # type: ignore[attr-defined]
        form.query_one("#agent-prompt").load_text("You write release notes.")  # type: ignore[attr-defined]
        form.query_one("#agent-tools").value = "calculator"  # type: ignore[attr-defined]
        await pilot.click("#agent-create")
        await eventually(
            lambda: any("Created agent" in n for n in lines(app, "note")), what="the agent"
        )
    agent = await in_thread(lambda: AgentConfig.objects.get(slug="release-notes"))
    assert agent.system_prompt == "You write release notes."
    assert agent.tool_allowlist == ["calculator"]


async def test_new_starts_another_conversation(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        first = app.shown_conversation
        await say(app, pilot, "/new")
        await eventually(lambda: app.shown_conversation != first, what="a new conversation")
        assert not lines(app, "you")


# --- cancel -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["escape", "ctrl+c"])
async def test_a_running_reply_is_cancelled_and_marked(
    chat_server: ChatServer, fake_anthropic: Any, key: str
) -> None:
    fake_anthropic.script(Script(text="word " * 200, chunk_size=5, delay=0.1))
    async with chat(chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "tell me a long story")
        await eventually(
            lambda: any(len(m.source) > 20 for m in app.log_view.query(AssistantMessage)),
            what="the reply to start streaming",
        )
        await pilot.press(key)
        await reply_done(app, 1)
        assert "Cancelling…" not in lines(app, "note")  # said its piece once the turn ended
        assert app.is_running  # ctrl+c while a reply runs cancels; it does not quit
        assert "cancelled" in lines(app, "route")[-1].split(" · ")
        (partial,) = lines(app, "assistant (cancelled)")
        assert partial.startswith("word word")
        assert len(partial) < len("word " * 200)


async def test_ctrl_c_quits_when_nothing_runs(chat_server: ChatServer) -> None:
    async with chat(chat_server) as (app, pilot):
        await pilot.press("ctrl+c")
        await eventually(lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0


async def test_ctrl_c_twice_quits_even_while_a_reply_runs(
    own_chat_server: ChatServer, fake_anthropic: Any
) -> None:
    # A server of its own: the reply goes on after the app quits, and stops with the server.
    fake_anthropic.script(Script(text="word " * 200, chunk_size=5, delay=0.1))
    async with chat(own_chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "tell me a long story")
        await eventually(lambda: bool(app.log_view.query(AssistantMessage)), what="the reply")
        await pilot.press("ctrl+c", "ctrl+c")
        await eventually(lambda: not app.is_running, what="the app to quit")
    assert app.return_code == 0


# --- resilience ---------------------------------------------------------------------------------


async def test_chat_reconnects_after_the_server_restarts_and_goes_on(
    own_chat_server: ChatServer, fake_anthropic: Any
) -> None:
    async with chat(own_chat_server, model=PINNED) as (app, pilot):
        await say(app, pilot, "hello")
        await reply_done(app, 1)
        conversation_id = app.shown_conversation
        await in_thread(own_chat_server.restart, down_for=1.0)
        await eventually(
            lambda: any("Reconnected." in n for n in lines(app, "note")),
            within=30,
            what="reconnect",
        )
        assert any("Reconnecting" in n for n in lines(app, "note"))
        assert app.shown_conversation == conversation_id
        assert "anthropic:claude-sonnet-4-6 (pinned)" in app.status_text  # pinned again
        await say(app, pilot, "still there?")
        await reply_done(app, 2)
        assert lines(app, "you") == ["hello", "still there?"]
    assert len(fake_anthropic.chat_requests()) == 2
    assert [m["role"] for m in fake_anthropic.chat_requests()[-1].json["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


# --- one-line failures ------------------------------------------------------------------------------


async def test_failures_before_the_chat_opens_are_one_line(chat_server: ChatServer) -> None:
    import uuid

    from mosaic.tui.commands import run_chat
    from tests.live import free_port

    down = f"http://127.0.0.1:{free_port()}"
    code, message = await run_chat(down, chat_server.token)
    assert code == 2
    assert message.startswith(f"Cannot reach {down}: is the server running?")

    code, message = await run_chat(chat_server.url, "mos_wrong")
    assert (code, message) == (2, "Your token was refused: run `mosaic login`.")

    missing = str(uuid.uuid4())
    code, message = await run_chat(chat_server.url, chat_server.token, conversation_id=missing)
    assert (code, message) == (
        2,
        f"Conversation {missing} not found: `mosaic conversations` lists yours.",
    )


def test_chat_without_a_login_says_to_log_in(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mosaic.cli import main

    monkeypatch.setenv("MOSAIC_CLIENT_CONFIG", str(tmp_path / "none.json"))
    assert main(["chat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mosaic: Not logged in: run `mosaic login --server http://HOST:PORT` first."]


async def test_token_refused_while_chatting_ends_the_chat_with_one_line(
    chat_server: ChatServer, alice: Any
) -> None:
    from accounts.services import token_revoke

    async with chat(chat_server) as (app, _pilot):
        await in_thread(token_revoke, user=alice, raw=chat_server.token)
        await app.client.reconnect()
        await eventually(lambda: not app.is_running, what="the app to stop")
    assert app.return_code == 2
    assert app.fatal == "Your token was refused: run `mosaic login`."


@pytest.mark.skipif(not os.environ.get("MOSAIC_TUI_SCREENSHOT"), reason="docs only")
async def test_save_a_session_screenshot_for_the_docs(
    chat_server: ChatServer, fake_anthropic: Any
) -> None:
    fake_anthropic.script(
        Script(text="", tool_calls=[ToolUse("current_time", {})]),
        Script(
            text=(
                "It is late in the day. Here is the function you asked about:\n\n"
                "```python\ndef reverse(items: list[int]) -> list[int]:\n"
                "    return items[::-1]\n```\n\nCall it with any list."
            )
        ),
    )
    async with chat(chat_server) as (app, pilot):
        await say(app, pilot, "What time is it? And show me how to reverse a list in Python.")
        await reply_done(app, 1)
        await say(app, pilot, "/model claude-sonnet-4-6")
        await eventually(lambda: "(pinned)" in app.status_text)
        await say(app, pilot, "Thanks!")
        await reply_done(app, 2)
        await pilot.pause(0.3)
        path = os.environ["MOSAIC_TUI_SCREENSHOT"]
        app.save_screenshot(os.path.basename(path), path=os.path.dirname(path) or ".")
