"""Written-out INSERTs for the rows a chat turn writes (its messages, its agent log).

``QuerySet.bulk_create`` compiles its statement on every call: for the two or three rows of a
turn that took longer in Python than PostgreSQL took to store them (docs/performance.md, "Turn
cost"). ``Insert`` builds the statement text once per model and row count and prepares each
value with the field's own ``pre_save`` and ``get_db_prep_save``, as ``bulk_create`` does: the
same values reach the same columns (``auto_now_add`` timestamps, JSON, UUIDs), and the rows come
back as saved model instances with their database-generated primary key.

A column may take its value through an SQL expression with one placeholder, which receives the
field's value (``expressions``; e.g. a foreign key written only if the row it names still
exists): such columns come back from the database, with the primary key, into the saved
instances. A statement may begin with a ``WITH`` clause those expressions read (``prefix``).

``run_together`` runs several statements (``Insert.bind`` gives one) in one round trip and one
transaction: a turn's accounting is three writes, which took eight round trips in a
transaction of their own (with a savepoint around the log).

Only for plain rows: no ``GeneratedField`` is written (PostgreSQL computes it), no signals are
sent (``bulk_create`` sends none either) and no conflict handling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Generic, NamedTuple, TypeVar

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


class Statement(NamedTuple):
    sql: str
    params: Sequence[Any]


def outside_transaction() -> bool:
    """Whether this thread's connection is in autocommit, outside any transaction: where
    ``run_together`` may run."""
    return connection.get_autocommit() and not connection.in_atomic_block


def run_together(statements: Sequence[Statement], *, wait_for_disk: bool = True) -> None:
    """Run ``statements`` in one round trip, as one transaction: PostgreSQL runs the statements
    of one query message as an implicit transaction, all or nothing (an error in any rolls back
    every one and raises here). ``wait_for_disk=False`` commits without waiting for the
    write-ahead log's flush (``core.db.commit_without_flush``). Only outside a transaction: in
    one, the statements would join it and an error would leave it aborted."""
    if not outside_transaction():
        raise RuntimeError("run_together runs its own transaction; call it outside one")
    parts = [] if wait_for_disk else [Statement("SET LOCAL synchronous_commit = off", ())]
    parts.extend(statements)
    with connection.cursor() as cursor:
        cursor.execute(
            "; ".join(part.sql for part in parts), [p for part in parts for p in part.params]
        )


class Insert(Generic[M]):
    """``INSERT INTO <table> (<every stored column>) VALUES … [RETURNING <the auto key and the
    columns set by expressions>]``."""

    def __init__(self, model: type[M], expressions: Mapping[str, str] | None = None) -> None:
        meta = model._meta
        auto = meta.auto_field
        expressions = expressions or {}
        self.fields: list[Field[Any, Any]] = [
            field
            for field in meta.concrete_fields
            if field is not auto and not getattr(field, "generated", False)
        ]
        unknown = set(expressions) - {field.name for field in self.fields}
        if unknown:
            raise ValueError(f"{model.__name__} has no stored field {', '.join(sorted(unknown))}")
        # Read back after the INSERT: the key PostgreSQL chose, and columns set by expressions.
        self.returned: list[Field[Any, Any]] = [
            *([auto] if auto is not None else []),
            *(field for field in self.fields if field.name in expressions),
        ]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in self.fields)
        self.head = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES "  # noqa: S608
        placeholders = (expressions.get(field.name, "%s") for field in self.fields)
        self.row = "(" + ", ".join(placeholders) + ")"
        returning = ", ".join(quote(field.column) for field in self.returned)
        self.tail = f" RETURNING {returning}" if returning else ""

    @cache  # noqa: B019 - one per model, kept for the process's life; a handful of row counts
    def statement(self, rows: int, prefix: str = "") -> str:
        return prefix + self.head + ", ".join([self.row] * rows) + self.tail

    def bind(
        self, objects: Sequence[M], *, prefix: str = "", prefix_params: Sequence[Any] = ()
    ) -> Statement:
        """The statement for ``objects`` and its parameters, to run here (``save``) or with
        others in one round trip (``run_together``)."""
        params: list[Any] = list(prefix_params)
        for obj in objects:
            for field in self.fields:
                params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
        return Statement(self.statement(len(objects), prefix), params)

    def save(
        self, objects: Sequence[M], *, prefix: str = "", prefix_params: Sequence[Any] = ()
    ) -> list[M]:
        """Insert ``objects`` in one statement (in the caller's transaction, if any)."""
        if not objects:
            return []
        sql, params = self.bind(objects, prefix=prefix, prefix_params=prefix_params)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if self.returned else [()] * len(objects)
        for obj, row in zip(objects, rows, strict=True):
            for field, value in zip(self.returned, row, strict=True):
                setattr(obj, field.attname, value)
            obj._state.adding = False
            obj._state.db = connection.alias
        return list(objects)
