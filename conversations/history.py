"""The history a turn reads before it calls the model, kept in the process between turns.

Every turn reads its conversation's newest checkpoint and every row after it
(``selectors.context_messages``): a read that grows with the conversation, in PostgreSQL and in
decoding the rows here. Rows are written once: a message takes its number in the statement that
stores it (``services._append``), and a finished row never changes (only a row still streaming is
finished, or failed, and only by the turn that holds the conversation). So what was read of a
conversation up to a number stays true, with two exceptions: a row deleted (the admin can), and
a newer checkpoint, after which the context starts elsewhere.

``history_read`` therefore keeps, for each conversation it read lately, the read up to its
*mark*: the last number before the first row still streaming (and never past the conversation's
own last number, read first: every row numbered up to it is committed, as a number and its row
are written in one statement). The next read asks, in one round trip, for the rows after the
mark, the newest checkpoint's id and how many rows the kept part should have; if the checkpoint
is another or a row went away, it reads everything again. Reads inside a transaction neither
use nor keep anything (they may see rows that are then rolled back).

``MOSAIC_HISTORY_KEPT_CONVERSATIONS`` bounds how many conversations a process keeps (0: none),
``MOSAIC_HISTORY_KEPT_BYTES`` roughly how much memory (a row's text, and ``ROW_BYTES`` for the
rest of it); the least recently read go first.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import connection

from conversations.models import Message
from conversations.selectors import (
    _CHECKPOINT_ATTNAMES,
    _COLUMNS,
    _CONTEXT_JSON,
    _CONTEXT_SQL,
    _LAST_SEQUENCE_SQL,
    ContextRow,
    _as_uuid,
    _context_params,
    _context_result,
    _json_decoded,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class HistoryRead(NamedTuple):
    """``context_messages`` (with the rows still streaming) and the conversation's last sequence
    number, read before them: every row numbered up to it is among the rows (or covered by the
    checkpoint). None when the conversation is not the user's."""

    last_sequence: int | None
    checkpoint: Message | None
    rows: list[ContextRow]


@dataclass(frozen=True)
class _Kept:
    mark: int  # every row numbered up to it is in ``rows`` or covered by the checkpoint
    checkpoint_id: uuid.UUID | None
    checkpoint_values: list[Any] | None  # a fresh Message is built from them for each read
    covers_to: int  # the checkpoint's, or -1 without one
    rows: tuple[ContextRow, ...]
    size: int  # roughly, in bytes


class _KeptReads:
    """The kept reads of one process, least recently read first (any database thread reads)."""

    def __init__(self) -> None:
        self._reads: OrderedDict[tuple[int, uuid.UUID], _Kept] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, uuid.UUID]) -> _Kept | None:
        with self._lock:
            kept = self._reads.get(key)
            if kept is not None:
                self._reads.move_to_end(key)
            return kept

    def put(self, key: tuple[int, uuid.UUID], kept: _Kept | None) -> None:
        conversations = int(settings.MOSAIC_HISTORY_KEPT_CONVERSATIONS)
        budget = int(settings.MOSAIC_HISTORY_KEPT_BYTES)
        with self._lock:
            old = self._reads.pop(key, None)
            if old is not None:
                self._size -= old.size
            if kept is None or conversations <= 0 or kept.size > budget:
                return
            self._reads[key] = kept
            self._size += kept.size
            while len(self._reads) > conversations or self._size > budget:
                _, gone = self._reads.popitem(last=False)
                self._size -= gone.size

    def clear(self) -> None:
        with self._lock:
            self._reads.clear()
            self._size = 0


_kept = _KeptReads()
# What a kept row costs besides its text (its tuple, ids, strings and small dicts), roughly.
ROW_BYTES = 512

_FAILED = [Message.Status.FAILED]
_TABLE = Message._meta.db_table
# After the mark, in one round trip: the conversation's last number (and that it is the user's),
# the newest checkpoint's id with the count of rows the kept part stands for, and the new rows.
_MARK_CHECK_SQL = (
    "SELECT "  # noqa: S608 - our table
    f"(SELECT p.id FROM {_TABLE} p WHERE p.conversation_id = %s AND p.owner_id = %s "
    "AND p.role = %s ORDER BY p.sequence DESC LIMIT 1), "
    f"(SELECT count(*) FROM {_TABLE} k WHERE k.conversation_id = %s AND k.owner_id = %s "
    "AND k.sequence > %s AND k.sequence <= %s AND k.role <> %s AND NOT (k.status = ANY(%s)))"
)
_AFTER_MARK_ROWS_SQL = (
    "SELECT "  # noqa: S608 - our table and column names
    + ", ".join(f"m.{_COLUMNS[name]}" for name in ContextRow._fields)
    + f" FROM {_TABLE} m WHERE m.conversation_id = %s AND m.owner_id = %s AND m.sequence > %s "
    "AND m.role <> %s AND NOT (m.status = ANY(%s)) ORDER BY m.sequence"
)
_AFTER_MARK_SQL = f"{_LAST_SEQUENCE_SQL}; {_MARK_CHECK_SQL}; {_AFTER_MARK_ROWS_SQL}"


