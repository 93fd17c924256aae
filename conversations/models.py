"""Conversations and their messages: everything said, in order, owned by one user."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    # The agent by slug: conversations sit below agents and never import them.
    agent_slug = models.SlugField(max_length=64, blank=True)
    # The session currently bound to this conversation (M5-004).
    session_id = models.UUIDField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    # The last sequence number handed out; rows are numbered 1, 2, 3… without gaps or races.
    last_sequence = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "archived", "-updated_at"], name="conv_owner_recent")
        ]
        constraints = [
            # What the messages' composite foreign key (conversation, owner) points at.
            models.UniqueConstraint(fields=["id", "owner"], name="conversation_id_owner")
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        THINKING = "thinking"
        TOOL_CALL = "tool_call"
        TOOL_RESULT = "tool_result"
        SYSTEM = "system"
        CHECKPOINT = "checkpoint"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The conversation's owner, copied onto every row so that search finds one user's messages
    # through an index, without joining conversations. A composite foreign key (conversation_id,
    # owner_id) → conversation (id, owner_id), made by migration 0002, has PostgreSQL refuse a
    # row whose owner is not its conversation's and carry an owner change over: the copy cannot
    # disagree with the original. DO_NOTHING: the rows go with their conversations, which
    # cascade from the user (collecting them by owner would scan the table: no full index).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    sequence = models.IntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Tool calls and results.
    tool_call_id = models.CharField(max_length=128, blank=True)
    tool_name = models.CharField(max_length=128, blank=True)
    tool_arguments = models.JSONField(null=True, blank=True)
    is_error = models.BooleanField(default=False)
    # Who answered, and what it cost.
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=128, blank=True)
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField(null=True, blank=True)
    # Estimated tokens of this row in a context: summed to decide on checkpoints without
    # re-tokenising the history on every turn.
    token_estimate = models.IntegerField(default=0)
    # The routing decision that chose the model (a snapshot; the routing app keeps the record).
    routing = models.JSONField(null=True, blank=True)
    # Checkpoints: the range of sequence numbers the summary stands for.
    covers_from = models.IntegerField(null=True, blank=True)
    covers_to = models.IntegerField(null=True, blank=True)
    # Idempotency key from the client: a resend with the same id is not stored twice.
    client_id = models.CharField(max_length=64, blank=True)
    # Extra facts: thinking signature, error details, the checkpoint's kind.
    metadata = models.JSONField(default=dict, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sequence"], name="message_unique_sequence"
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="message_unique_client_id",
            ),
        ]
        indexes = [
            # Search's index, message_search_scoped (the searchable rows' words, owner and
            # time), is an expression over a SQL function: migration 0003 makes both. This one
            # is a user's searchable rows newest first, which a prefix search walks first.
            models.Index(
                fields=["owner", "-created_at", "-id"],
                condition=Q(role__in=("user", "assistant")),
                name="message_search_recent",
            ),
            models.Index(
                fields=["conversation", "-sequence"],
                condition=Q(role="checkpoint"),
                name="message_checkpoints",
            ),
        ]
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"{self.role} #{self.sequence}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # conversations.services sets the owner; a row saved directly (the admin, a test's
        # fixture) takes its conversation's, which the composite foreign key demands anyway.
        if self.owner_id is None and self.conversation_id is not None:
            self.owner_id = Conversation.objects.values_list("owner_id", flat=True).get(
                pk=self.conversation_id
            )
        super().save(*args, **kwargs)
