"""Slash commands sent as ``command:execute``: /model, /agent, /history, /help."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async

from agents import selectors, services
from agents.protocol import CommandResult
from conversations import selectors as conversation_selectors
from conversations import services as conversation_services
from conversations.models import Message
from conversations.tokens import estimate_tokens
from mosaic.errors import MosaicError

if TYPE_CHECKING:
    from agents.gateway import ChatSession

HELP = """Commands:
  /model                 show the model in use and how it was chosen
  /model <id>            pin a model for this session (e.g. claude-sonnet-4-6, openai:gpt-5.4)
  /model auto            let routing choose again
  /agent                 list the agents you can use
  /agent <slug>          switch agent (system prompt, tools, default model); history is kept
  /agent new             create an agent (name, system prompt, tools)
  /history               message count and context usage
  /help                  this list"""


def _result(command: str, ok: bool, output: str, **data: Any) -> CommandResult:
    result: CommandResult = {
        "type": "command:result",
        "command": command,
        "ok": ok,
        "output": output,
    }
    if data:
        result["data"] = data
    return result


async def run_command(chat: ChatSession, command: str, args: dict[str, Any]) -> CommandResult:
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
        return _result(text, False, exc.message)


async def _help(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> CommandResult:
    return _result(text, True, HELP)


async def _model(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> CommandResult:
    from agents.gateway import _validate_model, session_info

    if chat.session_id is None:
        raise MosaicError("Open a conversation first.")
    if not rest:
        how = chat.routing["reason"] if chat.routing else "routing decides for each message"
        pinned = f" (pinned with /model: {chat.model_override})" if chat.model_override else ""
        return _result(text, True, f"Model: {chat.provider}:{chat.model}{pinned}. {how}")
    ref = rest[0]
    if ref.lower() == "auto":
        new_override, output = "", "Routing chooses the model again for each message."
    else:
        provider, model = await database_sync_to_async(_validate_model)(ref)
        new_override, output = (
            f"{provider}:{model}",
            f"Model pinned to {provider}:{model} for this session.",
        )
    if new_override != chat.model_override:
        await database_sync_to_async(services.session_set_model)(
            user=chat.user, session_id=chat.session_id, model_override=new_override
        )
    chat.model_override = new_override
    if new_override:
        chat.provider, _, chat.model = new_override.partition(":")
        chat.routing = None
    await chat.send(dict(session_info(chat)))
    return _result(text, True, output, model_override=new_override)


def _agent_list(chat: ChatSession) -> str:
    lines = []
    for agent in selectors.agents_accessible(user=chat.user):
        mark = "*" if chat.agent and chat.agent.slug == agent.slug else " "
        owner = "system" if agent.owner_id is None else "yours"
        lines.append(
            f"{mark} {agent.slug:<20} {agent.name} ({owner}) — {agent.description[:60]}".rstrip(
                " —"
            )
        )
    return "Agents:\n" + "\n".join(lines)


def _switch_agent(chat: ChatSession, slug: str) -> Any:
    agent = selectors.agent_get(user=chat.user, slug=slug)
    services.session_set_agent(user=chat.user, session_id=chat.session_id, agent_slug=agent.slug)
    assert chat.session_id is not None
    conversation_services.conversation_bind(
        user=chat.user,
        conversation_id=chat.conversation_id,
        session_id=chat.session_id,
        agent_slug=agent.slug,
    )
    return agent


def _create_agent(chat: ChatSession, args: dict[str, Any]) -> Any:
    name = str(args.get("name", "")).strip()
    slug = str(args.get("slug") or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"))[:63]
    tools = args.get("tools", [])
    if isinstance(tools, str):
        tools = [t.strip() for t in tools.split(",") if t.strip()]
    return services.agent_create(
        user=chat.user,
        slug=slug,
        name=name,
        system_prompt=str(args.get("system_prompt", "")),
        description=str(args.get("description", "")),
        tool_allowlist=tools,
    )


async def _agent(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> CommandResult:
    from agents.gateway import AgentView, session_info

    if chat.session_id is None:
        raise MosaicError("Open a conversation first.")
    if not rest:
        return _result(text, True, await database_sync_to_async(_agent_list)(chat))
    if rest[0] == "new":
        if not args:
            return _result(
                text,
                False,
                "/agent new needs args: {name, system_prompt, tools}. The terminal client asks for them.",
            )
        agent = await database_sync_to_async(_create_agent)(chat, args)
        return _result(
            text,
            True,
            f"Created agent {agent.slug!r}. Switch to it with /agent {agent.slug}.",
            slug=agent.slug,
        )
    agent = await database_sync_to_async(_switch_agent)(chat, rest[0])
    chat.agent = AgentView.of(agent)
    if not chat.model_override:
        ref = chat.agent.default_model
        if ref:
            chat.provider, _, chat.model = ref.partition(":")
        chat.routing = None
    await chat.send(dict(session_info(chat)))
    return _result(text, True, f"Switched to {agent.name} ({agent.slug}).", agent=agent.slug)


def _history_stats(chat: ChatSession) -> tuple[int, int]:
    rows = conversation_selectors.message_list(user=chat.user, conversation_id=chat.conversation_id)
    count = rows.exclude(role=Message.Role.CHECKPOINT).count()
    checkpoint, context_rows = conversation_selectors.context_messages(
        user=chat.user, conversation_id=chat.conversation_id
    )
    tokens = (
        estimate_tokens(chat.agent.system_prompt if chat.agent else "")
        + (checkpoint.token_estimate if checkpoint else 0)
        + sum(r.token_estimate for r in context_rows)
    )
    return count, tokens


async def _history(
    chat: ChatSession, text: str, rest: list[str], args: dict[str, Any]
) -> CommandResult:
    from agents.gateway import _window

    if chat.conversation_id is None:
        raise MosaicError("Open a conversation first.")
    count, tokens = await database_sync_to_async(_history_stats)(chat)
    window = _window(chat.provider, chat.model)
    share = 100 * tokens / window if window else 0
    output = f"{count} messages; context {tokens:,} tokens of {window:,} ({share:.1f}%) for {chat.provider}:{chat.model}."
    return _result(
        text, True, output, message_count=count, context_tokens=tokens, context_window=window
    )


_HANDLERS = {"/help": _help, "/model": _model, "/agent": _agent, "/history": _history}
