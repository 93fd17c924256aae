"""What a turn reads before embedding the message (``selectors.recall_inputs``): the user's
switch, whether they have a hot insight, their preferences by key — one statement, the user's
own rows only."""

from __future__ import annotations

import random
from typing import Any

import pytest

from memory import selectors
from memory.models import Insight, MemorySettings, Preference
from tests.memory.conftest import random_unit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]


def _insight(user: Any, tier: str) -> Insight:
    return Insight.objects.create(
        user=user, content="note", embedding=random_unit(random.Random(1)), tier=tier
    )


def test_a_user_who_never_changed_anything_has_recall_on_and_nothing_to_offer(
    alice: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        inputs = selectors.recall_inputs(user=alice, max_preferences=30)
    assert inputs == selectors.RecallInputs(True, False, ())


def test_the_switch_hot_insights_and_preferences_are_the_users_own(alice: Any, bob: Any) -> None:
    MemorySettings.objects.create(user=bob, recall=False)
    _insight(bob, Insight.Tier.HOT)
    Preference.objects.create(user=bob, key="tone", value="terse")
    _insight(alice, Insight.Tier.ARCHIVE)  # archived insights are not offered
    assert selectors.recall_inputs(user=alice, max_preferences=30) == selectors.RecallInputs(
        True, False, ()
    )
    MemorySettings.objects.create(user=alice, recall=False)
    _insight(alice, Insight.Tier.HOT)
    assert selectors.recall_inputs(user=alice, max_preferences=30) == selectors.RecallInputs(
        False, True, ()
    )
    assert selectors.recall_inputs(user=bob, max_preferences=30) == selectors.RecallInputs(
        False, True, (("tone", "terse"),)
    )


def test_preferences_come_by_key_up_to_the_limit(alice: Any) -> None:
    for key, value in [("units", "metric"), ("language", "Basque"), ("tone", "warm, 'plain'")]:
        Preference.objects.create(user=alice, key=key, value=value)
    inputs = selectors.recall_inputs(user=alice, max_preferences=2)
    assert inputs.preferences == (("language", "Basque"), ("tone", "warm, 'plain'"))
    assert selectors.recall_inputs(user=alice, max_preferences=30).preferences[-1] == (
        "units",
        "metric",
    )
