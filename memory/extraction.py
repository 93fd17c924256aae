"""Automatic memory: the durable facts and preferences a user stated in a conversation, found by a
cheap model and saved with deduplication.

``insights_extract(user=, conversation_id=, complete=)`` reads the conversation's messages after
its ``ExtractionMark`` (so each stretch is read once), asks ``complete`` — the model call, passed
in from above: ``agents.completion.complete_sync`` asks routing's choice for a light task,
which the default rules send to the cheap tier — for JSON, and saves what comes back:
insights through ``insight_save`` (a near-duplicate updates the existing memory), preferences
through ``preference_set`` without overwriting a value the user set themselves. Items that fail
validation are counted and dropped, never half-saved. Nothing happens when the user turned
extraction off (``MemorySettings.auto_extract``).

A Redis key per user and conversation (``memory:extract:<user>:<conversation>``) keeps two runs
on the same conversation from overlapping; a run that finds it taken does nothing. Re-running
after a crash is harmless: the mark moves only at the end, and deduplication absorbs what the
interrupted run had already saved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from conversations import selectors as conversation_selectors
from conversations.models import Message
from core.errors import MosaicError
from memory import selectors, services
from memory.models import ExtractionMark, Insight, Preference

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger("mosaic.memory")

MAX_TRANSCRIPT_CHARS = 30_000
MAX_ITEMS = 10
LOCK_SECONDS = 600
# What the model call is routed as: a short extraction request lands on the cheap tier.
ROUTING_PROBE = "Extract the durable facts and preferences the user stated, as JSON."

EXTRACTION_PROMPT = """\
You find what is worth remembering about the USER in the conversation below, for future \
conversations. Keep only what the user said about themselves that will still be true next \
month: who they are, their work and projects, goals, people in their life, likes and dislikes, \
and how they want to be answered. Ignore the assistant's statements, general knowledge, \
passing requests and anything about other people's private lives beyond what the user needs.

Answer with JSON only, no prose:
{"insights": [{"content": "The user ...", "category": "fact|preference|goal|project|person|other", \
"importance": 0.0-1.0}],
 "preferences": [{"key": "language", "value": "French"}]}

