"""Slash commands sent as ``command:execute``: /model, /agent, /history, /memory, /help.

Each answers one ``command:result``; a command that changes the session's model or agent also
sends ``session:info`` first. Domain errors become ``ok: false`` with the error's message, and
its code (``core.errors``: ``not_found``, ``invalid``, ...) as ``data.code``. ``/memory`` lives
in ``agents.memory_commands``.
"""

from __future__ import annotations

import shlex
from typing import Any

from agents import channel as ch
from agents import selectors, services
from agents.memory_commands import memory_command
from agents.models import AgentConfig
from agents.session import AgentView, ChatSession
from agents.tools import all_tools
from conversations import services as conversation_services
from conversations.context import context_usage
from core.db import in_database_thread
from core.errors import InvalidInput, MosaicError
from routing.rules import validate_model_ref

HELP = """Commands:
  /model                 show the model in use and how it was chosen
  /model <id>            pin a model for this session (e.g. claude-sonnet-4-6, openai:gpt-5.4)
  /model auto            let routing choose again
  /agent                 list the agents you can use
  /agent <slug>          switch agent (system prompt, tools, default model); history is kept
  /agent new             create an agent (you give its name, instructions and tools)
  /history               message count, context usage and memories used
  /memory                what Mosaic remembers about you (newest insights, preferences)
  /memory search <text>  find remembered insights by meaning
  /memory forget <id>    delete one remembered insight
  /help                  this list"""


def _result(command: str, ok: bool, output: str, **data: Any) -> ch.CommandAnswered:
    return ch.CommandAnswered(command, ok, output, data or None)


async def run_command(chat: ChatSession, command: str, args: dict[str, Any]) -> ch.CommandAnswered:
    text = command.strip()
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if not words or not words[0].startswith("/"):
        return _result(text, False, "Commands start with '/'. Type /help for the list.")
    name, rest = words[0].lower(), words[1:]
    handler = _HANDLERS.get(name)
    if handler is None:
        return _result(text, False, f"Unknown command {name}. {HELP}")
    try:
        return await handler(chat, text, rest, args)
    except MosaicError as exc:
        return _result(text, False, exc.message, code=exc.code)


