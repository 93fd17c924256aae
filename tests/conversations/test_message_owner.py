"""Every message carries its conversation's owner, and nothing can make the two disagree."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from conversations import services
from conversations.models import Conversation, Message
from tests.conversations.factories import conversation_with


def test_every_write_path_stores_the_conversations_owner(alice: Any) -> None:
    conversation = conversation_with(alice, "first")
    services.messages_append(
        user=alice,
        conversation_id=conversation.pk,
        drafts=[services.MessageDraft(role="assistant", content="reply")],
    )
    # A row saved directly (the admin, another app's fixture) takes its conversation's owner.
    Message.objects.create(conversation=conversation, sequence=99, role="system", content="x")
    owners = set(Message.objects.filter(conversation=conversation).values_list("owner_id"))
    assert owners == {(alice.pk,)}
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_the_database_refuses_a_message_owned_by_someone_else(alice: Any, bob: Any) -> None:
    conversation = conversation_with(alice, "mine")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            conversation=conversation, owner=bob, sequence=2, role="user", content="planted"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(conversation=conversation).update(owner=bob)
    assert not Message.objects.filter(owner=bob).exists()


def test_a_conversation_given_to_another_user_takes_its_messages_along(
    alice: Any, bob: Any
) -> None:
    conversation = conversation_with(alice, "one", "two")
    Conversation.objects.filter(pk=conversation.pk).update(owner=bob)
    assert set(Message.objects.filter(conversation=conversation).values_list("owner_id")) == {
        (bob.pk,)
    }


def test_deleting_a_user_deletes_their_messages(alice: Any, bob: Any) -> None:
    conversation_with(alice, "alice's")
    conversation_with(bob, "bob's")
    alice.delete()
    assert list(Message.objects.values_list("content", flat=True)) == ["bob's"]


def test_the_migration_fills_in_the_owner_of_existing_messages(
    transactional_db: None, alice: Any, bob: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = MigrationExecutor(connection)
    before = [("conversations", "0001_initial")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldConversation = old.get_model("conversations", "Conversation")
    OldMessage = old.get_model("conversations", "Message")
    expected = {}
    for owner in (alice, bob, alice):
        conversation = OldConversation.objects.create(owner_id=owner.pk, last_sequence=2)
        for sequence in (1, 2):
            message = OldMessage.objects.create(
                conversation=conversation, sequence=sequence, role="user", content="old"
            )
            expected[message.pk] = owner.pk
    # Small batches, so that the test goes through more than one.
    migration = importlib.import_module("conversations.migrations.0002_message_owner")
    monkeypatch.setattr(migration, "BATCH_MESSAGES", 3)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert dict(Message.objects.values_list("pk", "owner_id")) == expected
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated FROM pg_constraint "
            "WHERE conname = 'message_owner_is_conversation_owner'"
        )
        assert cursor.fetchone() == (True,)
