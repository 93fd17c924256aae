"""AC-3 / M2-007: two users, every memory path — selectors, services, search (even with the
other user's exact vector), the agent tools, the REST API and the admin — and user A never sees,
changes or learns of user B's memories. (The tools through a real chat turn join this test
with the chat turn's memory work.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from rest_framework.test import APIClient

from agents.runtime import execute_tool
from agents.tools import ToolContext, all_tools
from core.errors import NotFound
from memory import selectors, services
from memory.models import Insight, Preference
from providers.adapters.base import ToolCall

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]

SECRET = "Bob's safe code is 4471 and he hides it under the blue vase."


def tool(user: Any, name: str, arguments: dict[str, Any]) -> Any:
    context = ToolContext(user=user, conversation_id="", session_id="")
    call = ToolCall(call_id="c1", name=name, arguments=arguments)
    return async_to_sync(execute_tool)(call, all_tools(), context)


def test_user_a_never_sees_user_bs_memories_on_any_path(
    alice: Any, bob: Any, alice_api: APIClient, staff: Any
) -> None:
    bobs = services.insight_save(user=bob, content=SECRET, category="fact").insight
    services.preference_set(user=bob, key="vase_colour", value="blue")
    services.memory_settings_update(user=bob, auto_extract=False)
    alices = services.insight_save(user=alice, content="The user grows tomatoes.").insight
    bobs_vector = list(Insight.objects.get(pk=bobs.pk).embedding)

    # Selectors: lists, lookups, search by text and by bob's own vector.
    assert [i.pk for i in selectors.insight_list(user=alice)] == [alices.pk]
    with pytest.raises(NotFound):
        selectors.insight_get(user=alice, insight_id=bobs.pk)
    for results in (
        selectors.insight_search(user=alice, text=SECRET, k=100),
        selectors.insight_search(user=alice, vector=bobs_vector, k=100),
    ):
        assert [r.insight.pk for r in results] == [alices.pk]
    assert list(selectors.preference_list(user=alice)) == []
    with pytest.raises(NotFound):
        selectors.preference_get(user=alice, key="vase_colour")
    assert selectors.memory_settings_get(user=alice).auto_extract is True

    # Services: nothing of bob's can be changed, merged into, or used.
    with pytest.raises(NotFound):
        services.insight_update(user=alice, insight_id=bobs.pk, content="gone")
    with pytest.raises(NotFound):
        services.insight_delete(user=alice, insight_id=bobs.pk)
    with pytest.raises(NotFound):
        services.preference_delete(user=alice, key="vase_colour")
    assert services.insights_mark_used(user=alice, insight_ids=[bobs.pk]) == 0
    copied = services.insight_save(user=alice, content=SECRET)
    assert copied.created  # saved as alice's own; never merged into bob's
    services.insights_decay(user=alice)

    # Agent tools, bound to alice's session.
    found = tool(alice, "memory_search", {"query": "safe code under the vase", "k": 20})
    assert not found.is_error
    assert {r["id"] for r in json.loads(found.result)} == {alices.pk, copied.insight.pk}
    assert "vase_colour" not in tool(alice, "memory_get_preferences", {}).result

    # REST API.
    assert alice_api.get(f"/api/memory/insights/{bobs.pk}").status_code == 404
    listed = alice_api.get("/api/memory/insights").json()
    assert bobs.pk not in {r["id"] for r in listed["results"]}
    searched = alice_api.post(
        "/api/memory/insights/search", {"vector": bobs_vector, "k": 100}, format="json"
    ).json()
    assert bobs.pk not in {r["insight"]["id"] for r in searched["results"]}
    assert alice_api.get("/api/memory/preferences/vase_colour").status_code == 404
    assert "vase_colour" not in alice_api.get("/api/memory/preferences").content.decode()

    # Admin: only staff may open it at all.
    browser = Client()
    browser.force_login(alice)
    for url in (
        "/admin/memory/insight/",
        f"/admin/memory/insight/{bobs.pk}/change/",
        "/admin/memory/preference/",
    ):
        response = browser.get(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"]
    browser.force_login(staff)
    page = browser.get("/admin/memory/insight/")
    assert page.status_code == 200
    assert "4471" in page.content.decode()  # staff see everyone's, as documented

    # And bob's memories are exactly as he left them.
    row = Insight.objects.get(pk=bobs.pk)
    assert (row.content, row.use_count, row.user_id) == (SECRET, 0, bob.pk)
    assert Preference.objects.get(user=bob).value == "blue"
