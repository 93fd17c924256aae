"""Insight search: by meaning, scored, only the acting user's rows, and complete — it returns
min(k, the user's matching rows) even for a user who owns a tiny share of a big table, where a
plain filtered HNSW scan comes back short."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from core.errors import InvalidInput
from memory import selectors, services, space
from memory.models import Insight
from memory.search import ef_search, nearest, vector_literal
from tests.memory.conftest import random_unit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_embeddings")]

SMALL_DIMS = 32  # the filtering behaviour does not depend on the size; building is faster


def test_search_finds_the_users_insight_by_meaning(alice: Any) -> None:
    for text in (
        "The user lives in Lisbon with two cats.",
        "The user is allergic to peanuts.",
        "The user works as a backend engineer using Go.",
    ):
        services.insight_save(user=alice, content=text)
    results = selectors.insight_search(user=alice, text="Which city is my home?", k=3)
    assert results[0].insight.content == "The user lives in Lisbon with two cats."
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert 0.0 < scores[0] <= 1.0
    only_food = selectors.insight_search(user=alice, text="food I must avoid", k=1)
    assert only_food[0].insight.content == "The user is allergic to peanuts."


def test_search_never_returns_another_users_insights(alice: Any, bob: Any) -> None:
    services.insight_save(user=bob, content="The user lives in Lisbon.")
    services.insight_save(user=alice, content="The user plays the cello.")
    results = selectors.insight_search(user=alice, text="Where does the user live?", k=10)
    assert [r.insight.content for r in results] == ["The user plays the cello."]
    assert {r.insight.user_id for r in results} == {alice.pk}


def test_min_score_and_category_narrow_the_results(alice: Any) -> None:
    services.insight_save(
        user=alice, content="The user loves hiking in the Alps.", category="preference"
    )
    services.insight_save(
        user=alice, content="The user is writing a thesis on glaciers.", category="project"
    )
    projects = selectors.insight_search(user=alice, text="mountains", k=5, category="project")
    assert [r.insight.category for r in projects] == ["project"]
    assert selectors.insight_search(user=alice, text="mountains", k=5, min_score=0.99) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"text": "x", "k": 0}, "k must be a whole number from 1 to 100"),
        ({"text": "x", "k": 10_000}, "k must be a whole number from 1 to 100"),
        ({"text": "x", "k": True}, "k must be"),
        ({"text": "x", "category": "gossip"}, "Unknown category 'gossip'"),
        ({"text": "   "}, "empty"),
        ({"text": "x" * 2001}, "longer than 2000"),
        ({}, "either a text or a vector"),
        ({"text": "x", "vector": [0.1] * 384}, "either a text or a vector"),
        ({"vector": [0.1] * 768}, "The vector has 768 dimensions; stored insights have 384"),
        ({"vector": []}, "non-empty list"),
        ({"vector": [0.1] * 383 + [float("inf")]}, "finite"),
    ],
)
def test_bad_search_input_is_a_clear_error(
    alice: Any, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        selectors.insight_search(user=alice, **arguments)


def test_a_small_users_vector_search_is_one_query(
    alice: Any, django_assert_num_queries: Any
) -> None:
    rng = random.Random(5)
    services.insight_save(user=alice, content="The user keeps bees.")
    query = random_unit(rng)
    with django_assert_num_queries(1):
        outcome = nearest(user_id=alice.pk, vector=query, k=5)
    assert outcome.strategy == "exact"
    assert len(outcome.results) == 1


# --- recall with many users ----------------------------------------------------------------


def _population(rng: random.Random) -> dict[str, Any]:
    """60 users with 25 insights each, one rare user with 8 (a third of 1 % of the table), one
    big user with 800 (a third), one user with 3; vectors of SMALL_DIMS dimensions."""
    with transaction.atomic():
        space._resize_column(SMALL_DIMS)  # the store is empty: any size may be chosen
    user_model = get_user_model()
    crowd = user_model.objects.bulk_create(
        user_model(username=f"crowd-{i}", password="!") for i in range(60)
    )
    rare, big, tiny = (
        user_model.objects.create(username=name, password="!") for name in ("rare", "big", "tiny")
    )
    owners = [u for u in crowd for _ in range(25)] + [rare] * 8 + [big] * 800 + [tiny] * 3
    rng.shuffle(owners)
    # Building the index once over all rows is far quicker than growing it row by row.
    with connection.schema_editor() as editor:
        editor.remove_index(Insight, space.hnsw_index())
    Insight.objects.bulk_create(
        Insight(user=owner, content=f"note {i}", embedding=random_unit(rng, SMALL_DIMS))
        for i, owner in enumerate(owners)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # DDL waits for no deferred FK check
    with connection.schema_editor() as editor:
        editor.add_index(Insight, space.hnsw_index())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memory_insight")
    return {"rare": rare, "big": big, "tiny": tiny, "crowd": crowd}


def _ids(outcome: Any) -> list[int]:
    return [r.insight.pk for r in outcome.results]


def _plain_hnsw(user_id: int, vector: list[float], k: int) -> list[int]:
    """pgvector's default behaviour (no iterative scan): the filter runs after the index has
    handed over its ef_search candidates. ``user_id + 0`` keeps the planner off the B-trees'
    conditions, and with sorting off it cannot read a whole B-tree and sort either."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        cursor.execute(
            "SELECT id FROM memory_insight WHERE user_id + 0 = %s "
            "ORDER BY embedding <=> %s::vector LIMIT %s",
            [user_id, vector_literal(vector), k],
        )
        return [row[0] for row in cursor.fetchall()]


