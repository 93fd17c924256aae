"""Full-text search over one user's messages: the query language, the SQL and the cursor.

Shaped by what it costs at a million messages (docs/performance.md):

- Every message row carries its owner, and two partial indexes cover the searchable rows (user
  and assistant): the words (GIN) and the owner's rows newest first (btree). PostgreSQL picks
  per query: a rare word collects its few matches from the GIN index; a common one walks the
  user's newest rows and stops as soon as it has enough matches.
- Matches are ranked within a window: the newest ``MOSAIC_SEARCH_WINDOW`` matches, best first.
  Ranking every match of a common word would read all of them (tens of thousands of rows) to
  show fifty. Past the window, ``next`` moves on to the window of older matches.
- No full count: ``count`` is the number of matches in the window, and ``has_older`` says
  whether older matches remain.
- Prefixes (``kube*``) need ``MIN_PREFIX`` characters, so that a two-letter prefix cannot
  select most of the table; they run inside the same window.

The query text goes to ``websearch_to_tsquery``, which accepts any string (quotes, ``-``,
``or``) without syntax errors. A prefix is swapped for a placeholder word before that and put
back in SQL with ``ts_rewrite`` as ``to_tsquery('<word>:*')``; the word is letters and digits
only, so nothing the user types reaches ``to_tsquery``'s syntax.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from core.errors import InvalidInput

MAX_QUERY_LENGTH = 500
MIN_PREFIX = 3
MAX_PREFIXES = 4
MARK_START, MARK_STOP = "\x02", "\x03"

# A word of letters or digits directly followed by "*" (not part of a longer word).
_PREFIX = re.compile(r"(?<![^\W_])([^\W_]+)\*")
_LAST_WORD = re.compile(r"(?<![^\W_])([^\W_]+)$")


@dataclass(frozen=True)
class ParsedQuery:
    """The user's query for ``websearch_to_tsquery``, with each prefix as a placeholder word."""

    text: str
    prefixes: tuple[tuple[str, str], ...] = ()  # (placeholder, prefix)

    def tsquery_sql(self) -> tuple[str, dict[str, Any]]:
        """SQL for the tsquery, and its named parameters."""
        expression = "websearch_to_tsquery('english', %(q_text)s)"
        params: dict[str, Any] = {"q_text": self.text}
        for index, (placeholder, prefix) in enumerate(self.prefixes):
            # Stemmed and as typed: "kubernetes*" must find 'kubernet', "cry*" 'crypto'. Once
            # only when both are the same: each prefix costs a scan of every matching word's
            # postings in the GIN index.
            stemmed = f"to_tsquery('english', %(q_p{index})s)"
            typed = f"to_tsquery('simple', %(q_p{index})s)"
            either = f"CASE WHEN {stemmed} = {typed} THEN {typed} ELSE {stemmed} || {typed} END"
            expression = f"ts_rewrite({expression}, %(q_ph{index})s::tsquery, {either})"
            params[f"q_ph{index}"] = placeholder
            params[f"q_p{index}"] = f"{prefix}:*"
        return expression, params


def parse_query(query: str, *, as_you_type: bool = False) -> ParsedQuery:
    """Check and parse a search query; ``as_you_type`` reads an unfinished last word as a prefix."""
    query = (query or "").strip()
    if not query:
        raise InvalidInput("The search query is empty.")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(f"The search query is longer than {MAX_QUERY_LENGTH} characters.")
    if as_you_type and not query.endswith("*"):
        last = _LAST_WORD.search(query)
        if last and len(last.group(1)) >= MIN_PREFIX:
            query += "*"
    prefixes: list[tuple[str, str]] = []
    # Placeholders differ per request, so that no typed word can be mistaken for one.
    salt = secrets.token_hex(4)

    def swap(match: re.Match[str]) -> str:
        prefix = match.group(1).lower()
        if len(prefix) < MIN_PREFIX:
            raise InvalidInput(
                f"A prefix needs at least {MIN_PREFIX} characters: {match.group(0)!r} is too short."
            )
        if len(prefixes) == MAX_PREFIXES:
            raise InvalidInput(f"A query can have at most {MAX_PREFIXES} prefixes (word*).")
        # Letters and a digit: PostgreSQL's parser keeps it whole and no dictionary stems it.
        placeholder = f"zq{salt}{len(prefixes)}x"
        prefixes.append((placeholder, prefix))
        return f" {placeholder} "

    text = _PREFIX.sub(swap, query)
    return ParsedQuery(text=text, prefixes=tuple(prefixes))


@dataclass(frozen=True)
class SearchCursor:
    """Where a page starts: a window of matches (the newest, or those older than ``before``,
    or those newer than ``after``) and an offset into its ranking."""

    offset: int = 0
    before: tuple[dt.datetime, uuid.UUID] | None = None
    after: tuple[dt.datetime, uuid.UUID] | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {"o": self.offset}
        for key, bound in (("b", self.before), ("a", self.after)):
            if bound is not None:
                data[key] = [bound[0].isoformat(), str(bound[1])]
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, *, window: int) -> SearchCursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            offset = data["o"]
            if not isinstance(offset, int) or not 0 <= offset < window:
                raise ValueError(offset)
            bounds = {key: _bound(data.get(key)) for key in ("b", "a")}
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise InvalidInput(
                "The cursor is not valid: start again from the first page."
            ) from None
        if bounds["b"] and bounds["a"]:
            raise InvalidInput("The cursor is not valid: start again from the first page.")
        return cls(offset=offset, before=bounds["b"], after=bounds["a"])


