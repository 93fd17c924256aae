"""Saving, editing and deleting insights: embedded with the configured model, merged with a
near-duplicate instead of stored twice, refused whole on bad input, never crossing users."""

from __future__ import annotations

import math
from typing import Any

import pytest

from core.errors import InvalidInput, NotFound
from memory import selectors, services
from memory.models import Insight
from providers import local_embedder

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]


def test_a_saved_insight_is_embedded_by_the_local_model(alice: Any) -> None:
    saved = services.insight_save(
        user=alice, content="Alice lives in Lyon.", category="fact", importance=0.7
    )
    assert saved.created
    row = Insight.objects.get(pk=saved.insight.pk)
    assert row.user == alice
    assert (row.content, row.category, row.importance, row.tier, row.source) == (
        "Alice lives in Lyon.", "fact", 0.7, "hot", "user",
    )  # fmt: skip
    assert len(row.embedding) == local_embedder.DIMS
    assert math.isclose(sum(float(x) ** 2 for x in row.embedding), 1.0, rel_tol=1e-4)


def test_a_near_duplicate_updates_the_existing_insight(alice: Any) -> None:
    first = services.insight_save(user=alice, content="The user lives in Paris.", importance=0.4)
    again = services.insight_save(user=alice, content="User lives in Paris", importance=0.8)
    assert not again.created
    assert again.insight.pk == first.insight.pk
    assert again.similarity is not None
    assert again.similarity >= 0.9
    row = Insight.objects.get(user=alice)
    assert row.content == "User lives in Paris"  # the newer wording wins
    assert row.importance == 0.8


def test_a_different_fact_is_a_new_insight(alice: Any) -> None:
    services.insight_save(user=alice, content="The user lives in Paris.")
    other = services.insight_save(user=alice, content="The user has a cat named Felix.")
    assert other.created
    assert Insight.objects.filter(user=alice).count() == 2


def test_deduplication_never_merges_into_another_users_insight(alice: Any, bob: Any) -> None:
    bobs = services.insight_save(user=bob, content="The user lives in Paris.")
    alices = services.insight_save(user=alice, content="The user lives in Paris.")
    assert alices.created
    assert alices.insight.pk != bobs.insight.pk
    assert Insight.objects.get(pk=bobs.insight.pk).user == bob


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content": ""}, "empty"),
        ({"content": "   \n"}, "empty"),
        ({"content": "x" * 1_000_000}, "limit is 2,000"),
        ({"content": "ok", "category": "secrets"}, "Unknown category 'secrets'"),
        ({"content": "ok", "importance": 1.5}, "importance"),
        ({"content": "ok", "importance": float("nan")}, "importance"),
        ({"content": 42}, "must be text"),
        ({"content": "nul\x00byte"}, "NUL"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    alice: Any, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        services.insight_save(user=alice, **fields)
    assert not Insight.objects.exists()


def test_an_edit_re_embeds_the_new_wording(alice: Any) -> None:
    saved = services.insight_save(user=alice, content="The user drinks tea.")
    before = list(Insight.objects.get(pk=saved.insight.pk).embedding)
    services.insight_update(
        user=alice, insight_id=saved.insight.pk, content="The user drinks coffee.", tier="archive"
    )
    row = Insight.objects.get(pk=saved.insight.pk)
    assert (row.content, row.tier) == ("The user drinks coffee.", "archive")
    assert list(row.embedding) != before


def test_another_users_insight_is_not_found_for_every_operation(alice: Any, bob: Any) -> None:
    bobs = services.insight_save(user=bob, content="Bob's secret plan.").insight
    with pytest.raises(NotFound):
        selectors.insight_get(user=alice, insight_id=bobs.pk)
    with pytest.raises(NotFound):
        services.insight_update(user=alice, insight_id=bobs.pk, content="hijacked")
    with pytest.raises(NotFound):
        services.insight_delete(user=alice, insight_id=bobs.pk)
    assert services.insights_mark_used(user=alice, insight_ids=[bobs.pk]) == 0
    row = Insight.objects.get(pk=bobs.pk)
    assert (row.content, row.use_count) == ("Bob's secret plan.", 0)


@pytest.mark.parametrize("insight_id", ["abc", "-1", "0", str(2**70), None])
def test_malformed_ids_are_not_found(alice: Any, insight_id: Any) -> None:
    with pytest.raises(NotFound):
        selectors.insight_get(user=alice, insight_id=insight_id)


def test_delete_removes_only_that_insight(alice: Any) -> None:
    keep = services.insight_save(user=alice, content="Keep: the user is a nurse.").insight
    drop = services.insight_save(user=alice, content="Drop: the user owns a boat.").insight
    services.insight_delete(user=alice, insight_id=drop.pk)
    assert list(Insight.objects.filter(user=alice).values_list("pk", flat=True)) == [keep.pk]


def test_the_list_is_the_users_own_newest_first(alice: Any, bob: Any) -> None:
    services.insight_save(user=alice, content="The user likes jazz.", category="preference")
    services.insight_save(user=bob, content="Bob likes opera.", category="preference")
    services.insight_save(user=alice, content="The user is learning Rust.", category="goal")
    rows = list(selectors.insight_list(user=alice))
    assert [r.content for r in rows] == ["The user is learning Rust.", "The user likes jazz."]
    assert [r.content for r in selectors.insight_list(user=alice, category="goal")] == [
        "The user is learning Rust."
    ]
    with pytest.raises(InvalidInput):
        selectors.insight_list(user=alice, category="nope")
