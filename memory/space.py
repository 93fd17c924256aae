"""The vector column and the embedding model whose vectors fill it.

``Insight.embedding`` is created at 384 dimensions (the bundled model's size) by migration
``memory.0002``. Its size, and the model behind it, change in exactly two ways:

- **An empty store adopts the configured model.** The first insight saved on an installation with
  no insights sets the column to the configured model's size (one ``ALTER TABLE`` on an empty
  table, which also rebuilds the HNSW index; the covering index ``COVERING_INDEX`` is kept or
  dropped by the new size) and records the model in ``EmbeddingSpace``.
- **A store with insights is re-embedded** by ``manage.py reembed``: it adds a shadow column
  ``embedding_next`` of the new size, fills it in batches (each committed, so an interrupted run
  resumes where it stopped), builds its HNSW index (and its covering index when the size fits),
  then swaps column and indexes in one short transaction. Until the swap, search keeps using
  the old vectors.

Anything else that would put a vector of another model into the column is refused with an error
that says to run ``reembed``: vectors of two models are never compared, even when their sizes
match. Writers hold a share lock on the ``EmbeddingSpace`` row while they insert, and the swap an
exclusive one, so no insert can slip a vector of the old model into the new column.

These are installation-wide facts about the column, not anyone's memories: the only thing read
across users here is whether the table holds any row at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from pgvector.django import HnswIndex

from core.errors import Conflict, InvalidInput
from memory.models import EmbeddingSpace, Insight
from providers.embeddings import EmbeddingService

TABLE = Insight._meta.db_table
SHADOW = "embedding_next"
SHADOW_INDEX = "insight_embedding_next_hnsw"
# pgvector's HNSW index takes vectors of at most 2,000 dimensions.
MAX_INDEXED_DIMS = 2000
# Each user's ids, filters and vectors side by side in one B-tree: the exact search
# (memory/search.py) computes a user's distances from a few hundred adjacent index pages instead
# of from as many scattered table pages as the user has rows. A B-tree entry holds at most 2,704
# bytes; a vector of 512 dimensions takes 2,056 of them, so a larger model (nomic-embed-text's
# 768) goes without this index and the exact search reads the table.
COVERING_INDEX = "insight_user_vectors"
SHADOW_COVERING_INDEX = "insight_user_vectors_next"
COVERING_MAX_DIMS = 512


@dataclass(frozen=True)
class Space:
    space: str
    dims: int


def hnsw_index() -> HnswIndex:
    (index,) = (i for i in Insight._meta.indexes if isinstance(i, HnswIndex))
    return index


def column_dims(column: str = "embedding") -> int | None:
    """The size the database gives ``Insight.embedding`` (or the shadow column; None: no size
    or no such column)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            [TABLE, column],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] > 0 else None


def covering_index_sql(column: str, name: str, *, concurrently: bool = False) -> str:
    """The covering index of ``column`` (see ``COVERING_INDEX``)."""
    how = "CONCURRENTLY " if concurrently else ""
    return (
        f"CREATE INDEX {how}IF NOT EXISTS {name} ON {TABLE} (user_id) "
        f"INCLUDE (id, category, tier, {column})"
    )


def _index_ready(name: str) -> bool:
    """Whether the index exists and is usable. One left invalid by an interrupted
    ``CREATE INDEX CONCURRENTLY`` (a ``reembed`` stopped while building) is dropped, so that it
    is built again rather than swapped in as an index no query can use."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass(%s)", [name]
        )
        row = cursor.fetchone()
        if row is None:
            return False
        if not row[0]:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        return bool(row[0])


def store_is_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE})")  # noqa: S608 - our table
        row = cursor.fetchone()
    return bool(row and row[0])


def current() -> Space | None:
    """The model that filled the column, or None when no insight was ever written."""
    row = EmbeddingSpace.objects.order_by("pk").first()
    return Space(row.space, row.dims) if row else None


def _check_dims(dims: int) -> None:
    if dims > MAX_INDEXED_DIMS:
        raise InvalidInput(
            f"The embedding model gives {dims}-dimensional vectors; Mosaic's vector index takes "
            f"at most {MAX_INDEXED_DIMS}: choose a smaller model or set MOSAIC_EMBEDDING_DIMS "
            "to a size the model can shorten its vectors to."
        )


def _alter(*statements: str) -> None:
    """Run DDL on the insight table. Deferred foreign-key checks of rows written earlier in the
    same transaction are run first: PostgreSQL refuses DDL while any are pending."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for statement in statements:
            cursor.execute(statement)


