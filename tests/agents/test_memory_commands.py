"""``/memory`` over the socket: the user's own memories listed, searched and forgotten (another
user's are covered by tests/agents/test_socket_isolation.py)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from memory import services as memory_services
from memory.models import Insight
from tests.agents.chat import ChatClient

pytestmark = pytest.mark.django_db(transaction=True)

SONNET = "anthropic:claude-sonnet-4-6"


@pytest.fixture
def local_embeddings(settings: Any) -> None:
    settings.MOSAIC_EMBEDDING_PROVIDER = "local"
    settings.MOSAIC_EMBEDDING_MODEL = ""
    settings.MOSAIC_EMBEDDING_DIMS = 0


def alices_memories(alice: Any) -> dict[str, int]:
    marathon = memory_services.insight_save(
        user=alice, content="The user is training for a marathon in April.", category="goal"
    ).insight
    cat = memory_services.insight_save(user=alice, content="The user's cat is called Miso.")
    memory_services.preference_set(user=alice, key="answer_style", value="short bullet points")
    return {"marathon": marathon.pk, "cat": cat.insight.pk}


@pytest.mark.usefixtures("local_embeddings")
async def test_memory_lists_searches_and_forgets_the_users_own(
    alice: Any, alice_chat: ChatClient
) -> None:
    ids = await sync_to_async(alices_memories)(alice)
    await alice_chat.open(model=SONNET)

    listed = await alice_chat.command("/memory")
    assert listed["ok"] is True
    assert {i["id"] for i in listed["data"]["insights"]} == set(ids.values())
    assert listed["data"]["preferences"] == {"answer_style": "short bullet points"}
    assert listed["data"]["recall"] is True
    assert f"#{ids['marathon']}" in listed["output"]
    assert "answer_style = short bullet points" in listed["output"]

    found = await alice_chat.command("/memory search my running plan")
    assert found["ok"] is True
    assert found["data"]["results"][0]["id"] == ids["marathon"]
    assert found["data"]["results"][0]["score"] > found["data"]["results"][-1]["score"]

    forgot = await alice_chat.command(f"/memory forget {ids['cat']}")
    assert forgot["ok"] is True
    assert "Miso" in forgot["output"]
    remaining = await sync_to_async(lambda: list(Insight.objects.values_list("pk", flat=True)))()
    assert remaining == [ids["marathon"]]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("/memory search", "What should I look for?"),
        ("/memory forget", "Which one?"),
        ("/memory remember this", "Unknown /memory command 'remember'"),
    ],
)
async def test_memory_commands_explain_bad_input(
    alice_chat: ChatClient, line: str, says: str
) -> None:
    await alice_chat.open(model=SONNET)
    result = await alice_chat.command(line)
    assert result["ok"] is False
    assert says in result["output"]
    assert result["data"]["code"] == "invalid"


async def test_help_lists_the_memory_commands(alice_chat: ChatClient) -> None:
    result = await alice_chat.command("/help")
    for command in ("/memory ", "/memory search <text>", "/memory forget <id>"):
        assert command in result["output"]
