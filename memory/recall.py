"""What a chat turn remembers: the user's few insights most relevant to their message, and their
preferences, as a section of the system prompt marked as memory.

``recall_for_turn(user=, text=)`` never fails the turn. It reads the user's switch and
preferences first (one short database call): with ``recall`` off nothing is embedded and nothing
is offered. Then the message is embedded (in a thread of its own, so it runs while the gateway
reads the conversation's history) and searched among the user's *hot* insights; those scoring at
least ``MOSAIC_MEMORY_RECALL_MIN_SCORE`` (cosine) are offered, at most
``MOSAIC_MEMORY_RECALL_K``, and recorded as used (``insights_mark_used``). An embedder that is
down, slow (over ``MOSAIC_MEMORY_RECALL_TIMEOUT`` seconds), or filled the store with another
model's vectors only drops the insights from this turn: the preferences still go, and the
reason is logged and kept in ``Recall.skipped``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from core.db import commit_without_flush, in_database_thread
from core.errors import MosaicError
from memory import selectors, services, space
from memory.models import Insight
from memory.search import ScoredInsight
from providers.embeddings import EmbeddingService

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.memory")

MAX_PREFERENCES = 30
MAX_QUERY_CHARS = selectors.MAX_QUERY_CHARS
HEADING = "## Memory: what you know about the user"
PREAMBLE = (
    "From earlier conversations (Mosaic's memory of this user; they see and edit it with "
    "/memory). Use it where it helps; do not recite it."
)


@dataclass(frozen=True)
class Recall:
    """What this turn offers the model from memory (empty when nothing applies)."""

    insights: tuple[ScoredInsight, ...] = ()
    preferences: tuple[tuple[str, str], ...] = ()
    skipped: str = ""  # why no insights were searched: "off", "none", "embedder: ..."

    @property
    def used(self) -> int:
        """How many insights were offered (the route line's count)."""
        return len(self.insights)

    def system_section(self) -> str:
        """The memory section of the system prompt ("" when there is nothing to offer)."""
        if not self.insights and not self.preferences:
            return ""
        lines = [HEADING, PREAMBLE]
        if self.insights:
            lines.append("Facts:")
            lines += [f"- ({s.insight.category}) {s.insight.content}" for s in self.insights]
        if self.preferences:
            lines.append("Preferences:")
            lines += [f"- {key}: {value}" for key, value in self.preferences]
        return "\n".join(lines)

    def with_system_prompt(self, system_prompt: str) -> str:
        section = self.system_section()
        return f"{system_prompt}\n\n{section}".strip() if section else system_prompt


@dataclass(frozen=True)
class _Start:
    recall_on: bool
    preferences: tuple[tuple[str, str], ...] = ()
    service: EmbeddingService | None = None  # None: no insight to search for
    skipped: str = ""


def _start(user: User) -> _Start:
    """Everything read before the message is embedded, in one statement on a database thread (so
    that the embedding starts early, beside the turn's other reads)."""
    inputs = selectors.recall_inputs(user=user, max_preferences=MAX_PREFERENCES)
    if not inputs.recall_on:
        return _Start(False, skipped="off")
    preferences = inputs.preferences
    if not inputs.has_hot_insights:
        return _Start(True, preferences, skipped="none")
    try:
        service = EmbeddingService.from_settings()
        space.check_readable(service)  # another model's vectors: refuse rather than compare
    except MosaicError as exc:
        return _Start(True, preferences, skipped=f"embedder: {exc.message}")
    return _Start(True, preferences, service)


def _search_and_mark(user: User, vector: list[float]) -> tuple[ScoredInsight, ...]:
    found = selectors.insight_search(
        user=user,
        vector=vector,
        k=int(settings.MOSAIC_MEMORY_RECALL_K),
        tiers=[Insight.Tier.HOT],
        min_score=float(settings.MOSAIC_MEMORY_RECALL_MIN_SCORE),
    )
    if found:
        # Usage bookkeeping: losing it in a crash is harmless, waiting for the disk is not.
        with commit_without_flush():
            services.insights_mark_used(user=user, insight_ids=[s.insight.pk for s in found])
    return tuple(found)


async def recall_for_turn(*, user: User, text: str) -> Recall:
    """The memory to offer with ``text``, the user's message (see the module docstring)."""
    try:
        start = await in_database_thread(_start, user)
    except Exception:
        logger.warning("memory recall for user %s: reading memory failed", user.pk, exc_info=True)
        return Recall(skipped="error")
    if not start.recall_on:
        return Recall(skipped=start.skipped)
    query = text.strip()[:MAX_QUERY_CHARS]
    if start.service is None or not query:
        if start.skipped.startswith("embedder"):
            logger.warning("memory recall for user %s skipped: %s", user.pk, start.skipped)
        return Recall(preferences=start.preferences, skipped=start.skipped or "empty message")
    try:
        vectors = await asyncio.wait_for(
            start.service.aembed([query]), timeout=float(settings.MOSAIC_MEMORY_RECALL_TIMEOUT)
        )
        insights = await in_database_thread(_search_and_mark, user, vectors[0])
    except TimeoutError:
        logger.warning("memory recall for user %s: the embedder timed out", user.pk)
        return Recall(preferences=start.preferences, skipped="embedder: timed out")
    except Exception as exc:  # the turn goes on without insights, whatever went wrong
        logger.warning("memory recall for user %s skipped: %s", user.pk, exc, exc_info=True)
        return Recall(preferences=start.preferences, skipped=f"embedder: {exc}")
    return Recall(insights=insights, preferences=start.preferences)
