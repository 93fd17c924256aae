"""What Mosaic remembers about each user: insights (free-text facts with an embedding) and
preferences (key/value), both owned by one user and visible and editable by that user only.

``Insight.embedding`` is a pgvector column whose size follows the configured embedding model
(384 for the bundled model, 768 for nomic-embed-text, …). The model field declares no size: the
database column carries it, and ``memory.space`` changes it (on an empty store, or through
``manage.py reembed``), which also rebuilds the HNSW index, and keeps the covering index of each
user's vectors (migration ``memory.0003``) only for a size that fits a B-tree entry.
``EmbeddingSpace`` records which model filled the column, so vectors of two models are never
mixed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField


class Source(models.TextChoices):
    """Who wrote a memory."""

    USER = "user"  # the user (API, admin, chat command)
    AGENT = "agent"  # an agent's memory tool
    EXTRACTED = "extracted"  # the extraction job, from a conversation


class Insight(models.Model):
    Source = Source

    class Category(models.TextChoices):
        FACT = "fact"  # about the user: name, job, where they live
        PREFERENCE = "preference"  # likes, dislikes, how they want things done
        GOAL = "goal"  # what they are working towards
        PROJECT = "project"  # ongoing work and its context
        PERSON = "person"  # people in the user's life or work
        OTHER = "other"

    class Tier(models.TextChoices):
        HOT = "hot"  # recent or recently used: offered to the model
        ARCHIVE = "archive"  # faded with disuse: still listed and searchable

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="insights"
    )
    content = models.TextField()
    embedding = VectorField()
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.FACT)
    importance = models.FloatField(default=0.5)  # 0..1; lowered by decay, raised by use
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.HOT)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.USER)
    # Where it was learnt. References by string: memory never imports the conversations models.
    source_conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    use_count = models.IntegerField(default=0)
    # Decay is applied from this moment on (see services.insights_decay): running it twice
    # never lowers importance twice for the same stretch of time.
    decayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="insight_user_recent"),
            models.Index(fields=["user", "category"], name="insight_user_category"),
            HnswIndex(
                name="insight_embedding_hnsw",
                fields=["embedding"],
                m=16,
                # 64 (pgvector's default) left the big user of bench_memory.py at recall 0.94
                # whatever ef_search; 128 gives 0.99 at the same search cost (performance.md).
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.content[:60]


class Preference(models.Model):
    Source = Source

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    key = models.CharField(max_length=64)
    value = models.TextField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.USER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="preference_unique_user_key")
        ]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key}={self.value[:40]}"


class MemorySettings(models.Model):
    """A user's switches; a user without a row has everything on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_settings"
    )
    # The extraction job reads the user's conversations for facts and preferences.
    auto_extract = models.BooleanField(default=True)
    # Relevant memories are added to what the model is sent on each turn.
    recall = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "memory settings"

    def __str__(self) -> str:
        return f"memory settings of {self.user_id}"


class ExtractionMark(models.Model):
    """How far extraction has read a conversation: only later messages are sent next time."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.OneToOneField(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    through_sequence = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.conversation_id} through #{self.through_sequence}"


class EmbeddingSpace(models.Model):
    """The one row saying which model's vectors fill ``Insight.embedding`` (and, during a
    ``reembed``, which model the shadow column ``embedding_next`` is being filled with)."""

    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    dims = models.IntegerField()
    next_provider = models.CharField(max_length=32, blank=True)
    next_model = models.CharField(max_length=200, blank=True)
    next_dims = models.IntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} ({self.dims})"

    @property
    def space(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def next_space(self) -> str:
        return f"{self.next_provider}:{self.next_model}" if self.next_model else ""
