"""The agents' memory tools, run the way the runtime runs them (``execute_tool``): always bound
to the session's user, whatever the model passes; arguments checked against the schema; errors
returned to the model as error results, with nothing stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from agents.models import AgentConfig
from agents.runtime import execute_tool
from agents.tools import ToolContext, all_tools
from conversations import services as conversation_services
from memory import services
from memory.models import Insight, Preference
from providers.adapters.base import ToolCall

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("local_embeddings"),
]

MEMORY_TOOLS = {
    "memory_search", "memory_save_insight", "memory_get_preferences", "memory_set_preference",
}  # fmt: skip


def context_for(user: Any, conversation_id: str = "") -> ToolContext:
    return ToolContext(user=user, conversation_id=conversation_id, session_id="")


async def run(user: Any, name: str, arguments: dict[str, Any], conversation_id: str = "") -> Any:
    call = ToolCall(call_id="call-1", name=name, arguments=arguments)
    return await execute_tool(call, all_tools(), context_for(user, conversation_id))


async def test_saving_is_for_the_session_user_with_the_conversation_as_source(
    alice: Any, bob: Any
) -> None:
    conversation = await sync_to_async(conversation_services.conversation_create)(user=alice)
    outcome = await run(
        alice,
        "memory_save_insight",
        {"content": "The user is vegetarian.", "category": "preference", "importance": 0.9},
        str(conversation.pk),
    )
    assert not outcome.is_error, outcome.result
    assert outcome.result.startswith("Saved as memory #")
    row = await Insight.objects.aget()
    assert (row.user_id, row.source, row.category, row.importance) == (
        alice.pk, "agent", "preference", 0.9,
    )  # fmt: skip
    assert row.source_conversation_id == conversation.pk

    again = await run(alice, "memory_save_insight", {"content": "User is a vegetarian"})
    assert not again.is_error
    assert again.result.startswith(f"Updated memory #{row.pk}")
    assert await Insight.objects.acount() == 1


async def test_a_user_id_from_the_model_is_refused_and_nothing_is_stored(
    alice: Any, bob: Any
) -> None:
    outcome = await run(
        alice, "memory_save_insight", {"content": "Bob owes me money.", "user_id": bob.pk}
    )
    assert outcome.is_error
    assert "Additional properties are not allowed" in outcome.result
    assert not await Insight.objects.aexists()
    search = await run(alice, "memory_search", {"query": "money", "user": bob.username})
    assert search.is_error


async def test_another_users_conversation_cannot_be_named_as_the_source(
    alice: Any, bob: Any
) -> None:
    bobs = await sync_to_async(conversation_services.conversation_create)(user=bob)
    outcome = await run(
        alice, "memory_save_insight", {"content": "The user plays go."}, str(bobs.pk)
    )
    assert outcome.is_error
    assert "Conversation not found" in outcome.result
    assert not await Insight.objects.aexists()


async def test_search_sees_only_the_session_users_memories_and_marks_them_used(
    alice: Any, bob: Any
) -> None:
    await sync_to_async(services.insight_save)(user=bob, content="The user keeps bees.")
    mine = await sync_to_async(services.insight_save)(user=alice, content="The user keeps goats.")
    outcome = await run(alice, "memory_search", {"query": "keeping animals", "k": 5})
    assert not outcome.is_error
    results = json.loads(outcome.result)
    assert [r["content"] for r in results] == ["The user keeps goats."]
    assert set(results[0]) == {"id", "content", "category", "score", "saved"}
    row = await Insight.objects.aget(pk=mine.insight.pk)
    assert row.use_count == 1
    assert row.last_used_at is not None
    bobs = await Insight.objects.aget(user=bob)
    assert bobs.use_count == 0


async def test_search_with_nothing_saved_says_so(alice: Any) -> None:
    outcome = await run(alice, "memory_search", {"query": "anything"})
    assert (outcome.is_error, outcome.result) == (False, "No saved memories match.")


async def test_preferences_round_trip_for_the_session_user_only(alice: Any, bob: Any) -> None:
    await sync_to_async(services.preference_set)(user=bob, key="units", value="imperial")
    empty = await run(alice, "memory_get_preferences", {})
    assert empty.result == "The user has no saved preferences."
    saved = await run(alice, "memory_set_preference", {"key": "units", "value": "metric"})
    assert saved.result == "Saved preference units = 'metric'."
    same = await run(alice, "memory_set_preference", {"key": "units", "value": "metric"})
    assert same.result == "units was already 'metric'."
    read = await run(alice, "memory_get_preferences", {})
    assert json.loads(read.result) == {"units": "metric"}
    row = await Preference.objects.aget(user=alice)
    assert row.source == "agent"
    assert (await Preference.objects.aget(user=bob)).value == "imperial"


async def test_a_bad_preference_key_is_an_error_result(alice: Any) -> None:
    outcome = await run(alice, "memory_set_preference", {"key": "Not a key!", "value": "x"})
    assert outcome.is_error
    assert "a-z, 0-9" in outcome.result
    assert not await Preference.objects.aexists()


async def test_system_agents_get_the_memory_tools_as_documented(alice: Any) -> None:
    agents = {a.slug: a async for a in AgentConfig.objects.filter(owner__isnull=True)}
    assert set(agents["general"].tool_allowlist) >= MEMORY_TOOLS
    assert {"memory_search", "memory_save_insight", "memory_get_preferences"} <= set(
        agents["coding-agent"].tool_allowlist
    )
    research = set(agents["research-bot"].tool_allowlist)
    assert {"memory_search", "memory_get_preferences"} <= research
    assert not research & {"memory_save_insight", "memory_set_preference"}
    assert "memory_save_insight" in agents["general"].system_prompt
