"""Full-text search over one user's messages: the query language, the SQL and the cursor.

Shaped by what it costs at a million messages (docs/performance.md):

- Every message row carries its owner, and one GIN index (``message_search_scoped``, migration
  0003) holds the searchable rows' words plus lexemes naming the row's owner and the blocks of
  time it was written in (a day, 4, 16, 64 and 256 days). The embedded PostgreSQL has no
  btree_gin, so the owner and the time go into the index as words: ``words & #42@0.20788``
  reads user 42's matches of one day from the index, and nobody else's.
- Matches are ranked within a window: the newest ``MOSAIC_SEARCH_WINDOW`` matches, best first.
  To find them without reading every match, the query tries ever longer stretches of the
  user's history (a few days, then four times as many, ... then all of it) and reads the
  window from the first stretch that fills it: a common word costs about a window of rows, a
  rare one a few cheap index probes. Past the window, ``next`` moves on to older matches.
- No full count: ``count`` is the number of matches in the window, and ``has_older`` says
  whether older matches remain.
- Prefixes (``kube*``) need ``MIN_PREFIX`` characters, so that a two-letter prefix cannot
  select most of the table; they run inside the same window. The GIN index matches a prefix
  against every user's words, so beside whole words (``connection poo*``, as typed) the index
  is asked for the whole words and the prefix checked on their rows; a query of prefixes alone
  first walks the user's newest ``WALK_ROWS`` rows and asks the index (fewer, wider
  stretches) only if they hold too few matches.

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
_PLAIN_WORD = re.compile(r"[^\W_]+")


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

    def words_tsquery_sql(self) -> tuple[str, dict[str, Any]] | None:
        """When every prefix is a required term beside at least one whole word (``connection
        poo*``, what typing produces), the whole words alone, for the index to find candidates
        by; the full query then checks each candidate. None for any other query (``or``, ``-``,
        quotes or punctuation: the prefix may not be required there)."""
        if not self.prefixes:
            return None
        placeholders = {placeholder for placeholder, _ in self.prefixes}
        tokens = self.text.split()
        if not all(_PLAIN_WORD.fullmatch(t) and t.lower() != "or" for t in tokens):
            return None
        words = [t for t in tokens if t not in placeholders]
        if not words:
            return None
        return "websearch_to_tsquery('english', %(q_words)s)", {"q_words": " ".join(words)}


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

# What the GIN index ``message_search_scoped`` holds for a row: its words, plus lexemes naming
# its owner (``#42``) and the blocks of time it falls in, one per level (``#42@0.20788`` its day,
# ``#42@1.5197`` its block of 4 days, ... ``#42@4.81`` of 256 days). Migration 0003 defines
# ``message_search_scope``; a query must spell the expression exactly so to use the index.
SCOPED_VECTOR = "(search_vector || message_search_scope(owner_id, created_at))"
DAY_SECONDS = 86_400
# Block levels tried before the whole history: each covers 4 times the days of the one before.
WORD_LEVELS = (0, 1, 2, 3, 4)
# A prefix is matched against every word in the index at each try: fewer, wider tries.
PREFIX_LEVELS = (1, 3)
# How many of the user's newest rows a prefix query reads before it turns to the index.
WALK_ROWS = 5_000


def scopes(owner_id: int, cursor: SearchCursor, *, levels: tuple[int, ...]) -> list[str]:
    """The tsqueries that limit a search to ever older (or newer) stretches of the owner's
    history, ending with the whole of it.

    Each stretch is three blocks of one level around the anchor (the cursor's bound, or now):
    the rows on the far side of the bound are filtered out by the query, so every stretch is
    one unbroken span of time that starts (or ends) at the bound. If a stretch holds more
    matches than the window, the window's matches are the same as in the whole history.
    """
    anchor = cursor.before or cursor.after
    moment = anchor[0] if anchor else dt.datetime.now(dt.UTC)
    epoch = int(moment.timestamp())
    result = []
    for level in levels:
        block = epoch // (DAY_SECONDS * 4**level)
        blocks = (f"'#{owner_id}@{level}.{b}'" for b in (block - 1, block, block + 1))
        result.append(" | ".join(blocks))
    result.append(f"'#{owner_id}'")
    return result


# One round trip. ``probe`` reads the newest matches (up to the window, ids only) of ever longer
# stretches of history, the whole history last, and stops at the first that fills the window.
# A stretch that found some matches but too few sets how far to widen: each level is ``growth``
# times longer, so 5 matches where 201 are wanted skip ahead three levels (4**3 >= 201 / 5)
# rather than ask the index of each level in between;
# the window is that stretch's ids, so a common word reads about a window's worth of rows
# however many messages it is in, and no stretch is asked of the index twice. The window's rows
# are fetched once by id (MATERIALIZED) with only what ranking needs; the headline and the
# conversation's title are computed for the page's rows alone. ``numnode(...) > 0`` is
# false for a query without lexemes (only stop words), which would otherwise match every row.
# ``owner_id + 0``: the owner is checked on each row, but the planner must not walk the
# owner's rows through message_search_recent instead of asking the GIN index.
_MATCHES = """
    FROM conversations_message
    WHERE role IN ('user', 'assistant') AND owner_id + 0 = %(owner)s
      AND {vector} @@ ({index_query} && {scope}) AND numnode({query}) > 0 {check} {bound}
"""
# A prefix query first walks the user's newest WALK_ROWS searchable rows (a btree, newest first)
# and keeps the window from them if they hold a full window of matches or are the user's whole
# history: the usual case for a common prefix or a light user, and it never asks the GIN index
# to match the prefix against every user's words.
_WALK = """
recent AS MATERIALIZED (
    SELECT id, conversation_id, role, created_at, search_vector
    FROM conversations_message
    WHERE role IN ('user', 'assistant') AND owner_id = %(owner)s {bound}
    ORDER BY created_at {direction}, id {direction}
    LIMIT %(walk)s
), walked AS MATERIALIZED (
    SELECT * FROM recent WHERE search_vector @@ {query} AND numnode({query}) > 0
    ORDER BY created_at {direction}, id {direction}
    LIMIT %(fetch)s
), walk_enough AS (
    SELECT (SELECT count(*) FROM walked) >= %(fetch)s
           OR (SELECT count(*) FROM recent) < %(walk)s AS yes
),"""
_SQL = """
WITH RECURSIVE {walk} probe (level, ids) AS (
    SELECT 0, ARRAY(SELECT id {probe_first} ORDER BY created_at {direction}, id {direction}
                    LIMIT %(fetch)s) {probe_gate}
  UNION ALL
    SELECT next.level, ARRAY(SELECT id {probe_next} ORDER BY created_at {direction}, id {direction}
                             LIMIT %(fetch)s)
    FROM probe, LATERAL (SELECT CASE WHEN cardinality(probe.ids) = 0 THEN probe.level + 1
        ELSE least(%(last)s, probe.level + greatest(1, ceil(
            ln(%(fetch)s::float8 / cardinality(probe.ids)) / ln(%(growth)s))::int)) END AS level
    ) AS next
    WHERE cardinality(probe.ids) < %(fetch)s AND probe.level < %(last)s
), chosen AS (
    SELECT ids FROM probe ORDER BY level DESC LIMIT 1
), window_rows AS MATERIALIZED (
    {window_walk}
    (SELECT id, conversation_id, role, created_at, search_vector
    FROM conversations_message
    WHERE id = ANY((SELECT ids FROM chosen)::uuid[]) AND owner_id = %(owner)s {window_gate}
    ORDER BY created_at {direction}, id {direction}
    LIMIT %(fetch)s)
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
    index_query, check = query, ""
    words = parsed.words_tsquery_sql()
    if words is not None:
        # `connection poo*`: the index finds the user's rows with `connection` as it would for
        # a word search, and each is checked against the prefix, instead of the index matching
        # `poo*` against every user's words. Only stop words beside the prefix: the prefix
        # goes to the index after all.
        index_query = f"(CASE WHEN numnode({words[0]}) > 0 THEN {words[0]} ELSE {query} END)"
        check = f"AND search_vector @@ {query}"
        params.update(words[1])
    # A prefix in the index matches every user's words at each try: fewer, wider tries, and
    # the walk of the newest rows first.
    walk = bool(parsed.prefixes) and words is None  # a prefix goes to the index
    levels = PREFIX_LEVELS if walk else WORD_LEVELS
    stretches = scopes(owner_id, cursor, levels=levels)

    def matches(index: str) -> str:
        scope = f"(%(scopes)s::tsquery[])[{index} + 1]"
        return _MATCHES.format(
            vector=SCOPED_VECTOR,
            index_query=index_query,
            query=query,
            check=check,
            scope=scope,
            bound=bound,
        )

    sql = _SQL.format(
        walk=_WALK.format(bound=bound, direction=direction, query=query) if walk else "",
        probe_first=matches("0"),
        probe_gate="WHERE NOT (SELECT yes FROM walk_enough)" if walk else "",
        probe_next=matches("next.level"),
        window_walk="SELECT * FROM walked WHERE (SELECT yes FROM walk_enough) UNION ALL"
        if walk
        else "",
        window_gate="AND NOT (SELECT yes FROM walk_enough)" if walk else "",
        query=query,
        direction=direction,
    )
    values: dict[str, Any] = {
        **params,
        "owner": owner_id,
        "scopes": stretches,
        "walk": WALK_ROWS,
        "last": len(stretches) - 1,
        "growth": 4 ** (levels[1] - levels[0]),
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
