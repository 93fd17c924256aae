"""Benchmark: insight search filtered by user, and the local embedder.

Fills ``memory_insight`` of the embedded PostgreSQL in ``$MOSAIC_STATE_DIR`` (use a state
directory of its own: the table is emptied before and after) with synthetic 384-dimensional
unit vectors made from real all-MiniLM-L6-v2 embeddings of 4,000 generated sentences (see
``Data``),
builds the HNSW index, then times ``memory.search.nearest`` (the search every memory path uses)
for k = 10 and compares its results with an exact search over the same user's rows.

    MOSAIC_STATE_DIR=var/bench-memory nice -n 19 .venv/bin/python bench/bench_memory.py \\
        --rows 1000000 --layout both

Layouts: ``uniform`` spreads the rows evenly over ``--users`` (1,000) users; ``skewed`` gives one
of ``--skewed-users`` (100) users half the rows and spreads the rest over the others. For each:
the index build time and size, and for each strategy (``auto``: what Mosaic does; ``exact`` and
``hnsw`` forced; ``hnsw, no iterative scan``: pgvector's default behaviour, the control)
p50/p95/p99 latency and recall@10 against the exact answer. Then the local embedder's
throughput (texts per second in batches of 64) and one short query's latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_routing import django_with_services  # this folder is on the path of a script

DIMS = 384
K = 10


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1e3, 2)

    return {
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 2),
    }


SUBJECTS = [
    "The user", "My sister", "Our team", "The client", "My manager", "My doctor", "The landlord",
    "My son", "Our startup", "The neighbours", "My partner", "The research group",
    "My friend Sam", "The school", "Our band", "My grandmother", "The new hire", "The board",
    "My coach", "The cat",
]  # fmt: skip
VERBS = [
    "likes", "works on", "is learning", "plans to visit", "is allergic to", "prefers", "bought",
    "wrote about", "hates", "uses", "is worried about", "asked about", "recommended",
    "cancelled", "is saving for", "dreams of", "complained about", "fixed", "studies", "sells",
    "collects", "moved to", "volunteers at", "photographs", "cooks",
]  # fmt: skip
OBJECTS = [
    "PostgreSQL", "Rust", "the garden", "sourdough bread", "a trip to Japan", "peanuts",
    "dark mode", "a used Volvo", "the quarterly report", "jazz records", "Kubernetes",
    "the mortgage", "a marathon", "oil painting", "the wedding", "a new laptop", "tax returns",
    "Italian grammar", "the roof", "climbing shoes", "a podcast", "the API migration",
    "green tea", "the thesis", "vintage cameras", "a food truck", "the school play",
    "chess openings", "solar panels", "the budget", "a puppy", "French cheese", "the hospital",
    "Lisbon", "a vegetable patch", "React hooks", "the sales pipeline", "a birthday party",
    "insomnia", "the hiking trail", "piano lessons", "the data warehouse", "a leaking tap",
    "mountain bikes", "the election", "board games", "a violin", "the invoice", "knitting",
    "the kitchen renovation", "GraphQL", "a sailing course", "the dentist", "sushi", "a novel",
    "the backup server", "yoga", "the flight to Berlin", "a scholarship", "electric cars",
    "the football club", "spreadsheets", "a camping stove", "the museum", "machine learning",
    "a wine cellar", "the car insurance", "pottery", "the retirement plan", "a dog shelter",
    "the tax office", "bird watching", "a wedding speech", "the CI pipeline", "vegan recipes",
    "the lease", "a drone", "the allotment", "stand-up comedy", "the contract",
]  # fmt: skip
DETAILS = [
    "every weekend", "for the new project", "since 2019", "in Lyon", "with friends",
    "before the deadline", "on Tuesdays", "at night", "for the kids", "in the spring",
    "after work", "on a small budget", "for years", "next month", "with great care",
    "despite the cost", "at the office", "online", "in secret", "for the first time",
    "every morning", "during the holidays", "with the family", "near the river", "for a friend",
    "at the conference", "twice a year", "on the train", "in the evenings",
    "without telling anyone",
]  # fmt: skip


class Data:
    """Vectors in the space of real embeddings: each row is a real all-MiniLM-L6-v2 embedding
    of a generated sentence, mixed with a second one and some noise (so rows form a continuum
    around 4,000 sentences, as the memories of many users do); unit length."""

    BASES = 4000

    def __init__(self, seed: int, bases: Any) -> None:
        import numpy

        self.np = numpy
        self.rng = numpy.random.default_rng(seed)
        self.bases = bases

    @staticmethod
    def embed_bases(cache: Path) -> Any:
        import numpy

        if cache.exists():
            return numpy.load(cache)
        import random

        from providers.local_embedder import LocalEmbedder

        pick = random.Random(11)
        sentences = sorted(
            {
                f"{pick.choice(SUBJECTS)} {pick.choice(VERBS)} {pick.choice(OBJECTS)} "
                f"{pick.choice(DETAILS)}."
                for _ in range(Data.BASES * 2)
            }
        )[: Data.BASES]
        embedder = LocalEmbedder(threads=2)
        vectors = numpy.array(
            [
                v
                for i in range(0, len(sentences), 64)
                for v in embedder.embed(sentences[i : i + 64])
            ],
            dtype=numpy.float32,
        )
        numpy.save(cache, vectors)
        return vectors

    def vectors(self, n: int) -> Any:
        np = self.np
        first = self.bases[self.rng.integers(0, len(self.bases), n)]
        second = self.bases[self.rng.integers(0, len(self.bases), n)]
        noise = self.rng.standard_normal((n, DIMS)).astype(np.float32) * (0.3 / np.sqrt(DIMS))
        vectors = first + 0.3 * second + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_users(count: int) -> list[int]:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    existing = list(
        user_model.objects.filter(username__startswith="bench-memory-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    missing = count - len(existing)
    if missing > 0:
        created = user_model.objects.bulk_create(
            user_model(username=f"bench-memory-{len(existing) + i}", password="!")  # noqa: S106 - unusable
            for i in range(missing)
        )
        existing += [u.pk for u in created]
    return existing[:count]


def owners(layout: str, rows: int, users: list[int]) -> list[int]:
    """The user id of each row, in a shuffled order (rows of one user are not adjacent)."""
    import random

    if layout == "uniform":
        ids = [users[i % len(users)] for i in range(rows)]
    else:
        big, rest = users[0], users[1:]
        ids = [big] * (rows // 2) + [rest[i % len(rest)] for i in range(rows - rows // 2)]
    random.Random(7).shuffle(ids)
    return ids


def load(data: Data, row_owners: list[int]) -> float:
    """COPY the rows in (binary), without the HNSW index; returns seconds."""
    from django.db import connection
    from django.utils import timezone
    from pgvector.psycopg import register_vector

    from memory.space import hnsw_index

    connection.ensure_connection()
    raw = connection.connection
    register_vector(raw)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE memory_insight")
        cursor.execute(f"DROP INDEX IF EXISTS {hnsw_index().name}")
    now = timezone.now()
    start = time.perf_counter()
    chunk = 20_000
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY memory_insight (user_id, content, embedding, category, importance, tier, source, "
            "created_at, updated_at, use_count) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(
            ["int4", "text", "vector", "varchar", "float8", "varchar", "varchar",
             "timestamptz", "timestamptz", "int4"]
        )  # fmt: skip
        for offset in range(0, len(row_owners), chunk):
            block = data.vectors(min(chunk, len(row_owners) - offset))
            for i, vector in enumerate(block):
                copy.write_row(
                    (row_owners[offset + i], f"note {offset + i}", vector, "fact", 0.5, "hot",
                     "user", now, now, 0)
                )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memory_insight")
    return time.perf_counter() - start


def build_index() -> dict[str, float]:
    from django.db import connection

    from memory.models import Insight
    from memory.space import hnsw_index

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '4GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        with connection.schema_editor() as editor:
            editor.add_index(Insight, hnsw_index())
        seconds = time.perf_counter() - start
        cursor.execute(
            "SELECT pg_relation_size(%s), pg_total_relation_size('memory_insight')",
            [hnsw_index().name],
        )
        index_bytes, table_bytes = cursor.fetchone()
    return {
        "index_build_s": round(seconds, 1),
        "index_mb": round(index_bytes / 2**20, 1),
        "table_with_indexes_mb": round(table_bytes / 2**20, 1),
    }


def no_iterative_scan(user_id: int, vector: Any, k: int) -> list[int]:
    """pgvector's default behaviour: the index hands over ef_search rows, the filter drops the
    other users' ones."""
    from django.db import connection, transaction

    from memory.search import vector_literal

    literal = vector_literal(vector.tolist())
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute(
            "SELECT id FROM memory_insight WHERE user_id = %s "
            "ORDER BY embedding <=> %s::vector LIMIT %s",
            [user_id, literal, k],
        )
        return [row[0] for row in cursor.fetchall()]


