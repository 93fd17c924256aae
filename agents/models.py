"""Agent configurations and chat sessions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class AgentConfig(models.Model):
    """A specialised agent: a system prompt, a default model, the tools it may use.

    ``owner`` is null for system agents, which every user sees; a user's own agents are
    visible to that user only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agents",
    )
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    system_prompt = models.TextField()
    default_provider = models.CharField(max_length=32, blank=True)
    default_model = models.CharField(max_length=128, blank=True)
    tool_allowlist = models.JSONField(default=list, blank=True)
    skills = models.JSONField(default=list, blank=True)
    # Declared specialisation (M4-011): {"domains": [...], "preferred_models": ["provider:model", ...]}
    capabilities = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "slug"], name="agent_unique_owner_slug"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(owner=None), name="agent_unique_system_slug"
            ),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_system(self) -> bool:
        return self.owner_id is None


class Session(models.Model):
    """One socket's binding of user, conversation, agent and model override, with metrics."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_sessions"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    agent_slug = models.SlugField(max_length=64, blank=True)
    # "provider:model" pinned with /model; empty means routing decides.
    model_override = models.CharField(max_length=200, blank=True)
    client = models.CharField(max_length=64, blank=True, help_text="The client's self-description.")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Metrics (M5-007)
    turns = models.IntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    model_switches = models.IntegerField(default=0)
    agent_switches = models.IntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    last_provider = models.CharField(max_length=32, blank=True)
    last_model = models.CharField(max_length=128, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-started_at"], name="session_user_recent")]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def duration_seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()
