"""Reads of a user's memories. Every function takes the acting user and filters by it first:
another user's insight or preference is "not found", exactly like one that does not exist."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import QuerySet

from core.errors import InvalidInput, NotFound
from memory import space
from memory.models import Insight, MemorySettings, Preference
from memory.search import ScoredInsight, nearest
from providers.embeddings import EmbeddingService

if TYPE_CHECKING:
    from django.contrib.auth.models import User

MAX_K = 100
MAX_QUERY_CHARS = 2000


def _as_id(value: Any, what: str) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise NotFound(f"{what} not found.") from None
    if number <= 0 or number >= 2**63:
        raise NotFound(f"{what} not found.")
    return number


def check_category(category: str | None) -> str | None:
    if category in (None, ""):
        return None
    if category not in Insight.Category.values:
        raise InvalidInput(
            f"Unknown category {category!r}; use one of {', '.join(Insight.Category.values)}."
        )
    return category


def insight_get(*, user: User, insight_id: Any) -> Insight:
    try:
        return Insight.objects.defer("embedding").get(user=user, pk=_as_id(insight_id, "Insight"))
    except Insight.DoesNotExist:
        raise NotFound("Insight not found.") from None


def insight_list(
    *,
    user: User,
    category: str | None = None,
    tier: str | None = None,
    source: str | None = None,
) -> QuerySet[Insight]:
    """The user's insights, newest first (the API pages through it)."""
    rows = Insight.objects.filter(user=user).defer("embedding")
    if category := check_category(category):
        rows = rows.filter(category=category)
    if tier:
        if tier not in Insight.Tier.values:
            raise InvalidInput(f"Unknown tier {tier!r}; use hot or archive.")
        rows = rows.filter(tier=tier)
    if source:
        if source not in Insight.Source.values:
            raise InvalidInput(
                f"Unknown source {source!r}; use one of {', '.join(Insight.Source.values)}."
            )
        rows = rows.filter(source=source)
    return rows.order_by("-created_at", "-pk")


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be a whole number from 1 to {MAX_K}.")
    return int(k)


def check_vector(vector: Any) -> list[float]:
    if not isinstance(vector, list | tuple) or not vector:
        raise InvalidInput("The vector must be a non-empty list of numbers.")
    if not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in vector
    ):
        raise InvalidInput("The vector must contain only finite numbers.")
    values = [float(x) for x in vector]
    space.check_vector(values)
    return values


def insight_search(
    *,
    user: User,
    text: str | None = None,
    vector: Sequence[float] | None = None,
    k: int = 5,
    category: str | None = None,
    tiers: Sequence[str] | None = None,
    min_score: float | None = None,
    service: EmbeddingService | None = None,
) -> list[ScoredInsight]:
    """Up to ``k`` of the user's insights nearest to ``text`` (embedded here) or ``vector``,
    best first, each with its cosine similarity; ``min_score`` drops weaker matches."""
    check_k(k)
    category = check_category(category)
    if (text is None) == (vector is None):
        raise InvalidInput("Search with either a text or a vector.")
    if text is not None:
        text = text.strip()
        if not text:
            raise InvalidInput("The search text is empty.")
        if len(text) > MAX_QUERY_CHARS:
            raise InvalidInput(f"The search text is longer than {MAX_QUERY_CHARS} characters.")
        service = service or EmbeddingService.from_settings()
        space.check_readable(service)
        query = service.embed([text])[0]
    else:
        query = check_vector(vector)
    results = nearest(user_id=user.pk, vector=query, k=k, category=category, tiers=tiers).results
    if min_score is not None:
        results = [r for r in results if r.score >= min_score]
    return results


def preference_list(*, user: User) -> QuerySet[Preference]:
    return Preference.objects.filter(user=user).order_by("key")


def preference_get(*, user: User, key: str) -> Preference:
    try:
        return Preference.objects.get(user=user, key=str(key).strip().lower())
    except Preference.DoesNotExist:
        raise NotFound("Preference not found.") from None


def memory_settings_get(*, user: User) -> MemorySettings:
    """The user's switches (an unsaved all-on row when they never changed them)."""
    found = MemorySettings.objects.filter(user=user).first()
    return found or MemorySettings(user=user)


@dataclass(frozen=True, slots=True)
class RecallInputs:
    """What a chat turn reads before embedding the user's message (``memory.recall``)."""

    recall_on: bool
    has_hot_insights: bool
    preferences: tuple[tuple[str, str], ...]  # (key, value), by key


_RECALL_INPUTS_SQL = (
    f"SELECT COALESCE((SELECT recall FROM {MemorySettings._meta.db_table} WHERE user_id = %s), "  # noqa: S608 - our tables
    "true), "
    f"EXISTS (SELECT 1 FROM {Insight._meta.db_table} WHERE user_id = %s AND tier = %s), "
    f"ARRAY(SELECT ARRAY[key, value] FROM {Preference._meta.db_table} WHERE user_id = %s "
    "ORDER BY key LIMIT %s)"
)


def recall_inputs(*, user: User, max_preferences: int) -> RecallInputs:
    """The user's recall switch (on without a settings row), whether they have any hot insight,
    and their first ``max_preferences`` preferences by key: one statement, since it runs before
    every turn (three ORM queries cost about 2.7 ms of CPU here, this one a fraction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _RECALL_INPUTS_SQL,
            [user.pk, user.pk, Insight.Tier.HOT, user.pk, int(max_preferences)],
        )
        row = cursor.fetchone()
    assert row is not None
    recall_on, has_hot, pairs = row
    return RecallInputs(bool(recall_on), bool(has_hot), tuple((k, v) for k, v in pairs or ()))