def test_search_returns_k_rows_for_a_user_with_a_tiny_share_of_many_users_rows(
    settings: Any,
) -> None:
    rng = random.Random(42)
    people = _population(rng)
    settings.MOSAIC_MEMORY_EXACT_SCAN_ROWS = 100
    rare, big, tiny = people["rare"], people["big"], people["tiny"]
    queries = [random_unit(rng, SMALL_DIMS) for _ in range(10)]

    shortfalls = 0
    for query in queries:
        exact = _ids(nearest(user_id=rare.pk, vector=query, k=5, strategy="exact"))
        assert len(exact) == 5
        # The problem: a filtered HNSW scan without iterative scanning comes back short.
        shortfalls += len(_plain_hnsw(rare.pk, query, 5)) < 5
        # The fix, both ways: the iterative scan and the exact scan find all five.
        walked = _ids(nearest(user_id=rare.pk, vector=query, k=5, strategy="hnsw"))
        assert len(walked) == 5
        assert len(set(walked) & set(exact)) >= 4
        auto = nearest(user_id=rare.pk, vector=query, k=5)
        assert (auto.strategy, _ids(auto)) == ("exact", exact)
        # A user with fewer rows than k gets all of them.
        assert len(nearest(user_id=tiny.pk, vector=query, k=10).results) == 3
    assert shortfalls == len(queries), "the control should show the filtered-HNSW shortfall"

    recalls = []
    for query in queries:
        outcome = nearest(user_id=big.pk, vector=query, k=10)
        assert outcome.strategy == "hnsw"
        assert {r.insight.user_id for r in outcome.results} == {big.pk}
        exact = _ids(nearest(user_id=big.pk, vector=query, k=10, strategy="exact"))
        recalls.append(len(set(_ids(outcome)) & set(exact)) / 10)
    assert sum(recalls) / len(recalls) >= 0.95


def test_when_the_scan_bound_stops_the_walk_short_the_exact_scan_answers(
    settings: Any,
) -> None:
    rng = random.Random(7)
    people = _population(rng)
    settings.MOSAIC_MEMORY_EXACT_SCAN_ROWS = 5  # the rare user's 8 rows go to the index …
    settings.MOSAIC_MEMORY_HNSW_MAX_SCAN_TUPLES = 1  # … which gives up long before 8 match
    settings.MOSAIC_MEMORY_HNSW_EF_SEARCH = 16  # (the fewest it may keep for k = 8: 2k)
    query = random_unit(rng, SMALL_DIMS)
    rare = people["rare"]
    walked = nearest(user_id=rare.pk, vector=query, k=8, strategy="hnsw")
    assert len(walked.results) < 8
    outcome = nearest(user_id=rare.pk, vector=query, k=8)
    assert outcome.strategy == "exact"
    assert _ids(outcome) == _ids(nearest(user_id=rare.pk, vector=query, k=8, strategy="exact"))


def test_the_hnsw_walk_keeps_the_configured_candidates_and_never_fewer_than_2k(
    settings: Any,
) -> None:
    settings.MOSAIC_MEMORY_HNSW_EF_SEARCH = 400
    assert (ef_search(10), ef_search(300)) == (400, 600)
    settings.MOSAIC_MEMORY_HNSW_EF_SEARCH = 40
    assert ef_search(10) == 40


def _cosine(a: Any, b: Any) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return float(dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5))


def test_the_exact_search_computes_distances_from_the_covering_index_alone() -> None:
    """The exact path can read a user's vectors from the covering index alone (an index-only
    scan: nothing else of the row is needed until the k nearest are known; bench_memory.py shows
    the planner choosing it at a million rows) and answers exactly what a brute-force
    computation of every distance gives."""
    rng = random.Random(11)
    with transaction.atomic():
        space._resize_column(SMALL_DIMS)  # the store is empty; the covering index is rebuilt
    user_model = get_user_model()
    mine, theirs = (user_model.objects.create(username=n, password="!") for n in ("me", "other"))
    owners = [mine] * 200 + [theirs] * 400
    rng.shuffle(owners)
    Insight.objects.bulk_create(
        Insight(user=owner, content=f"note {i}", embedding=random_unit(rng, SMALL_DIMS))
        for i, owner in enumerate(owners)
    )
    query = random_unit(rng, SMALL_DIMS)
    truth = sorted(
        ((_cosine(query, row.embedding), row.pk) for row in Insight.objects.filter(user=mine)),
        reverse=True,
    )[:10]
    with CaptureQueriesContext(connection) as captured:
        outcome = nearest(user_id=mine.pk, vector=query, k=10)
    assert outcome.strategy == "exact"
    assert [r.insight.pk for r in outcome.results] == [pk for _, pk in truth]
    assert [r.score for r in outcome.results] == pytest.approx([s for s, _ in truth], abs=1e-5)

    (statement,) = captured.captured_queries
    with transaction.atomic(), connection.cursor() as cursor:
        # Leave the covering index as the only way to a user's rows other than reading the
        # whole table. PostgreSQL plans an index-only scan of an index that holds every column
        # a statement needs, and a plain index scan of none; so the plan below shows which.
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname <> %s "
            "AND indexdef LIKE %s",
            [Insight._meta.db_table, space.COVERING_INDEX, "%(user_id%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + statement["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    assert plan.count(f"Index Only Scan using {space.COVERING_INDEX}") == 2, plan
