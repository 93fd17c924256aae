"""Writes to conversations and messages. Every function takes the acting user and scopes by it.

Sequence numbers are handed out by an ``UPDATE … RETURNING`` on the conversation row in the
same statement (appends) or transaction (checkpoints) as the INSERT, so concurrent writers (two
sockets, two processes) never collide and a failed insert gives its numbers back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction

from conversations.models import Conversation, Message
from conversations.selectors import _as_uuid, conversation_get, message_find_by_client_id
from conversations.tokens import estimate_tokens
from core.errors import InvalidInput, NotFound
from core.sql import Insert

if TYPE_CHECKING:
    from django.contrib.auth.models import User

TITLE_LENGTH = 80
CLIENT_ID_LENGTH = 64

# Appending rows is one written-out statement (core/sql.py), not compiled per call: it reserves
# their numbers on the conversation row, which also checks that the conversation is the user's
# (no row reserved: each row's sequence is NULL, and the INSERT fails), and inserts the rows
# numbered from there; a row's ``sequence`` field holds its distance from the last number.
_RESERVE = (
    f"WITH reserved AS (UPDATE {Conversation._meta.db_table} "  # noqa: S608 - our table's name
    "SET last_sequence = last_sequence + %s, updated_at = clock_timestamp(), "
    "title = CASE WHEN title = '' THEN %s ELSE title END "
    "WHERE id = %s AND owner_id = %s RETURNING last_sequence) "
)
_INSERT_MESSAGES = Insert(
    Message, expressions={"sequence": "(SELECT last_sequence FROM reserved) - %s"}
)
NOT_NULL_VIOLATION = "23502"


@dataclass
class MessageDraft:
    """A message to append; ``id`` may be chosen in advance (streamed rows are announced first)."""

    role: str
    content: str = ""
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = Message.Status.COMPLETE
    tool_call_id: str = ""
    tool_name: str = ""
    tool_arguments: dict[str, Any] | None = None
    is_error: bool = False
    provider: str = ""
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: int | None = None
    routing: dict[str, Any] | None = None
    covers_from: int | None = None
    covers_to: int | None = None
    client_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def conversation_create(*, user: User, title: str = "", agent_slug: str = "") -> Conversation:
    return Conversation.objects.create(
        owner=user, title=title[:TITLE_LENGTH], agent_slug=agent_slug
    )


def conversation_update(
    *, user: User, conversation_id: Any, title: str | None = None, archived: bool | None = None
) -> Conversation:
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    if title is not None:
        conversation.title = title.strip()[:200]
    if archived is not None:
        conversation.archived = archived
    conversation.save(update_fields=["title", "archived", "updated_at"])
    return conversation


def conversation_bind(
    *, user: User, conversation_id: Any, session_id: uuid.UUID, agent_slug: str | None = None
) -> None:
    updates: dict[str, Any] = {"session_id": session_id}
    if agent_slug is not None:
        updates["agent_slug"] = agent_slug
    if not Conversation.objects.filter(pk=_as_uuid(conversation_id), owner=user).update(**updates):
        raise NotFound("Conversation not found.")


def conversation_delete(*, user: User, conversation_id: Any) -> None:
    conversation_get(user=user, conversation_id=conversation_id).delete()


def _reserve_sequences(
    *, user: User, conversation_id: uuid.UUID, count: int, title: str = ""
) -> int:
    """Reserve ``count`` sequence numbers; returns the first. Also titles an untitled conversation."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Conversation._meta.db_table} "  # noqa: S608 - table name from our model
            "SET last_sequence = last_sequence + %s, updated_at = clock_timestamp(), "
            "title = CASE WHEN title = '' THEN %s ELSE title END "
            "WHERE id = %s AND owner_id = %s RETURNING last_sequence",
            [count, title, conversation_id, user.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Conversation not found.")
    return int(row[0]) - count + 1


def _title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def message_persist_user(
    *, user: User, conversation_id: Any, content: str, client_id: str = ""
) -> tuple[Message, bool]:
    """Store the user's message first, before anything else can fail; idempotent on client_id.

    Returns ``(message, created)``; a resend with a known ``client_id`` returns the stored row.
    """
    if len(client_id) > CLIENT_ID_LENGTH:
        raise InvalidInput(f"client_id must be at most {CLIENT_ID_LENGTH} characters.")
    conversation_uuid = _as_uuid(conversation_id)
    draft = MessageDraft(role=Message.Role.USER, content=content, client_id=client_id)
    try:
        with _savepoint_if_nested():
            (message,) = _append(
                user=user,
                conversation_id=conversation_uuid,
                drafts=[draft],
                title=_title_from(content),
            )
    except IntegrityError:
        existing = message_find_by_client_id(
            user=user, conversation_id=conversation_uuid, client_id=client_id
        )
        if existing is None:
            raise
        return existing, False
    return message, True


def messages_append(
    *, user: User, conversation_id: Any, drafts: Sequence[MessageDraft]
) -> list[Message]:
    """Append rows in order, atomically (one statement reserves the numbers and inserts)."""
    if not drafts:
        return []
    with _savepoint_if_nested():
        return _append(user=user, conversation_id=_as_uuid(conversation_id), drafts=drafts)


def _savepoint_if_nested() -> AbstractContextManager[Any]:
    """An append is one statement, atomic by itself: outside a transaction it needs none (no
    BEGIN and COMMIT round trips); inside one, a savepoint keeps a failed append (a resent
    ``client_id``) from breaking the caller's transaction."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def checkpoint_append(
    *,
    user: User,
    conversation_id: Any,
    content: str,
    covers_from: int,
    covers_to: int,
    metadata: dict[str, Any],
) -> tuple[Message, bool]:
    """Append a checkpoint standing for messages ``covers_from``..``covers_to``; returns
    ``(checkpoint, created)``.

    Never two checkpoints for one position, and never one that covers less than an earlier one:
    the sequence reservation locks the conversation row, and under that lock a checkpoint that
    already covers ``covers_to`` (written meanwhile by the background job or by a turn's
    fallback) is returned instead, with ``created`` False and nothing written.
    """
    conversation_uuid = _as_uuid(conversation_id)
    draft = MessageDraft(
        role=Message.Role.CHECKPOINT,
        content=content,
        covers_from=covers_from,
        covers_to=covers_to,
        metadata=metadata,
    )
    with transaction.atomic():
        first = _reserve_sequences(user=user, conversation_id=conversation_uuid, count=1)
        existing = (
            Message.objects.filter(
                conversation_id=conversation_uuid,
                role=Message.Role.CHECKPOINT,
                covers_to__gte=covers_to,
            )
            .order_by("-sequence")
            .first()
        )
        if existing is not None:
            transaction.set_rollback(True)  # gives the reserved number back
            return existing, False
        (row,) = Message.objects.bulk_create(
            [_row(draft, conversation_uuid, first, owner_id=user.pk)]
        )
    return row, True


# What a later write of a message already stored (a reply saved while it streamed) may change.
_UPDATABLE = (
    "content",
    "status",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "routing",
    "metadata",
    "provider",
    "model",
    "token_estimate",
)


def messages_upsert(
    *, user: User, conversation_id: Any, drafts: Sequence[MessageDraft]
) -> list[Message]:
    """Like ``messages_append``, but a draft whose id is already stored in the conversation
    updates that row (its place in the conversation stays where it was first written). Returns
    the rows in the order of ``drafts``."""
    if not drafts:
        return []
    conversation_uuid = _as_uuid(conversation_id)
    with transaction.atomic():
        stored = {
            row.id: row
            for row in Message.objects.select_for_update().filter(
                conversation_id=conversation_uuid,
                conversation__owner=user,
                id__in=[draft.id for draft in drafts],
            )
        }
        for draft in drafts:
            row = stored.get(draft.id)
            if row is None:
                continue
            for name in _UPDATABLE:
                value = _draft_tokens(draft) if name == "token_estimate" else getattr(draft, name)
                setattr(row, name, value)
            row.save(update_fields=list(_UPDATABLE))
        fresh = [draft for draft in drafts if draft.id not in stored]
        appended = (
            {
                row.id: row
                for row in _append(user=user, conversation_id=conversation_uuid, drafts=fresh)
            }
            if fresh
            else {}
        )
    return [stored.get(draft.id) or appended[draft.id] for draft in drafts]


def messages_fail_streaming(*, user: User, conversation_id: Any) -> int:
    """Mark the conversation's rows still "streaming" as failed: the turn that wrote them is
    gone (its process died). Call only while no turn of the conversation runs. Returns how many."""
    return Message.objects.filter(
        conversation_id=_as_uuid(conversation_id),
        conversation__owner=user,
        status=Message.Status.STREAMING,
    ).update(status=Message.Status.FAILED)


def _append(
    *, user: User, conversation_id: uuid.UUID, drafts: Sequence[MessageDraft], title: str = ""
) -> list[Message]:
    """Append rows in order, numbered after the conversation's last: one statement, atomic on its
    own (run it in a transaction or savepoint only where something else must share it)."""
    last = len(drafts) - 1
    rows = [
        _row(draft, conversation_id, last - offset, owner_id=user.pk)
        for offset, draft in enumerate(drafts)
    ]
    try:
        return _INSERT_MESSAGES.save(
            rows, prefix=_RESERVE, prefix_params=[len(drafts), title, conversation_id, user.pk]
        )
    except IntegrityError as error:
        if getattr(error.__cause__, "sqlstate", None) == NOT_NULL_VIOLATION:
            raise NotFound("Conversation not found.") from None  # no row was reserved
        raise


def _row(
    draft: MessageDraft, conversation_id: uuid.UUID, sequence: int, *, owner_id: int
) -> Message:
    return Message(
        id=draft.id,
        conversation_id=conversation_id,
        owner_id=owner_id,  # the conversation's owner, which PostgreSQL keeps in step
        sequence=sequence,
        role=draft.role,
        content=draft.content,
        status=draft.status,
        tool_call_id=draft.tool_call_id,
        tool_name=draft.tool_name,
        tool_arguments=draft.tool_arguments,
        is_error=draft.is_error,
        provider=draft.provider,
        model=draft.model,
        input_tokens=draft.input_tokens,
        output_tokens=draft.output_tokens,
        latency_ms=draft.latency_ms,
        routing=draft.routing,
        covers_from=draft.covers_from,
        covers_to=draft.covers_to,
        client_id=draft.client_id,
        metadata=draft.metadata,
        token_estimate=_draft_tokens(draft),
    )


def _draft_tokens(draft: MessageDraft) -> int:
    if draft.role == Message.Role.TOOL_CALL:
        return estimate_tokens(draft.tool_name + json.dumps(draft.tool_arguments or {}))
    return estimate_tokens(draft.content)
