"""Decay: an insight's importance halves with each half-life of disuse, and one that fades
below the floor moves to the archive tier; using it brings it back. Scoped to one user, and
idempotent over time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from memory import services, tasks
from memory.models import Insight

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]


def aged(user: Any, content: str, days: float, importance: float = 0.8) -> Insight:
    insight = services.insight_save(user=user, content=content, importance=importance).insight
    Insight.objects.filter(pk=insight.pk).update(created_at=timezone.now() - timedelta(days=days))
    return insight


def test_importance_halves_per_half_life_of_disuse(alice: Any, settings: Any) -> None:
    settings.MOSAIC_MEMORY_HALF_LIFE_DAYS = 30
    old = aged(alice, "The user once lived in Oslo.", days=30)
    fresh = aged(alice, "The user just adopted a dog.", days=0)
    outcome = services.insights_decay(user=alice)
    assert outcome.decayed == 2
    assert Insight.objects.get(pk=old.pk).importance == pytest.approx(0.4, rel=1e-3)
    assert Insight.objects.get(pk=fresh.pk).importance == pytest.approx(0.8, rel=1e-3)


def test_running_decay_twice_lowers_importance_once(alice: Any, settings: Any) -> None:
    settings.MOSAIC_MEMORY_HALF_LIFE_DAYS = 30
    old = aged(alice, "The user once lived in Oslo.", days=60)
    now = timezone.now()
    services.insights_decay(user=alice, now=now)
    services.insights_decay(user=alice, now=now)
    assert Insight.objects.get(pk=old.pk).importance == pytest.approx(0.2, rel=1e-3)
    services.insights_decay(user=alice, now=now + timedelta(days=30))
    assert Insight.objects.get(pk=old.pk).importance == pytest.approx(0.1, rel=1e-3)


def test_a_faded_insight_is_archived_and_use_brings_it_back(alice: Any, settings: Any) -> None:
    settings.MOSAIC_MEMORY_HALF_LIFE_DAYS = 10
    settings.MOSAIC_MEMORY_ARCHIVE_BELOW = 0.1
    faded = aged(alice, "The user liked a band in 2009.", days=40, importance=0.8)
    outcome = services.insights_decay(user=alice)
    assert outcome.archived == 1
    row = Insight.objects.get(pk=faded.pk)
    assert row.tier == "archive"
    assert row.importance == pytest.approx(0.05, rel=1e-3)
    services.insights_mark_used(user=alice, insight_ids=[faded.pk])
    row = Insight.objects.get(pk=faded.pk)
    assert (row.tier, row.use_count) == ("hot", 1)
    assert row.importance == pytest.approx(0.1, rel=1e-3)


def test_decay_touches_only_the_given_user(alice: Any, bob: Any) -> None:
    bobs = aged(bob, "Bob once lived in Oslo.", days=300)
    services.insights_decay(user=alice)
    row = Insight.objects.get(pk=bobs.pk)
    assert (row.importance, row.tier, row.decayed_at) == (0.8, "hot", None)


def test_the_beat_task_decays_every_user_with_insights(alice: Any, bob: Any, charlie: Any) -> None:
    aged(alice, "The user once lived in Oslo.", days=300)
    aged(bob, "Bob once lived in Rome.", days=300)
    assert tasks.decay_insights() == 2
    assert Insight.objects.filter(decayed_at__isnull=False).count() == 2
    assert "memory: decay insights" in tasks.beat_schedule()
