"""Conversation REST API: owner only (others get 404), pagination, rename/archive/delete."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations import services
from conversations.models import Conversation, Message
from tests.conversations.factories import conversation_with


def test_list_is_own_conversations_newest_first_with_counts(
    alice: Any, bob: Any, alice_api: APIClient
) -> None:
    older = conversation_with(alice, "first", title="older")
    newer = conversation_with(alice, "one", "two", title="newer")
    conversation_with(bob, "bob's", title="bob's")
    response = alice_api.get("/api/conversations")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [c["id"] for c in body["results"]] == [str(newer.pk), str(older.pk)]
    assert body["results"][0]["message_count"] == 2


def test_list_query_count_is_bounded(alice: Any, alice_api: APIClient) -> None:
    for n in range(5):
        conversation_with(alice, f"message {n}", "another")
    with CaptureQueriesContext(connection) as queries:
        assert alice_api.get("/api/conversations").status_code == 200
    # auth token lookup, count, page: not one query per conversation
    assert len(queries) <= 5, [q["sql"] for q in queries]


def test_pagination(alice: Any, alice_api: APIClient) -> None:
    for n in range(3):
        conversation_with(alice, f"m{n}")
    page = alice_api.get("/api/conversations?page_size=2").json()
    assert len(page["results"]) == 2
    assert page["next"]
    assert len(alice_api.get(page["next"]).json()["results"]) == 1


def test_messages_are_paginated_in_order(alice: Any, alice_api: APIClient) -> None:
    conversation = conversation_with(alice, "a", "b", "c")
    body = alice_api.get(f"/api/conversations/{conversation.pk}/messages?page_size=2").json()
    assert [m["content"] for m in body["results"]] == ["a", "b"]
    assert body["count"] == 3


def test_rename_archive_and_delete(alice: Any, alice_api: APIClient) -> None:
    conversation = conversation_with(alice, "hello")
    renamed = alice_api.patch(
        f"/api/conversations/{conversation.pk}", {"title": "Renamed"}, format="json"
    )
    assert renamed.json()["title"] == "Renamed"
    alice_api.patch(f"/api/conversations/{conversation.pk}", {"archived": True}, format="json")
    assert alice_api.get("/api/conversations").json()["count"] == 0
    assert alice_api.get("/api/conversations?archived=true").json()["count"] == 1
    assert alice_api.delete(f"/api/conversations/{conversation.pk}").status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "", None),
        ("patch", "", {"title": "mine now"}),
        ("delete", "", None),
        ("get", "/messages", None),
    ],
)
def test_another_users_conversation_is_404_and_untouched(
    alice: Any, bob: Any, alice_api: APIClient, method: str, suffix: str, payload: Any
) -> None:
    bobs = conversation_with(bob, "secret plans", title="bob's")
    response = getattr(alice_api, method)(
        f"/api/conversations/{bobs.pk}{suffix}", payload, format="json"
    )
    assert response.status_code == 404
    assert "secret" not in response.content.decode()
    bobs.refresh_from_db()
    assert bobs.title == "bob's"


def test_unknown_and_malformed_ids_are_404(alice_api: APIClient) -> None:
    assert alice_api.get(f"/api/conversations/{uuid.uuid4()}").status_code == 404
    assert alice_api.get("/api/conversations/not-a-uuid").status_code == 404


def test_title_comes_from_the_first_message(alice: Any) -> None:
    conversation = conversation_with(alice, "How do I configure   pgvector\nwith Django?", "second")
    conversation.refresh_from_db()
    assert conversation.title == "How do I configure pgvector with Django?"


def test_idempotent_persist_returns_the_stored_row(alice: Any) -> None:
    conversation = services.conversation_create(user=alice)
    first, created = services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="x", client_id="k"
    )
    again, created_again = services.message_persist_user(
        user=alice, conversation_id=conversation.pk, content="x", client_id="k"
    )
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert Message.objects.filter(conversation=conversation).count() == 1
    conversation.refresh_from_db()
    assert conversation.last_sequence == 1  # the failed insert gave its number back
