"""Nearest insights of one user, by cosine similarity, always filtered by that user.

An HNSW index finds the nearest vectors of the whole table; with ``WHERE user_id = …`` it used
to return too few rows, because the index hands over ``hnsw.ef_search`` (40) candidates and the
filter then drops the other users' ones. Two ways around it, chosen per query:

- **exact**: when the user (and category) has at most ``MOSAIC_MEMORY_EXACT_SCAN_ROWS`` insights,
  every distance is computed from the covering index of the user's vectors (an index-only scan
  of ``memory.space.COVERING_INDEX``, or their rows when the column is too wide for it) and the
  k nearest rows are then read. Recall is 1 by construction, and for a few thousand rows it is
  faster than the graph walk.
- **hnsw**: otherwise, the HNSW index: first a plain scan (a user with a large share of the
  table finds k rows among the first ``ef_search`` candidates, the cheapest case); when that
  comes back short, pgvector 0.8's iterative scan (``hnsw.iterative_scan = relaxed_order``)
  walks on until ``k`` rows pass the filter or ``hnsw.max_scan_tuples`` candidates were seen,
  re-sorted by distance. If the bound stops it short of ``k`` rows, the exact scan answers
  instead, so a search always returns ``min(k, the user's matching rows)``.

One statement counts the user's rows up to the threshold (a bounded, index-only count) and,
when they are that few, answers exactly in the same statement: a typical user's search is one
round trip, without a transaction. Only the HNSW path opens one, for its ``SET LOCAL``s. The
measured trade-off is in docs/performance.md (bench/bench_memory.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction

from memory.models import Insight

TABLE = Insight._meta.db_table
# Everything but the vector: results never carry 1.5 kB of floats they do not need.
_FIELDS = [f for f in Insight._meta.concrete_fields if f.name != "embedding"]
FIELD_NAMES = [f.attname for f in _FIELDS]
COLUMNS = ", ".join(f.column for f in _FIELDS)
QUALIFIED = ", ".join(f"i.{f.column}" for f in _FIELDS)

Strategy = Literal["exact", "hnsw"]


@dataclass(frozen=True)
class ScoredInsight:
    insight: Insight
    score: float  # cosine similarity, -1..1 (1: same direction)


@dataclass(frozen=True)
class SearchOutcome:
    results: list[ScoredInsight]
    strategy: Strategy


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def nearest(
    *,
    user_id: int,
    vector: Sequence[float],
    k: int,
    category: str | None = None,
    tiers: Sequence[str] | None = None,
    strategy: Strategy | None = None,
) -> SearchOutcome:
    """The ``k`` insights of ``user_id`` nearest to ``vector`` (``strategy`` forces a path;
    for benchmarks and tests)."""
    where = ["user_id = %s"]
    params: list[Any] = [user_id]
    if category:
        where.append("category = %s")
        params.append(category)
    if tiers:
        where.append("tier = ANY(%s)")
        params.append(list(tiers))
    condition = " AND ".join(where)
    query = vector_literal(vector)
    threshold = int(settings.MOSAIC_MEMORY_EXACT_SCAN_ROWS)
    if strategy != "hnsw":
        # One statement: the bounded count, and the exact answer when the count allows it.
        limit = None if strategy == "exact" else threshold
        rows, results = _count_and_exact(condition, params, query, k, limit)
        if strategy == "exact" or rows <= threshold:
            return SearchOutcome(results, "exact")
    else:
        rows = k
    wanted = min(k, rows)
    with transaction.atomic(), connection.cursor() as cursor:
        # enable_sort = off: the planner would otherwise pick the B-tree on user_id plus a sort
        # when it believes the user's rows are few; this path was chosen because they are not.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search(k)}; SET LOCAL enable_sort = off")
        # First the plain scan: for a user with a large share of the table the ef_search
        # candidates already hold k of theirs, and this is the cheapest walk (bench_memory.py).
        sql = (
            f"SELECT * FROM (SELECT {COLUMNS}, embedding <=> %s::vector AS distance "  # noqa: S608
            f"FROM {TABLE} WHERE {condition} ORDER BY embedding <=> %s::vector LIMIT %s) AS f "
            "ORDER BY distance"
        )
        cursor.execute(sql, [query, *params, query, k])
        results = _scored(cursor.fetchall())
        if len(results) < wanted:
            # Too few of theirs among the candidates: walk on (iterative scan) until k pass
            # the filter or the bound is reached; relaxed_order's rows are re-sorted above.
            cursor.execute(
                "SET LOCAL hnsw.iterative_scan = relaxed_order; "
                "SET LOCAL hnsw.max_scan_tuples = "
                f"{int(settings.MOSAIC_MEMORY_HNSW_MAX_SCAN_TUPLES)}"
            )
            cursor.execute(sql, [query, *params, query, k])
            results = _scored(cursor.fetchall())
        # A caller's own transaction (a save's deduplication) goes on after this.
        cursor.execute("SET LOCAL enable_sort = on; SET LOCAL hnsw.iterative_scan = off")
    if len(results) >= wanted or strategy == "hnsw":
        return SearchOutcome(results, "hnsw")
    # The scan bound stopped the walk short of k rows (a user with a tiny share of a huge
    # table): answer exactly rather than with too few.
    return SearchOutcome(_count_and_exact(condition, params, query, k, None)[1], "exact")


def ef_search(k: int) -> int:
    """The HNSW walk's candidate list: the configured size, and never fewer than 2k."""
    return max(int(settings.MOSAIC_MEMORY_HNSW_EF_SEARCH), 2 * int(k))