def run_queries(
    label: str, queries: list[tuple[int, Any]], search: Callable[[int, Any], list[int]],
    truth: dict[int, list[int]],
) -> dict[str, Any]:  # fmt: skip
    for user_id, vector in queries[:5]:  # warm-up
        search(user_id, vector)
    samples, recalls, short = [], [], 0
    for index, (user_id, vector) in enumerate(queries):
        start = time.perf_counter()
        found = search(user_id, vector)
        samples.append(time.perf_counter() - start)
        expected = truth[index]
        recalls.append(len(set(found) & set(expected)) / max(1, len(expected)))
        short += len(found) < len(expected)
    return {
        "strategy": label,
        **percentiles_ms(samples),
        "recall_at_10": round(statistics.fmean(recalls), 4),
        "short_answers": short,
    }


def measure_layout(
    layout: str, rows: int, users: list[int], queries_per_class: int, bases: Any,
    *, ef_sweep: list[int], reuse: bool = False,
) -> dict[str, Any]:  # fmt: skip
    from django.test import override_settings

    from memory.search import nearest

    result: dict[str, Any] = {"layout": layout, "rows": rows, "users": len(users)}
    if reuse:
        print(f"[{layout}] measuring the rows a --keep run left", file=sys.stderr)
    else:
        data = Data(seed=1, bases=bases)
        row_owners = owners(layout, rows, users)
        print(f"[{layout}] loading {rows:,} rows over {len(users)} users …", file=sys.stderr)
        load_s = load(data, row_owners)
        print(f"[{layout}] loaded in {load_s:.0f} s; building the HNSW index …", file=sys.stderr)
        result["load_s"] = round(load_s, 1)
        result.update(build_index())
        print(f"[{layout}] index: {result}", file=sys.stderr)

    query_data = Data(seed=2, bases=bases)
    classes: dict[str, list[int]] = {}
    if layout == "uniform":
        classes[f"a user with {rows // len(users):,} rows"] = users
    else:
        classes[f"the user with {rows // 2:,} rows"] = users[:1]
        classes[f"a user with {(rows - rows // 2) // (len(users) - 1):,} rows"] = users[1:]
    import random

    pick = random.Random(3)
    result["classes"] = []
    for name, members in classes.items():
        vectors = query_data.vectors(queries_per_class)
        queries = [(pick.choice(members), vectors[i]) for i in range(queries_per_class)]

        def ids(user_id: int, vector: Any, strategy: Any = None) -> list[int]:
            outcome = nearest(user_id=user_id, vector=vector.tolist(), k=K, strategy=strategy)
            return [r.insight.pk for r in outcome.results]

        truth = {i: ids(u, v, "exact") for i, (u, v) in enumerate(queries)}
        for user_id, vector in queries:  # warm the caches on the index pages auto walks
            ids(user_id, vector)
        chosen = {nearest(user_id=u, vector=v.tolist(), k=K).strategy for u, v in queries[:20]}
        figures = [
            run_queries(f"auto ({'/'.join(sorted(chosen))})", queries, ids, truth),
            run_queries("exact", queries, lambda u, v: ids(u, v, "exact"), truth),
            run_queries("hnsw iterative", queries, lambda u, v: ids(u, v, "hnsw"), truth),
            run_queries(
                "hnsw, no iterative scan",
                queries,
                lambda u, v: no_iterative_scan(u, v, K),
                truth,
            ),
        ]
        if "hnsw" in chosen:
            for ef in ef_sweep:  # recall against cost of the walk, for the users it serves
                with override_settings(MOSAIC_MEMORY_HNSW_EF_SEARCH=ef):
                    figures.append(run_queries(f"auto, ef_search {ef}", queries, ids, truth))
        for line in figures:
            print(f"[{layout}] {name}: {line}", file=sys.stderr)
        result["classes"].append({"class": name, "figures": figures})
    return result


