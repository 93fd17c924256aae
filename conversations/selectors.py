"""Reads of conversations and messages. Every function takes the acting user and scopes by it."""

from __future__ import annotations

import html
import json
import uuid
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet

from conversations import search
from conversations.models import Conversation, Message
from conversations.search import SearchPage
from core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _as_uuid(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("Conversation not found.") from None


def conversation_get(*, user: User, conversation_id: Any) -> Conversation:
    try:
        return Conversation.objects.get(pk=_as_uuid(conversation_id), owner=user)
    except Conversation.DoesNotExist:
        raise NotFound("Conversation not found.") from None


_MESSAGE_COUNT = Count("messages", filter=~Q(messages__role=Message.Role.CHECKPOINT))


def conversation_list(*, user: User, archived: bool = False) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(owner=user, archived=archived)
        .annotate(message_count=_MESSAGE_COUNT)
        .order_by("-updated_at")
    )


def conversation_detail(*, user: User, conversation_id: Any) -> Conversation:
    conversation = (
        Conversation.objects.filter(owner=user, pk=_as_uuid(conversation_id))
        .annotate(message_count=_MESSAGE_COUNT)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def message_list(*, user: User, conversation_id: Any) -> QuerySet[Message]:
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    return Message.objects.filter(conversation=conversation).order_by("sequence")


def message_find_by_client_id(
    *, user: User, conversation_id: Any, client_id: str
) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=_as_uuid(conversation_id), conversation__owner=user, client_id=client_id
        )
        .only("id", "sequence", "conversation_id", "client_id", "content", "role", "created_at")
        .first()
    )


def has_reply_after(*, user: User, message: Message) -> bool:
    """Whether a reply follows ``message``; one that failed or never finished (its process
    died) does not count, so a resend of the message runs its turn again."""
    return (
        Message.objects.filter(
            conversation_id=message.conversation_id,
            conversation__owner=user,
            sequence__gt=message.sequence,
            role__in=[Message.Role.ASSISTANT, Message.Role.TOOL_CALL],
        )
        .exclude(status__in=[Message.Status.FAILED, Message.Status.STREAMING])
        .exists()
    )


def turn_end_after(*, user: User, conversation_id: Any, message_id: Any) -> Message | None:
    """The stored end of the turn that streamed ``message_id``: the conversation's last
    assistant row from that message on, if it is final (failed, cancelled, or complete without
    asking for a tool); None while the turn is still going, as far as the database knows."""
    conversation_uuid = _as_uuid(conversation_id)
    base = Message.objects.filter(conversation_id=conversation_uuid, conversation__owner=user)
    start = base.filter(pk=message_id).values_list("sequence", flat=True).first()
    if start is None:
        return None
    last = (
        base.filter(sequence__gte=start, role=Message.Role.ASSISTANT)
        .defer("search_vector")
        .order_by("-sequence")
        .first()
    )
    if last is None or last.status == Message.Status.STREAMING:
        return None
    if last.status == Message.Status.COMPLETE and last.metadata.get("stop_reason") == "tool_use":
        return None
    return last


def last_user_message(*, user: User, conversation_id: Any) -> Message:
    """The conversation's latest message from its owner; ``InvalidInput`` when it has none."""
    message = (
        message_list(user=user, conversation_id=conversation_id)
        .filter(role=Message.Role.USER)
        .defer("search_vector")
        .order_by("-sequence")
        .first()
    )
    if message is None:
        raise InvalidInput("The conversation has no message from you to answer.")
    return message


class ContextRow(NamedTuple):
    """The fields of a message that context building reads.

    A plain tuple rather than a model instance: this runs before every model call, over the
    whole recent history, and building ``Message`` objects cost four times the query itself.
    """

    id: uuid.UUID
    sequence: int
    role: str
    content: str
    status: str
    tool_call_id: str
    tool_name: str
    tool_arguments: dict[str, Any] | None
    is_error: bool
    metadata: dict[str, Any]
    token_estimate: int

    @classmethod
    def of(cls, message: Message) -> ContextRow:
        """The row of a message in hand (as the context read would return it)."""
        return cls(*(getattr(message, name) for name in cls._fields))