def _count_and_exact(
    condition: str, params: list[Any], query: str, k: int, limit: int | None
) -> tuple[int, list[ScoredInsight]]:
    """``(rows, results)``: the user's matching rows counted up to ``limit + 1`` (a bounded,
    index-only count), and, when there are at most ``limit`` of them (or ``limit`` is None),
    the exact nearest ``k``.

    The distances are computed from the covering index (``memory.space.COVERING_INDEX``: the
    user's ids, filters and vectors on adjacent pages, an index-only scan) and only the ``k``
    nearest rows are then read from the table; without the index (a model of more than
    ``COVERING_MAX_DIMS`` dimensions) the same statement reads the user's rows from the table.
    "+ 0" keeps the planner off the HNSW index: this ordering is computed, not walked."""
    bound = 2**62 if limit is None else limit
    sql = (
        f"WITH n AS (SELECT count(*) AS rows FROM (SELECT 1 FROM {TABLE} WHERE {condition} "  # noqa: S608
        "LIMIT %s) AS mine), "
        f"nearest AS (SELECT id, embedding <=> %s::vector AS distance FROM {TABLE}, n "
        f"WHERE {condition} AND n.rows <= %s ORDER BY (embedding <=> %s::vector) + 0 LIMIT %s) "
        f"SELECT n.rows, r.* FROM n LEFT JOIN LATERAL (SELECT {QUALIFIED}, nearest.distance "
        f"FROM nearest JOIN {TABLE} AS i ON i.id = nearest.id) AS r ON true ORDER BY r.distance"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, bound + 1, query, *params, bound, query, k])
        fetched = cursor.fetchall()
    rows = int(fetched[0][0]) if fetched else 0
    found = [row[1:] for row in fetched if row[1] is not None]
    return rows, _scored(found)


def _scored(fetched: Sequence[Sequence[object]]) -> list[ScoredInsight]:
    """Model instances from rows of ``COLUMNS`` + distance (the vector stays deferred)."""
    db = connection.alias
    return [
        ScoredInsight(
            Insight.from_db(db, FIELD_NAMES, row[:-1]),
            1.0 - float(row[-1]),  # type: ignore[arg-type]
        )
        for row in fetched
    ]