def measure_embedder(threads: int) -> dict[str, Any]:
    from providers.local_embedder import LocalEmbedder

    embedder = LocalEmbedder(threads)
    start = time.perf_counter()
    embedder.embed(["warm-up"])
    load_s = time.perf_counter() - start
    texts = [
        f"The user mentioned that project {i} uses PostgreSQL and prefers short answers "
        f"about topic {i % 17}."
        for i in range(512)
    ]
    start = time.perf_counter()
    for offset in range(0, len(texts), 64):
        embedder.embed(texts[offset : offset + 64])
    throughput = len(texts) / (time.perf_counter() - start)
    samples = []
    for i in range(100):
        start = time.perf_counter()
        embedder.embed([f"What did I say about my sister's wedding {i}?"])
        samples.append(time.perf_counter() - start)
    return {
        "threads": threads,
        "load_s": round(load_s, 2),
        "texts_per_s_batch64": round(throughput, 1),
        "one_query": percentiles_ms(samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000, help="users of the uniform layout")
    parser.add_argument("--skewed-users", type=int, default=100)
    parser.add_argument(
        "--layout",
        choices=["uniform", "skewed", "both", "none"],
        default="both",
        help="none: only the embedder",
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per class of user")
    parser.add_argument(
        "--ef-search",
        default="40,80,160",
        help="hnsw.ef_search values to measure for users served by the HNSW path",
    )
    parser.add_argument("--skip-embedder", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the rows in the table")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the rows and index a --keep run of one layout left (implies --keep)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    results: dict[str, Any] = {"layouts": []}
    with django_with_services():
        from django.conf import settings
        from django.db import connection

        from memory.models import Insight
        from memory.space import hnsw_index

        results["exact_scan_rows"] = settings.MOSAIC_MEMORY_EXACT_SCAN_ROWS
        results["max_scan_tuples"] = settings.MOSAIC_MEMORY_HNSW_MAX_SCAN_TUPLES
        results["ef_search"] = settings.MOSAIC_MEMORY_HNSW_EF_SEARCH
        layouts = {"both": ["uniform", "skewed"], "none": []}.get(args.layout, [args.layout])
        ef_sweep = [int(ef) for ef in args.ef_search.split(",") if ef]
        from mosaic.local import state_dir

        bases = Data.embed_bases(state_dir() / "bench-memory-bases.npy")
        users = make_users(max(args.users if "uniform" in layouts else 0, args.skewed_users))
        try:
            for layout in layouts:
                count = args.users if layout == "uniform" else args.skewed_users
                results["layouts"].append(
                    measure_layout(
                        layout,
                        args.rows,
                        users[:count],
                        args.queries,
                        bases,
                        ef_sweep=ef_sweep,
                        reuse=args.reuse,
                    )
                )
        finally:
            if not (args.keep or args.reuse):
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE memory_insight")
                    cursor.execute("VACUUM memory_insight")
                    index = hnsw_index()
                    cursor.execute("SELECT to_regclass(%s)", [index.name])
                    if cursor.fetchone()[0] is None:
                        with connection.schema_editor() as editor:
                            editor.add_index(Insight, index)
        if not args.skip_embedder:
            results["embedder"] = [measure_embedder(1), measure_embedder(2)]
    print(json.dumps(results, indent=2 if not args.json else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