# context_messages runs before every model call: its two statements are written out rather than
# built by the ORM each time (which cost three times their execution), and read the same rows
# that Message.objects.filter(conversation_id=…, conversation__owner=user) would.
_OWNED_MESSAGES = (
    f"FROM {Message._meta.db_table} m JOIN {Conversation._meta.db_table} c "
    "ON c.id = m.conversation_id WHERE m.conversation_id = %s AND c.owner_id = %s"
)
_COLUMNS = {f.name: f.column for f in Message._meta.concrete_fields}
# The checkpoint comes back as a Message: every stored field but the search vector, by attname,
# in the model's order (Model.from_db's).
_CHECKPOINT_FIELDS = [
    (f.attname, f.column) for f in Message._meta.concrete_fields if f.name != "search_vector"
]
_CHECKPOINT_ATTNAMES = [attname for attname, _ in _CHECKPOINT_FIELDS]
# Both in one round trip (psycopg's client-side binding runs the two statements in one query):
# the newest checkpoint, then the rows after what it covers (all of them without one).
_CONTEXT_SQL = (
    "SELECT "  # noqa: S608 - our table and column names
    + ", ".join(f"m.{column}" for _, column in _CHECKPOINT_FIELDS)
    + f" {_OWNED_MESSAGES} AND m.role = %s ORDER BY m.sequence DESC LIMIT 1; "
    "SELECT "
    + ", ".join(f"m.{_COLUMNS[name]}" for name in ContextRow._fields)
    + f" {_OWNED_MESSAGES} AND m.role <> %s AND NOT (m.status = ANY(%s)) "  # noqa: S608
    f"AND m.sequence > COALESCE((SELECT p.covers_to FROM {Message._meta.db_table} p "
    "WHERE p.conversation_id = m.conversation_id AND p.role = %s "
    "ORDER BY p.sequence DESC LIMIT 1), -1) "
    "ORDER BY m.sequence"
)
_JSON_ATTNAMES = {
    f.attname for f in Message._meta.concrete_fields if f.get_internal_type() == "JSONField"
}
_CONTEXT_JSON = [i for i, name in enumerate(ContextRow._fields) if name in _JSON_ATTNAMES]
_CHECKPOINT_JSON = [i for i, name in enumerate(_CHECKPOINT_ATTNAMES) if name in _JSON_ATTNAMES]


def _json_decoded(row: tuple[Any, ...], indexes: list[int]) -> list[Any]:
    """The row with its jsonb values decoded (they arrive as text: Django decodes them in the
    field, and these reads bypass the fields)."""
    values = list(row)
    for index in indexes:
        if isinstance(values[index], str):
            values[index] = json.loads(values[index])
    return values


def context_messages(
    *, user: User, conversation_id: Any, with_streaming: bool = False
) -> tuple[Message | None, list[ContextRow]]:
    """The latest checkpoint (if any) and the messages after what it covers, oldest first,
    without failed rows, and without rows still streaming unless ``with_streaming`` (a turn
    that holds the conversation's lock asks for them: they are a dead turn's, to be failed).

    Two indexed queries in one round trip: the newest checkpoint row, then the rows after its
    range.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTEXT_SQL, _context_params(user, _as_uuid(conversation_id), with_streaming)
        )
        return _context_result(cursor)


def _context_params(user: User, conversation_uuid: uuid.UUID, with_streaming: bool) -> list[Any]:
    left_out = [Message.Status.FAILED]
    if not with_streaming:
        left_out.append(Message.Status.STREAMING)
    checkpoint_role = Message.Role.CHECKPOINT
    return [
        *(conversation_uuid, user.pk, checkpoint_role),
        *(conversation_uuid, user.pk, checkpoint_role, left_out, checkpoint_role),
    ]


def _context_result(cursor: Any) -> tuple[Message | None, list[ContextRow]]:
    """The checkpoint and the rows, from the cursor standing at ``_CONTEXT_SQL``'s results."""
    found = cursor.fetchone()
    cursor.nextset()
    rows = [ContextRow(*_json_decoded(row, _CONTEXT_JSON)) for row in cursor.fetchall()]
    if found is None:
        return None, rows
    values = _json_decoded(found, _CHECKPOINT_JSON)
    return Message.from_db(connection.alias, _CHECKPOINT_ATTNAMES, values), rows


_LAST_SEQUENCE_SQL = (
    f"SELECT last_sequence FROM {Conversation._meta.db_table} "  # noqa: S608 - our table
    "WHERE id = %s AND owner_id = %s"
)


def conversation_last_sequence(*, user: User, conversation_id: Any) -> int | None:
    """The number of the conversation's last message (0 before the first); None when the
    conversation is not the user's."""
    with connection.cursor() as cursor:
        cursor.execute(_LAST_SEQUENCE_SQL, [_as_uuid(conversation_id), user.pk])
        row = cursor.fetchone()
    return row[0] if row is not None else None


def conversation_search(
    *,
    user: User,
    query: str,
    page_size: int = 50,
    cursor: str | None = None,
    as_you_type: bool = False,
) -> SearchPage:
    """Full-text search over the user's own user and assistant messages: one page of the newest
    ``MOSAIC_SEARCH_WINDOW`` matches ranked best first, with HTML-safe-able snippets.

    ``cursor`` comes from a previous page's ``next``/``previous``; ``as_you_type`` reads an
    unfinished last word as a prefix. How and why it is bounded: ``conversations/search.py``.
    """
    parsed = search.parse_query(query, as_you_type=as_you_type)
    window = settings.MOSAIC_SEARCH_WINDOW
    position = (
        search.SearchCursor.decode(cursor, window=window) if cursor else search.SearchCursor()
    )
    sql, params = search.search_sql(
        parsed, owner_id=user.pk, cursor=position, window=window, page_size=page_size
    )
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    return search.search_page(rows, cursor=position, window=window, page_size=page_size)


def safe_snippet(raw: str) -> str:
    """A snippet as HTML: the text escaped, then the matches wrapped in ``<mark>``."""
    return (
        html.escape(raw).replace(search.MARK_START, "<mark>").replace(search.MARK_STOP, "</mark>")
    )
