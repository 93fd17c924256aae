"""Writes to a user's memories. Every function takes the acting user and touches only their rows.

Saving an insight embeds it first (outside any transaction: no lock is held while a model
runs), then, in one transaction under a per-user advisory lock, looks for the user's nearest
insight: one at least ``MOSAIC_MEMORY_DEDUP_THRESHOLD`` similar (cosine) is *updated* with the
new wording instead of a second row being added. The lock makes two concurrent saves of the
same fact (the extraction job and an agent's tool, say) end as one row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from conversations import selectors as conversation_selectors
from core.errors import InvalidInput, NotFound
from memory import space
from memory.models import Insight, MemorySettings, Preference
from memory.search import nearest
from memory.selectors import _as_id, check_category, insight_get, preference_get
from providers.embeddings import EmbeddingService

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_CONTENT_CHARS = 2000
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 1000
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
# Each use of an insight raises its importance by this much (up to 1).
USE_BOOST = 0.05


@dataclass(frozen=True)
class SavedInsight:
    insight: Insight
    created: bool  # False: a near-duplicate was updated instead
    similarity: float | None = None  # to the insight that was updated


def clean_content(content: Any) -> str:
    if not isinstance(content, str):
        raise InvalidInput("The insight must be text.")
    text: str = content.strip()
    if not text:
        raise InvalidInput("The insight is empty.")
    if len(text) > MAX_CONTENT_CHARS:
        raise InvalidInput(
            f"The insight is {len(text):,} characters long; the limit is {MAX_CONTENT_CHARS:,}."
        )
    if "\x00" in text:
        raise InvalidInput("The insight contains a NUL character.")
    return text


def clean_importance(importance: Any) -> float:
    if (
        isinstance(importance, bool)
        or not isinstance(importance, int | float)
        or not math.isfinite(importance)
        or not 0.0 <= importance <= 1.0
    ):
        raise InvalidInput("importance must be a number from 0 to 1.")
    return float(importance)


def _lock_user_memory(user: User) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('memory.insight'), %s)", [user.pk])


def _sources(user: User, conversation_id: Any, message_id: Any) -> tuple[Any | None, Any | None]:
    """The source conversation and message, only when they are the user's own."""
    if not conversation_id:
        return None, None
    conversation = conversation_selectors.conversation_get(
        user=user, conversation_id=conversation_id
    )
    message = None
    if message_id:
        message = (
            conversation_selectors.message_list(user=user, conversation_id=conversation.pk)
            .filter(pk=message_id)
            .only("id")
            .first()
        )
    return conversation, message


def insight_save(
    *,
    user: User,
    content: Any,
    category: str | None = Insight.Category.FACT,
    importance: Any = 0.5,
    source: str = Insight.Source.USER,
    conversation_id: Any = None,
    message_id: Any = None,
    service: EmbeddingService | None = None,
) -> SavedInsight:
    """Add an insight, or update the user's near-duplicate of it (see the module docstring)."""
    content = clean_content(content)
    category = check_category(category) or Insight.Category.FACT
    importance = clean_importance(importance)
    if source not in Insight.Source.values:
        raise InvalidInput(f"Unknown source {source!r}.")
    conversation, message = _sources(user, conversation_id, message_id)
    service = service or EmbeddingService.from_settings()
    vector = service.embed([content])[0]
    threshold = float(settings.MOSAIC_MEMORY_DEDUP_THRESHOLD)
    with transaction.atomic():
        space.lock_for_write(service)
        _lock_user_memory(user)
        found = nearest(user_id=user.pk, vector=vector, k=1).results
        if found and found[0].score >= threshold:
            existing = Insight.objects.select_for_update().get(pk=found[0].insight.pk, user=user)
            existing.content = content
            existing.embedding = vector
            existing.category = category
            existing.importance = max(existing.importance, importance)
            existing.tier = Insight.Tier.HOT
            if conversation is not None:
                existing.source_conversation = conversation
                existing.source_message = message
            existing.save()
            return SavedInsight(existing, created=False, similarity=found[0].score)
        insight = Insight.objects.create(
            user=user,
            content=content,
            embedding=vector,
            category=category,
            importance=importance,
            source=source,
            source_conversation=conversation,
            source_message=message,
        )
    return SavedInsight(insight, created=True)


def insight_update(
    *,
    user: User,
    insight_id: Any,
    content: Any = None,
    category: str | None = None,
    importance: Any = None,
    tier: str | None = None,
    service: EmbeddingService | None = None,
) -> Insight:
    """Edit one of the user's insights; a new wording is embedded again (no merging: an edit
    is the user's explicit wish)."""
    insight = insight_get(user=user, insight_id=insight_id)
    fields = ["updated_at"]
    vector = None
    if content is not None:
        new_content = clean_content(content)
        if new_content != insight.content:
            service = service or EmbeddingService.from_settings()
            vector = service.embed([new_content])[0]
            insight.content = new_content
            fields += ["content", "embedding"]
    if category is not None:
        insight.category = check_category(category) or insight.category
        fields.append("category")
    if importance is not None:
        insight.importance = clean_importance(importance)
        fields.append("importance")
    if tier is not None:
        if tier not in Insight.Tier.values:
            raise InvalidInput(f"Unknown tier {tier!r}; use hot or archive.")
        insight.tier = tier
        fields.append("tier")
    with transaction.atomic():
        if vector is not None:
            assert service is not None
            space.lock_for_write(service)
            insight.embedding = vector
        insight.save(update_fields=fields)
    return insight