def _resize_column(dims: int) -> None:
    """Give the (empty) column a new size; PostgreSQL rebuilds the HNSW index with it, and the
    covering index is kept only for a size its entries can hold."""
    _check_dims(dims)
    _alter(
        f"DROP INDEX IF EXISTS {COVERING_INDEX}",
        f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE vector({int(dims)})",
    )
    if dims <= COVERING_MAX_DIMS:
        _alter(covering_index_sql("embedding", COVERING_INDEX))


def _space_row(lock: str = "") -> EmbeddingSpace | None:
    table = EmbeddingSpace._meta.db_table
    rows = list(
        EmbeddingSpace.objects.raw(f"SELECT * FROM {table} ORDER BY id LIMIT 1 {lock}")  # noqa: S608
    )
    return rows[0] if rows else None


def _matches(row: EmbeddingSpace | None, service: EmbeddingService) -> bool:
    return row is not None and (row.space, row.dims) == (service.space, service.dims)


def lock_for_write(service: EmbeddingService) -> None:
    """Call inside the writer's transaction, before inserting vectors made by ``service``.

    The usual case takes a share lock on the space row, which only a ``reembed`` swap waits
    for. Otherwise (an empty store adopting a model, or a refusal) the writer takes the row's
    exclusive lock, behind a transaction-level advisory lock so that two such writers queue
    rather than deadlock.
    """
    assert connection.in_atomic_block, "lock_for_write belongs inside the writer's transaction"
    if _matches(_space_row(), service):
        row = _space_row("FOR SHARE")
        if not _matches(row, service):
            raise Conflict("The memory store's embedding model changed just now; try again.")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [TABLE])
        row = _adopt_or_refuse(service, _space_row("FOR UPDATE"))
    assert row is not None
    if row.next_model:
        raise Conflict(
            f"The memory store is being re-embedded with {row.next_space}; saving resumes when "
            "`manage.py reembed` has finished."
        )


def _adopt_or_refuse(service: EmbeddingService, row: EmbeddingSpace | None) -> EmbeddingSpace:
    if _matches(row, service):
        assert row is not None
        return row
    if store_is_empty():
        if column_dims() != service.dims:
            _resize_column(service.dims)
        if row is None:
            row = EmbeddingSpace(provider=service.provider, model=service.model, dims=service.dims)
        row.provider, row.model, row.dims = service.provider, service.model, service.dims
        row.next_provider, row.next_model, row.next_dims = "", "", None
        row.save()
        _drop_shadow()
        return row
    if row is not None and row.next_space == service.space:
        raise Conflict(
            f"The memory store is being re-embedded with {service.space}; saving resumes when "
            "`manage.py reembed` has finished."
        )
    stored = row.space if row else "an unrecorded model"
    dims = row.dims if row else column_dims()
    raise Conflict(
        f"The memory store holds vectors of {stored} ({dims} dimensions) but the configured "
        f"embedding model is {service.space} ({service.dims}): run `mosaic manage reembed` "
        "to re-embed the stored insights, or configure the previous model again."
    )


def check_readable(service: EmbeddingService) -> None:
    """Raise unless query vectors made by ``service`` can be compared with the stored ones."""
    stored = current()
    if stored is not None and (stored.space, stored.dims) != (service.space, service.dims):
        raise Conflict(
            f"The memory store holds vectors of {stored.space} ({stored.dims} dimensions), not of "
            f"the configured {service.space} ({service.dims}): run `mosaic manage reembed`."
        )


def check_vector(vector: Sequence[float]) -> None:
    """A vector given directly (the search API) must have the column's size."""
    dims = column_dims()
    if dims is not None and len(vector) != dims:
        raise InvalidInput(f"The vector has {len(vector)} dimensions; stored insights have {dims}.")


# --- re-embedding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReembedProgress:
    total: int
    done: int


def _shadow_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s "
            "AND NOT attisdropped",
            [TABLE, SHADOW],
        )
        return cursor.fetchone() is not None