def history_read(*, user: User, conversation_id: Any) -> HistoryRead:
    """What ``context_messages(with_streaming=True)`` returns and the last sequence number before
    it, in one round trip: a turn reads this while the user's message is being stored, and uses
    it if nothing else was written since (``agents.turn``). From the kept read and the rows after
    its mark when this process read the conversation lately (the module docstring)."""
    conversation_uuid = _as_uuid(conversation_id)
    key = (user.pk, conversation_uuid)
    in_transaction = connection.in_atomic_block
    kept = None if in_transaction else _kept.get(key)
    read = _after_mark(user, conversation_uuid, kept) if kept is not None else None
    if read is None:
        read = _read_all(user, conversation_uuid)
    if not in_transaction:
        _kept.put(key, _keep(read))
    return read


def forget_all() -> None:
    """Drop every kept read (tests; a process that wants the memory back)."""
    _kept.clear()


def _read_all(user: User, conversation_uuid: uuid.UUID) -> HistoryRead:
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_LAST_SEQUENCE_SQL}; {_CONTEXT_SQL}",
            [conversation_uuid, user.pk, *_context_params(user, conversation_uuid, True)],
        )
        last = cursor.fetchone()
        cursor.nextset()
        checkpoint, rows = _context_result(cursor)
    return HistoryRead(last[0] if last is not None else None, checkpoint, rows)


def _after_mark(user: User, conversation_uuid: uuid.UUID, kept: _Kept) -> HistoryRead | None:
    """The read from ``kept`` and the rows after its mark; None if the kept part no longer
    holds (another checkpoint, a row gone)."""
    checkpoint_role = Message.Role.CHECKPOINT
    with connection.cursor() as cursor:
        cursor.execute(
            _AFTER_MARK_SQL,
            [
                *(conversation_uuid, user.pk),
                *(conversation_uuid, user.pk, checkpoint_role),
                *(conversation_uuid, user.pk, kept.covers_to, kept.mark, checkpoint_role, _FAILED),
                *(conversation_uuid, user.pk, kept.mark, checkpoint_role, _FAILED),
            ],
        )
        last = cursor.fetchone()
        if last is None:
            return None  # not the user's (or gone): the full read says so
        cursor.nextset()
        checkpoint_id, count = cursor.fetchone()
        if checkpoint_id != kept.checkpoint_id or count != len(kept.rows):
            return None
        cursor.nextset()
        after = [ContextRow(*_json_decoded(row, _CONTEXT_JSON)) for row in cursor.fetchall()]
    checkpoint = None
    if kept.checkpoint_values is not None:
        values = copy.deepcopy(kept.checkpoint_values)
        checkpoint = Message.from_db(connection.alias, _CHECKPOINT_ATTNAMES, values)
    return HistoryRead(last[0], checkpoint, [*kept.rows, *after])


def _keep(read: HistoryRead) -> _Kept | None:
    """What of ``read`` can be kept: the rows up to the last number it read first, and before
    the first row still streaming."""
    if read.last_sequence is None:
        return None
    mark = read.last_sequence
    for row in read.rows:
        if row.status == Message.Status.STREAMING:
            mark = min(mark, row.sequence - 1)
            break
    rows = tuple(row for row in read.rows if row.sequence <= mark)
    checkpoint = read.checkpoint
    return _Kept(
        mark=mark,
        checkpoint_id=checkpoint.pk if checkpoint is not None else None,
        checkpoint_values=(
            copy.deepcopy([getattr(checkpoint, name) for name in _CHECKPOINT_ATTNAMES])
            if checkpoint is not None
            else None
        ),
        covers_to=(
            checkpoint.covers_to
            if checkpoint is not None and checkpoint.covers_to is not None
            else -1
        ),
        rows=rows,
        size=sum(len(row.content) + ROW_BYTES for row in rows)
        + (len(checkpoint.content) + ROW_BYTES if checkpoint else 0),
    )