def _bound(value: Any) -> tuple[dt.datetime, uuid.UUID] | None:
    if value is None:
        return None
    at, key = value
    moment = dt.datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError(at)
    return moment, uuid.UUID(key)


@dataclass(frozen=True)
class SearchHit:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    conversation_title: str
    role: str
    created_at: dt.datetime
    rank: float
    # ts_headline's excerpt with the matches between MARK_START and MARK_STOP, not escaped.
    raw_snippet: str


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    count: int  # matches in this window (at most ``window``)
    window: int
    has_older: bool  # older matches remain beyond this window
    next: SearchCursor | None
    previous: SearchCursor | None


_HEADLINE = "StartSel=\x02, StopSel=\x03, MaxFragments=2, MaxWords=30, MinWords=8"

# One round trip. The window's rows are fetched once (MATERIALIZED) with only what ranking
# needs; the headline and the conversation's title are computed for the page's rows alone.
# ``numnode(...) > 0`` folds to false for a query without lexemes (only stop words), which
# would otherwise walk the user's whole history.
_SQL = """
WITH window_rows AS MATERIALIZED (
    SELECT id, conversation_id, role, created_at, search_vector
    FROM conversations_message
    WHERE owner_id = %(owner)s AND role IN ('user', 'assistant')
      AND search_vector @@ {query} AND numnode({query}) > 0 {bound}
    ORDER BY created_at {direction}, id {direction}
    LIMIT %(fetch)s
), ranked AS (
    SELECT id, conversation_id, role, created_at, ts_rank(search_vector, {query}) AS rank,
           row_number() OVER (ORDER BY created_at {direction}, id {direction}) AS place
    FROM window_rows
), kept AS (
    SELECT * FROM ranked WHERE place <= %(window)s
), summary AS (
    SELECT count(*) AS total, (SELECT count(*) FROM window_rows) AS fetched,
           (array_agg(created_at ORDER BY created_at DESC, id DESC))[1] AS newest_at,
           (array_agg(id ORDER BY created_at DESC, id DESC))[1] AS newest_id,
           (array_agg(created_at ORDER BY created_at, id))[1] AS oldest_at,
           (array_agg(id ORDER BY created_at, id))[1] AS oldest_id
    FROM kept
)
SELECT s.total, s.fetched, s.newest_at, s.newest_id, s.oldest_at, s.oldest_id,
       p.id, p.conversation_id, c.title, p.role, p.created_at, p.rank,
       ts_headline('english', m.content, {query}, %(headline)s)
FROM summary s
LEFT JOIN (
    SELECT * FROM kept ORDER BY rank DESC, created_at DESC, id DESC OFFSET %(offset)s LIMIT %(limit)s
) p ON true
LEFT JOIN conversations_message m ON m.id = p.id
LEFT JOIN conversations_conversation c ON c.id = p.conversation_id AND c.owner_id = %(owner)s
ORDER BY p.rank DESC, p.created_at DESC, p.id DESC
"""


def search_sql(
    parsed: ParsedQuery, *, owner_id: int, cursor: SearchCursor, window: int, page_size: int
) -> tuple[str, dict[str, Any]]:
    query, params = parsed.tsquery_sql()
    bound, direction = "", "DESC"
    if cursor.before is not None:
        bound = "AND (created_at, id) < (%(bound_at)s, %(bound_id)s)"
        params.update(bound_at=cursor.before[0], bound_id=cursor.before[1])
    elif cursor.after is not None:
        bound, direction = "AND (created_at, id) > (%(bound_at)s, %(bound_id)s)", "ASC"
        params.update(bound_at=cursor.after[0], bound_id=cursor.after[1])
    sql = _SQL.format(query=query, bound=bound, direction=direction)
    values: dict[str, Any] = {
        **params,
        "owner": owner_id,
        "fetch": window + 1,
        "window": window,
        "offset": cursor.offset,
        "limit": page_size,
        "headline": _HEADLINE,
    }
    return sql, values


def search_page(
    rows: list[tuple[Any, ...]], *, cursor: SearchCursor, window: int, page_size: int
) -> SearchPage:
    """The page, and the cursors around it, from the rows of ``search_sql``."""
    total, fetched, newest_at, newest_id, oldest_at, oldest_id = rows[0][:6]
    hits = [
        SearchHit(
            message_id=row[6],
            conversation_id=row[7],
            conversation_title=row[8] or "",
            role=row[9],
            created_at=row[10],
            rank=float(row[11]),
            raw_snippet=row[12] or "",
        )
        for row in rows
        if row[6] is not None
    ]
    beyond = fetched > window  # the window is full and at least one more match lies past it
    has_older = beyond if cursor.after is None else True
    has_newer = cursor.before is not None if cursor.after is None else beyond
    bounds = {"before": cursor.before, "after": cursor.after}
    next_cursor = previous = None
    if cursor.offset + page_size < total:
        next_cursor = SearchCursor(offset=cursor.offset + page_size, **bounds)
    elif has_older and oldest_at is not None:
        next_cursor = SearchCursor(before=(oldest_at, oldest_id))
    if cursor.offset > 0:
        previous = SearchCursor(offset=max(0, cursor.offset - page_size), **bounds)
    elif has_newer and newest_at is not None:
        # The window before this one is full: open it on its last page.
        previous = SearchCursor(
            offset=(window - 1) // page_size * page_size, after=(newest_at, newest_id)
        )
    return SearchPage(
        hits=hits,
        count=int(total),
        window=window,
        has_older=has_older,
        next=next_cursor,
        previous=previous,
    )
