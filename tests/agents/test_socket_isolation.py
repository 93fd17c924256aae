"""The socket half of tests/test_isolation.py: every client frame type and every slash command,
walked from their definitions (``agents.protocol.ClientFrame``, ``agents.commands``), and
another user's object answers "not found" (error code ``not_found``), exactly like one that does
not exist, and is left as it was. A new frame or command fails here until it is listed in
``*_ADDRESSING`` (with how to point it at bob's object) or in ``*_EXEMPT`` (saying why it
addresses no user's object)."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents import protocol
from agents import services as agent_services
from agents.commands import COMMAND_NAMES
from agents.models import AgentConfig, Session
from conversations import services as conversation_services
from conversations.models import Conversation
from memory import services as memory_services
from memory.models import Insight
from tests.agents.chat import ChatClient
from tests.test_isolation import MARKER

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


def bobs_objects(bob: Any) -> dict[str, Any]:
    conversation = conversation_services.conversation_create(user=bob, title=MARKER)
    conversation_services.message_persist_user(
        user=bob, conversation_id=conversation.pk, content=MARKER
    )
    agent = agent_services.agent_create(user=bob, name="Bob bot", system_prompt=MARKER)
    insight = memory_services.insight_save(user=bob, content=f"Bob's secret: {MARKER}").insight
    memory_services.preference_set(user=bob, key="codename", value=MARKER)
    return {"conversation": str(conversation.pk), "agent": agent.slug, "insight": insight.pk}


# Client frames that name an object: the frame's fields that point it at bob's.
FRAME_ADDRESSING: dict[str, list[Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "conversation:open": [
        lambda bobs: {"conversation_id": bobs["conversation"]},
        lambda bobs: {"agent": bobs["agent"]},
    ],
}
FRAME_EXEMPT = {
    "message:send": "posts into the conversation this socket opened (its own)",
    "command:execute": "walked command by command below",
    "message:cancel": "cancels the turn of the conversation this socket opened",
    "ping": "addresses nothing",
}
# Slash commands that name an object: the command line that points at bob's.
COMMAND_ADDRESSING: dict[str, Callable[[dict[str, Any]], str]] = {
    "/agent": lambda bobs: f"/agent {bobs['agent']}",
    "/memory": lambda bobs: f"/memory forget {bobs['insight']}",
}
COMMAND_EXEMPT = {
    "/help": "addresses nothing",
    "/model": "names a model of the catalog, nobody's object",
    "/history": "reads the conversation this socket opened",
}


def client_frame_types() -> set[str]:
    (union, *_) = typing.get_args(protocol.ClientFrame)
    return {
        typing.get_args(member.model_fields["type"].annotation)[0]
        for member in typing.get_args(union)
    }


def test_every_client_frame_and_command_is_walked() -> None:
    frames = client_frame_types()
    assert frames == set(FRAME_ADDRESSING) | set(FRAME_EXEMPT), (
        "a client frame type is missing from FRAME_ADDRESSING or FRAME_EXEMPT (or is gone)"
    )
    assert set(COMMAND_NAMES) == set(COMMAND_ADDRESSING) | set(COMMAND_EXEMPT), (
        "a slash command is missing from COMMAND_ADDRESSING or COMMAND_EXEMPT (or is gone)"
    )


def bobs_state(bob: Any) -> tuple[Any, ...]:
    return (
        list(Conversation.objects.filter(owner=bob).values_list("title", "agent_slug")),
        list(AgentConfig.objects.filter(owner=bob).values_list("slug", "system_prompt")),
        list(Insight.objects.filter(user=bob).values_list("content", "use_count", "tier")),
        Session.objects.filter(user=bob).count(),
    )


async def test_another_users_object_is_not_found_through_every_frame_and_command(
    bob: Any, alice_chat: ChatClient
) -> None:
    bobs = await sync_to_async(bobs_objects)(bob)
    before = await sync_to_async(bobs_state)(bob)

    for fields in FRAME_ADDRESSING["conversation:open"]:
        await alice_chat.send({"type": "conversation:open", **fields(bobs)})
        error = await alice_chat.recv()
        assert (error["type"], error["code"]) == ("error", "not_found"), error
        assert MARKER not in str(error)

    await alice_chat.open(model=SONNET)  # alice's own conversation, for the commands
    for name, command_line in COMMAND_ADDRESSING.items():
        result = await alice_chat.command(command_line(bobs))
        assert result["ok"] is False, (name, result)
        assert result["data"]["code"] == "not_found", (name, result)
        assert MARKER not in str(result), name
    # The commands that list or search show none of bob's data either.
    for line in ("/agent", "/memory", "/memory search Bob secret", "/history", "/help"):
        result = await alice_chat.command(line)
        assert MARKER not in str(result), line
        assert bobs["agent"] not in str(result), line

    assert await sync_to_async(bobs_state)(bob) == before


async def test_ids_that_do_not_exist_are_the_same_not_found(alice_chat: ChatClient) -> None:
    await alice_chat.open(model=SONNET)
    for line in ("/memory forget 999999999", "/memory forget not-a-number", "/agent nobody"):
        result = await alice_chat.command(line)
        assert (result["ok"], result["data"]["code"]) == (False, "not_found"), line
