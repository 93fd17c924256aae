"""/api/memory/: a user lists, searches, creates, edits and deletes their own insights, sets
preferences and switches; another user's objects answer 404; bad input answers 400 and
nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from memory import services
from memory.models import Insight, MemorySettings, Preference

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]

INSIGHTS = "/api/memory/insights"


def test_create_list_get_update_delete(alice_api: APIClient, alice: Any) -> None:
    created = alice_api.post(
        INSIGHTS,
        {"content": "The user runs a bakery in Ghent.", "category": "project", "importance": 0.8},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["content"] == "The user runs a bakery in Ghent."
    assert (body["category"], body["importance"], body["source"], body["merged"]) == (
        "project", 0.8, "user", False,
    )  # fmt: skip
    assert "embedding" not in body
    insight_id = body["id"]

    listed = alice_api.get(INSIGHTS).json()
    assert listed["count"] == 1
    assert [r["id"] for r in listed["results"]] == [insight_id]

    detail = alice_api.get(f"{INSIGHTS}/{insight_id}")
    assert detail.status_code == 200
    assert detail.json()["content"] == "The user runs a bakery in Ghent."

    patched = alice_api.patch(
        f"{INSIGHTS}/{insight_id}", {"content": "The user runs two bakeries."}, format="json"
    )
    assert patched.status_code == 200
    assert Insight.objects.get(pk=insight_id).content == "The user runs two bakeries."

    assert alice_api.delete(f"{INSIGHTS}/{insight_id}").status_code == 204
    assert not Insight.objects.filter(pk=insight_id).exists()
    assert alice_api.get(f"{INSIGHTS}/{insight_id}").status_code == 404


def test_posting_a_near_duplicate_updates_instead_of_adding(alice_api: APIClient) -> None:
    first = alice_api.post(INSIGHTS, {"content": "The user lives in Ghent."}, format="json")
    again = alice_api.post(INSIGHTS, {"content": "User lives in Ghent"}, format="json")
    assert again.status_code == 200
    assert again.json()["merged"] is True
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["similarity"] >= 0.9
    assert alice_api.get(INSIGHTS).json()["count"] == 1


def test_search_by_text_and_by_vector(alice_api: APIClient, alice: Any) -> None:
    services.insight_save(user=alice, content="The user is training for a marathon.")
    services.insight_save(user=alice, content="The user's daughter is called Ines.")
    by_text = alice_api.get(f"{INSIGHTS}/search", {"q": "running a race", "k": "1"})
    assert by_text.status_code == 200
    [hit] = by_text.json()["results"]
    assert hit["insight"]["content"] == "The user is training for a marathon."
    assert 0 < hit["score"] <= 1

    vector = list(Insight.objects.get(content__contains="Ines").embedding)
    by_vector = alice_api.post(
        f"{INSIGHTS}/search", {"vector": [float(x) for x in vector], "k": 2}, format="json"
    )
    assert by_vector.status_code == 200
    results = by_vector.json()["results"]
    assert results[0]["insight"]["content"] == "The user's daughter is called Ines."
    assert results[0]["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"content": ""}, "empty"),
        ({"content": "x" * 1_048_576}, "limit is 2,000"),
        ({"content": "ok", "category": "rumours"}, "Unknown category"),
        ({"content": "ok", "importance": 7}, "importance"),
        ({"content": "ok", "user": 2}, "Unknown field"),
        ({}, "required"),
    ],
)
def test_bad_insight_input_is_400_and_nothing_is_stored(
    alice_api: APIClient, payload: dict[str, Any], fragment: str
) -> None:
    response = alice_api.post(INSIGHTS, payload, format="json")
    assert response.status_code == 400
    assert fragment in response.content.decode()
    assert not Insight.objects.exists()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"text": "tea", "k": 0}, "k must be a whole number from 1 to 100"),
        ({"text": "tea", "k": 10_000}, "k must be a whole number from 1 to 100"),
        ({"vector": [0.5] * 12}, "The vector has 12 dimensions; stored insights have 384"),
        ({"text": "tea", "category": "rumours"}, "Unknown category"),
        ({"text": ""}, "empty"),
        ({"vector": "not a list"}, "list"),
    ],
)
def test_bad_search_input_is_400(
    alice_api: APIClient, payload: dict[str, Any], fragment: str
) -> None:
    response = alice_api.post(f"{INSIGHTS}/search", payload, format="json")
    assert response.status_code == 400
    assert fragment in response.content.decode()


def test_another_users_insight_answers_404_and_is_untouched(alice_api: APIClient, bob: Any) -> None:
    bobs = services.insight_save(user=bob, content="Bob's bank is in Zurich.").insight
    url = f"{INSIGHTS}/{bobs.pk}"
    assert alice_api.get(url).status_code == 404
    assert alice_api.patch(url, {"content": "mine now"}, format="json").status_code == 404
    assert alice_api.delete(url).status_code == 404
    assert alice_api.get(INSIGHTS).json()["count"] == 0
    assert alice_api.get(f"{INSIGHTS}/search", {"q": "Zurich bank"}).json()["results"] == []
    assert Insight.objects.get(pk=bobs.pk).content == "Bob's bank is in Zurich."


def test_preferences_set_read_and_delete(alice_api: APIClient, bob: Any) -> None:
    services.preference_set(user=bob, key="language", value="German")
    put = alice_api.put("/api/memory/preferences/Language", {"value": "French"}, format="json")
    assert put.status_code == 200
    assert put.json()["key"] == "language"
    listed = alice_api.get("/api/memory/preferences").json()
    assert [(p["key"], p["value"], p["source"]) for p in listed["results"]] == [
        ("language", "French", "user")
    ]
    assert alice_api.get("/api/memory/preferences/language").json()["value"] == "French"
    assert alice_api.delete("/api/memory/preferences/language").status_code == 204
    assert alice_api.get("/api/memory/preferences/language").status_code == 404
    assert Preference.objects.get(user=bob).value == "German"


@pytest.mark.parametrize(
    ("key", "payload", "fragment"),
    [
        ("language", {"value": ""}, "empty"),
        ("language", {"value": "x" * 1001}, "at most 1000"),
        ("bad key!", {"value": "x"}, "a-z, 0-9"),
        ("k" * 65, {"value": "x"}, "at most 64"),
        ("language", {"value": "x", "source": "agent"}, "Unknown field"),
    ],
)
def test_bad_preferences_are_400(
    alice_api: APIClient, key: str, payload: dict[str, Any], fragment: str
) -> None:
    response = alice_api.put(f"/api/memory/preferences/{key}", payload, format="json")
    assert response.status_code == 400
    assert fragment in response.content.decode()
    assert not Preference.objects.exists()


def test_the_switches_default_on_and_can_be_turned_off(alice_api: APIClient, alice: Any) -> None:
    assert alice_api.get("/api/memory/settings").json() == {"auto_extract": True, "recall": True}
    response = alice_api.patch("/api/memory/settings", {"auto_extract": False}, format="json")
    assert response.json() == {"auto_extract": False, "recall": True}
    assert MemorySettings.objects.get(user=alice).auto_extract is False


def test_the_api_needs_authentication() -> None:
    assert APIClient().get(INSIGHTS).status_code == 401