async def _help(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> ch.CommandAnswered:
    return _result(text, True, HELP)


async def _model(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> ch.CommandAnswered:
    if chat.session_id is None:
        raise InvalidInput("Open a conversation first.")
    if not rest:
        how = chat.routing.reason if chat.routing else "routing decides for each message"
        pinned = f" (pinned with /model: {chat.model_override})" if chat.model_override else ""
        return _result(text, True, f"Model: {chat.provider}:{chat.model}{pinned}. {how}")
    ref = rest[0]
    if ref.lower() == "auto":
        new_override, output = "", "Routing chooses the model again for each message."
    else:
        provider, model = await in_database_thread(validate_model_ref, ref)
        new_override, output = (
            f"{provider}:{model}",
            f"Model pinned to {provider}:{model} for this session.",
        )
    if new_override != chat.model_override:
        await in_database_thread(
            services.session_set_model,
            user=chat.user,
            session_id=chat.session_id,
            model_override=new_override,
        )
    chat.model_override = new_override
    # Pinned: that model. Unpinned: what routing would start from, until it decides.
    chat.expect_model()
    await chat.deliver(chat.state())
    return _result(text, True, output, model_override=new_override)


def _agent_list(chat: ChatSession) -> tuple[str, list[dict[str, Any]]]:
    current = chat.agent.slug if chat.agent else ""
    lines, agents = [], []
    for agent in selectors.agents_accessible(user=chat.user):
        mark = "*" if agent.slug == current else " "
        whose = "system" if agent.is_system else "yours"
        tools = ", ".join(agent.tool_allowlist) or "no tools"
        about = f" — {agent.description[:60]}" if agent.description else ""
        lines.append(f"{mark} {agent.slug:<20} {agent.name} ({whose}; {tools}){about}")
        agents.append(
            {
                "slug": agent.slug,
                "name": agent.name,
                "description": agent.description,
                "system": agent.is_system,
                "tools": list(agent.tool_allowlist),
            }
        )
    return "Agents (/agent <slug> to switch):\n" + "\n".join(lines), agents


def _switch_agent(chat: ChatSession, slug: str) -> tuple[AgentConfig, bool]:
    assert chat.session_id is not None
    assert chat.conversation_id is not None
    agent = selectors.agent_get(user=chat.user, slug=slug)
    changed = services.session_set_agent(
        user=chat.user, session_id=chat.session_id, agent_slug=agent.slug
    )
    # The conversation remembers its agent, so that resuming it later picks the same one.
    conversation_services.conversation_bind(
        user=chat.user,
        conversation_id=chat.conversation_id,
        session_id=chat.session_id,
        agent_slug=agent.slug,
    )
    return agent, changed


NEW_AGENT_ARGS = ("name", "system_prompt", "tools", "description", "slug")


def _create_agent(chat: ChatSession, args: dict[str, Any]) -> AgentConfig:
    """``/agent new``: the socket's spelling of ``POST /api/agents``, through the same service."""
    unknown = sorted(set(args) - set(NEW_AGENT_ARGS))
    if unknown:
        raise InvalidInput(
            f"{unknown[0]}: unknown argument. /agent new takes {', '.join(NEW_AGENT_ARGS)}."
        )
    tools = args.get("tools")
    if isinstance(tools, str):  # "calculator, current_time" from a one-line prompt
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    fields = {
        "slug": args.get("slug"),
        "description": args.get("description"),
        "tool_allowlist": tools,
    }
    return services.agent_create(
        user=chat.user,
        name=args.get("name", ""),  # type-checked by the service, like every other field
        system_prompt=args.get("system_prompt", ""),
        **{key: value for key, value in fields.items() if value is not None},
    )


async def _agent(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> ch.CommandAnswered:
    if not rest:
        output, agents = await in_database_thread(_agent_list, chat)
        return _result(text, True, output, agents=agents)
    if rest[0] == "new":
        if not args:
            return _result(
                text,
                False,
                "/agent new needs a name, instructions (a system prompt) and the tools it may "
                "use; the terminal client asks for them. Available tools: "
                f"{', '.join(sorted(all_tools()))}.",
            )
        created = await in_database_thread(_create_agent, chat, args)
        return _result(
            text,
            True,
            f"Created agent {created.slug!r}. Switch to it with /agent {created.slug}.",
            slug=created.slug,
            id=str(created.id),
        )
    if chat.session_id is None:
        raise InvalidInput("Open a conversation first.")
    agent, changed = await in_database_thread(_switch_agent, chat, rest[0])
    chat.agent = AgentView.of(agent)
    # What the next message will likely use, until routing decides (as on open); a model
    # pinned with /model stays pinned: the user's explicit choice beats an agent's default.
    chat.expect_model()
    await chat.deliver(chat.state())
    if not changed:
        return _result(text, True, f"Already using {agent.name} ({agent.slug}).", agent=agent.slug)
    tools = ", ".join(chat.agent.tool_allowlist) or "no tools"
    return _result(
        text,
        True,
        f"Switched to {agent.name} ({agent.slug}; {tools}). The conversation so far is kept.",
        agent=agent.slug,
    )


def _history_stats(chat: ChatSession) -> tuple[int, int]:
    return context_usage(
        user=chat.user,
        conversation_id=chat.conversation_id,
        system_prompt=chat.agent.system_prompt if chat.agent else "",
    )


async def _history(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> ch.CommandAnswered:
    if chat.conversation_id is None:
        raise InvalidInput("Open a conversation first.")
    count, tokens = await in_database_thread(_history_stats, chat)
    window = chat.window
    share = 100 * tokens / window if window else 0
    output = f"{count} messages; context {tokens:,} tokens of {window:,} ({share:.1f}%) for {chat.provider}:{chat.model}."
    if chat.memories_used:
        used = chat.memories_used
        output += f" The last answer was given {used} remembered insight{'s' if used != 1 else ''}."
    return _result(
        text,
        True,
        output,
        message_count=count,
        context_tokens=tokens,
        context_window=window,
        memories_used=chat.memories_used,
    )


async def _memory(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> ch.CommandAnswered:
    return await memory_command(chat, text, rest)


_HANDLERS = {
    "/help": _help,
    "/model": _model,
    "/agent": _agent,
    "/history": _history,
    "/memory": _memory,
}
# Every command a socket can run (tests/agents/test_socket_isolation.py walks them all).
COMMAND_NAMES = frozenset(_HANDLERS)