def insight_delete(*, user: User, insight_id: Any) -> None:
    deleted, _ = Insight.objects.filter(user=user, pk=_as_id(insight_id, "Insight")).delete()
    if not deleted:
        raise NotFound("Insight not found.")


def insights_mark_used(*, user: User, insight_ids: Iterable[int]) -> int:
    """Record that these insights were offered to a model: they stay (or become) hot."""
    ids = [int(pk) for pk in insight_ids]
    if not ids:
        return 0
    return Insight.objects.filter(user=user, pk__in=ids).update(
        last_used_at=timezone.now(),
        use_count=F("use_count") + 1,
        importance=Least(F("importance") + Value(USE_BOOST), Value(1.0)),
        tier=Insight.Tier.HOT,
    )


@dataclass(frozen=True)
class DecayOutcome:
    decayed: int
    archived: int


def insights_decay(*, user: User, now: datetime | None = None) -> DecayOutcome:
    """Lower the importance of the user's insights by the time since each was last used (or
    decayed, or created): it halves every ``MOSAIC_MEMORY_HALF_LIFE_DAYS``. An insight that falls
    below ``MOSAIC_MEMORY_ARCHIVE_BELOW`` moves to the archive tier. Idempotent over time:
    each stretch of time lowers importance once, however often decay runs."""
    now = now or timezone.now()
    half_life = float(settings.MOSAIC_MEMORY_HALF_LIFE_DAYS) * 86400.0
    archive_below = float(settings.MOSAIC_MEMORY_ARCHIVE_BELOW)
    table = Insight._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH decayed AS (
                UPDATE {table} SET
                    importance = importance * power(0.5, extract(epoch FROM (%(now)s - greatest(
                        created_at, last_used_at, decayed_at))) / %(half_life)s),
                    decayed_at = %(now)s,
                    tier = CASE WHEN importance * power(0.5, extract(epoch FROM (%(now)s -
                        greatest(created_at, last_used_at, decayed_at))) / %(half_life)s)
                        < %(archive_below)s THEN 'archive' ELSE tier END
                WHERE user_id = %(user_id)s AND greatest(created_at, last_used_at, decayed_at)
                    < %(now)s
                RETURNING tier
            )
            SELECT count(*), count(*) FILTER (WHERE tier = 'archive') FROM decayed
            """,  # noqa: S608 - the table name is our model's
            {
                "now": now,
                "half_life": half_life,
                "archive_below": archive_below,
                "user_id": user.pk,
            },
        )
        row = cursor.fetchone()
    decayed, archived = (int(row[0]), int(row[1])) if row else (0, 0)
    return DecayOutcome(decayed, archived)


def insights_decay_all(now: datetime | None = None) -> int:
    """Decay every user's insights (the beat job): one scoped ``insights_decay`` per user that
    has any. The only cross-user read is the list of those users' ids."""
    owners = Insight.objects.values_list("user_id", flat=True).distinct()
    count = 0
    for user in get_user_model().objects.filter(pk__in=owners).iterator():
        insights_decay(user=user, now=now)
        count += 1
    return count


# --- preferences -----------------------------------------------------------------------------


def clean_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput("The preference key is empty.")
    cleaned: str = key.strip().lower()
    if len(cleaned) > MAX_KEY_CHARS or not KEY_PATTERN.match(cleaned):
        raise InvalidInput(
            f"The preference key {cleaned[:80]!r} must be at most {MAX_KEY_CHARS} characters of "
            "a-z, 0-9, '_', '.' or '-' (e.g. 'language' or 'answer_style')."
        )
    return cleaned


def clean_value(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput("The preference value must be text.")
    cleaned: str = value.strip()
    if not cleaned:
        raise InvalidInput("The preference value is empty.")
    if len(cleaned) > MAX_VALUE_CHARS or "\x00" in cleaned:
        raise InvalidInput(f"The preference value must be at most {MAX_VALUE_CHARS} characters.")
    return cleaned


def preference_set(
    *,
    user: User,
    key: Any,
    value: Any,
    source: str = Preference.Source.USER,
    keep_users_own: bool = False,
) -> tuple[Preference, bool]:
    """Set one preference; returns ``(preference, changed)``. With ``keep_users_own`` (the
    extraction job) a value the user set themselves is left as it is."""
    key, value = clean_key(key), clean_value(value)
    if source not in Preference.Source.values:
        raise InvalidInput(f"Unknown source {source!r}.")
    with transaction.atomic():
        existing = Preference.objects.select_for_update().filter(user=user, key=key).first()
        if existing is None:
            preference, created = Preference.objects.get_or_create(
                user=user, key=key, defaults={"value": value, "source": source}
            )
            if created:
                return preference, True
            existing = preference
        if keep_users_own and existing.source == Preference.Source.USER:
            return existing, False
        if existing.value == value:
            return existing, False
        existing.value, existing.source = value, source
        existing.save(update_fields=["value", "source", "updated_at"])
        return existing, True


def preference_delete(*, user: User, key: Any) -> None:
    preference_get(user=user, key=clean_key(key)).delete()


def memory_settings_update(
    *, user: User, auto_extract: bool | None = None, recall: bool | None = None
) -> MemorySettings:
    row, _ = MemorySettings.objects.get_or_create(user=user)
    if auto_extract is not None:
        row.auto_extract = auto_extract
    if recall is not None:
        row.recall = recall
    row.save()
    return row