Each insight is one short self-contained sentence in the third person. Preferences are settings \
with a short lowercase key (language, units, answer_style, timezone, ...). At most 10 of each. \
When there is nothing, answer {"insights": [], "preferences": []}."""

# (user, system prompt, text) -> the model's answer; raises when no model can answer.
Completion = Callable[["User", str, str], str]


@dataclass(frozen=True)
class ExtractionOutcome:
    skipped: str = ""  # why nothing was read ("disabled", "nothing new", "not idle", "busy")
    read_through: int = 0
    saved: int = 0
    merged: int = 0
    preferences: int = 0
    rejected: int = 0


def insights_extract(
    *,
    user: User,
    conversation_id: Any,
    complete: Completion,
    require_idle: bool = False,
) -> ExtractionOutcome:
    """Extract and save the user's durable facts and preferences from one of their
    conversations. ``require_idle`` skips a conversation with a message newer than
    ``MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS``."""
    if not selectors.memory_settings_get(user=user).auto_extract:
        return ExtractionOutcome(skipped="disabled")
    conversation = conversation_selectors.conversation_get(
        user=user, conversation_id=conversation_id
    )
    lock = f"memory:extract:{user.pk}:{conversation.pk}"
    if not cache.add(lock, 1, timeout=LOCK_SECONDS):
        return ExtractionOutcome(skipped="busy")
    try:
        return _extract(user, conversation.pk, require_idle, complete)
    finally:
        cache.delete(lock)


def _extract(
    user: User, conversation_id: Any, require_idle: bool, complete: Completion
) -> ExtractionOutcome:
    mark = ExtractionMark.objects.filter(user=user, conversation_id=conversation_id).first()
    through = mark.through_sequence if mark else 0
    rows = list(
        conversation_selectors.message_list(user=user, conversation_id=conversation_id)
        .filter(
            sequence__gt=through,
            role__in=[Message.Role.USER, Message.Role.ASSISTANT],
            status=Message.Status.COMPLETE,
        )
        .only("id", "sequence", "role", "content", "created_at")
    )
    if not rows:
        return ExtractionOutcome(skipped="nothing new", read_through=through)
    idle = timedelta(seconds=int(settings.MOSAIC_MEMORY_EXTRACT_IDLE_SECONDS))
    if require_idle and rows[-1].created_at > timezone.now() - idle:
        return ExtractionOutcome(skipped="not idle", read_through=through)
    last_user_message = next((r for r in reversed(rows) if r.role == Message.Role.USER), None)
    if last_user_message is None:
        outcome = ExtractionOutcome(read_through=rows[-1].sequence)
    else:
        reply = complete(user, EXTRACTION_PROMPT, transcript(rows))
        outcome = _save(user, conversation_id, last_user_message.pk, parse_reply(reply))
        outcome = ExtractionOutcome(**{**outcome.__dict__, "read_through": rows[-1].sequence})
    ExtractionMark.objects.update_or_create(
        user=user,
        conversation_id=conversation_id,
        defaults={"through_sequence": rows[-1].sequence},
    )
    logger.info(
        "memory extraction for conversation %s: %s saved, %s merged, %s preferences, %s rejected",
        conversation_id, outcome.saved, outcome.merged, outcome.preferences, outcome.rejected,
    )  # fmt: skip
    return outcome


def transcript(rows: list[Message]) -> str:
    lines = [f"{row.role.upper()}: {row.content.strip()}" for row in rows if row.content.strip()]
    text = "\n\n".join(lines)
    return text[-MAX_TRANSCRIPT_CHARS:]  # the most recent part of a very long stretch


@dataclass(frozen=True)
class Extracted:
    insights: list[dict[str, Any]]
    preferences: list[dict[str, Any]]


def parse_reply(reply: str) -> Extracted:
    """The model's JSON, tolerating a code fence or prose around it; anything unusable is an
    empty result (logged), not an error: extraction is best effort."""
    start, end = reply.find("{"), reply.rfind("}")
    try:
        data = json.loads(reply[start : end + 1]) if 0 <= start < end else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        logger.warning("memory extraction: the model's answer is not a JSON object: %.200r", reply)
        return Extracted([], [])

    def items(name: str) -> list[dict[str, Any]]:
        value = data.get(name)
        return (
            [i for i in value if isinstance(i, dict)][:MAX_ITEMS] if isinstance(value, list) else []
        )

    return Extracted(items("insights"), items("preferences"))


def _save(user: User, conversation_id: Any, message_id: Any, found: Extracted) -> ExtractionOutcome:
    saved = merged = preferences = rejected = 0
    for item in found.insights:
        category = item.get("category")
        if category not in Insight.Category.values:
            category = Insight.Category.OTHER
        importance = item.get("importance", 0.5)
        if isinstance(importance, int | float) and not isinstance(importance, bool):
            importance = min(1.0, max(0.0, float(importance)))
        try:
            result = services.insight_save(
                user=user,
                content=item.get("content"),
                category=category,
                importance=importance,
                source=Insight.Source.EXTRACTED,
                conversation_id=conversation_id,
                message_id=message_id,
            )
        except MosaicError as exc:
            rejected += 1
            logger.info("memory extraction: insight dropped: %s", exc.message)
            continue
        saved += result.created
        merged += not result.created
    for item in found.preferences:
        try:
            _, changed = services.preference_set(
                user=user,
                key=item.get("key"),
                value=item.get("value"),
                source=Preference.Source.EXTRACTED,
                keep_users_own=True,
            )
        except MosaicError as exc:
            rejected += 1
            logger.info("memory extraction: preference dropped: %s", exc.message)
            continue
        preferences += changed
    return ExtractionOutcome(saved=saved, merged=merged, preferences=preferences, rejected=rejected)