def _drop_shadow() -> None:
    _alter(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {SHADOW}")


def reembed_start(service: EmbeddingService) -> bool:
    """Prepare to re-embed into ``service``'s space; False when there is nothing to do.

    Resumable: a shadow column already being filled for the same model is kept as it is.
    """
    _check_dims(service.dims)
    with transaction.atomic():
        row = EmbeddingSpace.objects.select_for_update().order_by("pk").first()
        target = (service.provider, service.model, service.dims)
        if row is not None and (row.provider, row.model, row.dims) == target:
            if row.next_model:  # an abandoned run for another model
                row.next_provider, row.next_model, row.next_dims = "", "", None
                row.save()
                _drop_shadow()
            return False
        if row is None:
            if store_is_empty():
                lock_for_write(service)  # adopts the model; nothing to re-embed
                return False
            row = EmbeddingSpace(provider="unknown", model="unknown", dims=column_dims() or 0)
        if (row.next_provider, row.next_model, row.next_dims) != target or not _shadow_exists():
            _drop_shadow()
            _alter(f"ALTER TABLE {TABLE} ADD COLUMN {SHADOW} vector({int(service.dims)})")
            row.next_provider, row.next_model, row.next_dims = target
            row.save()
    return True


def reembed_progress() -> ReembedProgress:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count({SHADOW}) FROM {TABLE}"  # noqa: S608
        )
        total, done = cursor.fetchone() or (0, 0)
    return ReembedProgress(int(total), int(done))


def reembed_batch(service: EmbeddingService, size: int) -> int:
    """Embed the next ``size`` insights that lack a new vector; returns how many were done.

    Each batch commits on its own: an interrupted run loses at most one batch of work.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, content FROM {TABLE} WHERE {SHADOW} IS NULL ORDER BY id LIMIT %s",  # noqa: S608
            [size],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0
    vectors = service.embed([content for _, content in rows])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {TABLE} SET {SHADOW} = %s::vector WHERE id = %s",  # noqa: S608
            [(_literal(vector), pk) for (pk, _), vector in zip(rows, vectors, strict=True)],
        )
    return len(rows)


def reembed_build_index() -> None:
    """Build the HNSW index (and, for a size that fits, the covering index) of the filled shadow
    column, before the swap: search keeps running on the old column meanwhile (and, outside a
    transaction, writes too: CONCURRENTLY)."""
    concurrently = not connection.in_atomic_block
    dims = column_dims(SHADOW)
    if dims is not None and dims <= COVERING_MAX_DIMS and not _index_ready(SHADOW_COVERING_INDEX):
        _alter(covering_index_sql(SHADOW, SHADOW_COVERING_INDEX, concurrently=concurrently))
    if _index_ready(SHADOW_INDEX):
        return
    index = hnsw_index()
    opclass = index.opclasses[0]
    how = "CONCURRENTLY " if concurrently else ""
    _alter(
        f"CREATE INDEX {how}{SHADOW_INDEX} ON {TABLE} USING hnsw ({SHADOW} {opclass}) "
        f"WITH ({', '.join(index.get_with_params())})"
    )


def reembed_finish(service: EmbeddingService) -> None:
    """Swap the shadow column and its index in, in one short transaction. The space row's
    exclusive lock waits for writers in flight, and new writers wait for the swap."""
    with transaction.atomic():
        row = EmbeddingSpace.objects.select_for_update().order_by("pk").first()
        if row is None or row.next_model != service.model:
            raise Conflict("No re-embedding with this model was started.")
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(
                f"SELECT count(*) FROM {TABLE} WHERE {SHADOW} IS NULL"  # noqa: S608
            )
            missing = (cursor.fetchone() or (0,))[0]
        if missing:
            raise Conflict(f"{missing} insights still lack a new vector; run reembed again.")
        # Dropping the old column drops its indexes too.
        _alter(
            f"ALTER TABLE {TABLE} DROP COLUMN embedding",
            f"ALTER TABLE {TABLE} RENAME COLUMN {SHADOW} TO embedding",
            f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET NOT NULL",
            f"ALTER INDEX {SHADOW_INDEX} RENAME TO {hnsw_index().name}",
            f"ALTER INDEX IF EXISTS {SHADOW_COVERING_INDEX} RENAME TO {COVERING_INDEX}",
        )
        row.provider, row.model, row.dims = service.provider, service.model, service.dims
        row.next_provider, row.next_model, row.next_dims = "", "", None
        row.save()


def reembed(
    service: EmbeddingService,
    *,
    batch_size: int,
    on_progress: Callable[[ReembedProgress], None] | None = None,
) -> ReembedProgress:
    """Re-embed every stored insight with ``service`` (see the module docstring)."""
    if not reembed_start(service):
        return ReembedProgress(0, 0)
    progress = reembed_progress()
    if on_progress:
        on_progress(progress)
    while done := reembed_batch(service, batch_size):
        progress = ReembedProgress(progress.total, min(progress.total, progress.done + done))
        if on_progress:
            on_progress(progress)
    reembed_build_index()
    reembed_finish(service)
    return progress


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"
