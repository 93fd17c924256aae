"""Conversation search: ranking, snippets, isolation, prefixes, the ranking window and paging."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conversations import selectors
from conversations.api import SearchResultOutput, search_result_json
from conversations.models import Message
from conversations.search import SearchCursor, parse_query, search_sql
from tests.conversations.factories import conversation_with

SEARCH = "/api/conversations/search"


def search(api: APIClient, q: str, **params: Any) -> dict[str, Any]:
    response = api.get(SEARCH, {"q": q, **params})
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def snippets(body: dict[str, Any]) -> list[str]:
    return [row["snippet"] for row in body["results"]]


# --- ranking, snippets, isolation --------------------------------------------------------------


def test_search_ranks_and_highlights_own_messages_only(
    alice: Any, bob: Any, alice_api: APIClient
) -> None:
    conversation_with(
        alice, "Deploying Django with pgvector on PostgreSQL and pgvector indexes", title="db"
    )
    conversation_with(alice, "We talked about pgvector once", title="misc")
    conversation_with(alice, "Nothing relevant here", title="other")
    conversation_with(bob, "bob also uses pgvector with PostgreSQL", title="bob")
    body = search(alice_api, "pgvector postgresql")
    assert body["count"] == 1
    first = body["results"][0]
    assert first["conversation_title"] == "db"
    assert "<mark>pgvector</mark>" in first["snippet"]
    broad = search(alice_api, "pgvector")
    assert [r["conversation_title"] for r in broad["results"]] == [
        "db",
        "misc",
    ]  # two hits rank higher
    assert all("bob" not in r["snippet"] for r in broad["results"])


def test_search_snippet_is_html_safe(alice: Any, alice_api: APIClient) -> None:
    conversation_with(alice, "pgvector & <img src=x onerror=alert(1)> rocks")
    snippet = search(alice_api, "pgvector")["results"][0]["snippet"]
    assert "<img" not in snippet
    assert "&amp;" in snippet
    assert snippet.startswith("<mark>pgvector</mark>")


def test_only_user_and_assistant_messages_are_searched(alice: Any, alice_api: APIClient) -> None:
    conversation = conversation_with(alice, "kumquat from the user")
    from conversations import services

    services.messages_append(
        user=alice,
        conversation_id=conversation.pk,
        drafts=[
            services.MessageDraft(role="assistant", content="a kumquat answer"),
            services.MessageDraft(role="thinking", content="kumquat reasoning"),
            services.MessageDraft(role="tool_result", content="kumquat tool output"),
        ],
    )
    assert sorted(r["role"] for r in search(alice_api, "kumquat")["results"]) == [
        "assistant",
        "user",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE conversations_message; --",
        '"unbalanced',
        "a & | ! ( ) :* <->",
        "-",
        "OR OR OR",
        "\\x00\\",
        "kube* & | ! :* zq0x",
        '"kube* pod" -dock*',
    ],
)
def test_hostile_queries_are_just_queries(alice: Any, alice_api: APIClient, query: str) -> None:
    conversation_with(alice, "an ordinary message")
    response = alice_api.get(SEARCH, {"q": query})
    assert response.status_code == 200
    assert Message.objects.count() == 1


def test_empty_or_huge_query_is_a_400(alice_api: APIClient) -> None:
    assert alice_api.get(SEARCH, {"q": "  "}).status_code == 400
    response = alice_api.get(SEARCH, {"q": "x" * 501})
    assert response.status_code == 400
    assert "500" in response.json()["detail"]


def test_a_query_of_stop_words_finds_nothing(alice: Any, alice_api: APIClient) -> None:
    conversation_with(alice, "the and of")
    body = search(alice_api, "the of")
    assert (body["count"], body["results"], body["next"]) == (0, [], None)


def test_search_is_one_query(alice: Any, alice_api: APIClient) -> None:
    for n in range(5):
        conversation_with(alice, f"kumquat number {n}", title=f"c{n}")
    with CaptureQueriesContext(connection) as queries:
        body = search(alice_api, "kumquat")
    assert len(body["results"]) == 5
    searches = [q["sql"] for q in queries if "conversations_message" in q["sql"]]
    assert len(searches) == 1, searches


def test_search_uses_the_scoped_index_of_searchable_rows(alice: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'message_search_scoped'")
        (definition,) = cursor.fetchone()
    assert "(search_vector || message_search_scope(owner_id, created_at))" in definition
    assert "'user'" in definition
    assert "'assistant'" in definition
    # The query spells the index's expression: with the other ways priced out (a test table
    # is tiny), the first probe and the wider ones read it; the window is read by id from the
    # stretch that filled it, not asked of the index again.
    conversation_with(alice, "kumquat jam")
    parsed = parse_query("kumquat")
    sql, params = search_sql(
        parsed, owner_id=alice.pk, cursor=SearchCursor(), window=10, page_size=5
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        # On a tiny table walking the whole btree looks as cheap; gone until the rollback.
        cursor.execute("DROP INDEX message_search_recent")
        cursor.execute("EXPLAIN (ANALYZE) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert plan.count("Bitmap Index Scan on message_search_scoped") == 2, plan
    assert "Index Cond: (id = ANY" in plan, plan


def test_scope_lexemes_name_the_owner_and_the_blocks_of_time(alice: Any) -> None:
    conversation = conversation_with(alice, "kumquat jam")
    at = dt.datetime(2026, 12, 1, 23, 59, 59, 900_000, tzinfo=dt.UTC)
    Message.objects.filter(conversation=conversation).update(created_at=at)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(search_vector || message_search_scope(owner_id, created_at))"
            " FROM conversations_message WHERE conversation_id = %s",
            [conversation.pk],
        )
        (lexemes,) = cursor.fetchone()
    day = int(at.timestamp()) // 86_400  # 20788: the last moment of the day is still that day
    owner = f"#{alice.pk}"
    expected = {owner, *(f"{owner}@{level}.{day // 4**level}" for level in range(5))}
    assert expected | {"kumquat", "jam"} == set(lexemes)


# --- prefixes ----------------------------------------------------------------------------------


def test_a_prefix_finds_every_word_that_starts_with_it(alice: Any, alice_api: APIClient) -> None:
    conversation_with(alice, "Deploying on Kubernetes today", title="k8s")
    conversation_with(alice, "kubectl get pods", title="cli")
    conversation_with(alice, "crypto keys rotate", title="crypto")
    conversation_with(alice, "a cube of sugar", title="other")
    body = search(alice_api, "kube*")
    assert sorted(r["conversation_title"] for r in body["results"]) == ["cli", "k8s"]
    assert any("<mark>Kubernetes</mark>" in s for s in snippets(body))
    # A whole word with a star still finds its stemmed form, and a prefix its unstemmed words.
    assert [r["conversation_title"] for r in search(alice_api, "kubernetes*")["results"]] == ["k8s"]
    assert [r["conversation_title"] for r in search(alice_api, "cry*")["results"]] == ["crypto"]


def test_prefixes_work_in_phrases_and_exclusions(alice: Any, alice_api: APIClient) -> None:
    conversation_with(alice, "kubernetes pod restarted", title="pod")
    conversation_with(alice, "kubernetes node drained", title="node")
    phrase = search(alice_api, '"kube* pod"')
    assert [r["conversation_title"] for r in phrase["results"]] == ["pod"]
    excluded = search(alice_api, "kube* -pod*")
    assert [r["conversation_title"] for r in excluded["results"]] == ["node"]


def test_a_prefix_shorter_than_three_characters_is_a_400(alice: Any, alice_api: APIClient) -> None:
    conversation_with(alice, "kubernetes")
    response = alice_api.get(SEARCH, {"q": "ku*"})
    assert response.status_code == 400
    assert "at least 3 characters" in response.json()["detail"]
    assert "'ku*'" in response.json()["detail"]


def test_more_than_four_prefixes_is_a_400(alice_api: APIClient) -> None:
    response = alice_api.get(SEARCH, {"q": "abc* bcd* cde* def* efg*"})
    assert response.status_code == 400
    assert "at most 4 prefixes" in response.json()["detail"]


def test_as_you_type_reads_the_unfinished_last_word_as_a_prefix(
    alice: Any, alice_api: APIClient
) -> None:
    conversation_with(alice, "deploying kubernetes clusters", title="k8s")
    assert search(alice_api, "deploying kubern")["count"] == 0
    typed = search(alice_api, "deploying kubern", as_you_type="true")
    assert [r["conversation_title"] for r in typed["results"]] == ["k8s"]
    # Too short to be a prefix yet: an exact word, not an error.
    assert search(alice_api, "deploying ku", as_you_type="true")["count"] == 0


def test_a_typed_prefix_beside_whole_words_is_checked_on_their_matches(
    alice: Any, alice_api: APIClient, bob: Any
) -> None:
    conversation_with(alice, "the connection pool is full", title="pool")
    conversation_with(alice, "a connection to the poodle club", title="poodle")
    conversation_with(alice, "one connection, no more", title="connection only")
    conversation_with(alice, "the pool is cold", title="pool only")
    conversation_with(bob, "connection pool of bob", title="bob's")
    typed = search(alice_api, "connection poo", as_you_type="true")
    assert sorted(r["conversation_title"] for r in typed["results"]) == ["poodle", "pool"]
    assert any("<mark>pool</mark>" in s for s in snippets(typed))
    # Only stop words beside the prefix: the prefix alone decides.
    alone = search(alice_api, "the poo", as_you_type="true")
    assert sorted(r["conversation_title"] for r in alone["results"]) == [
        "poodle",
        "pool",
        "pool only",
    ]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("connection poo*", "connection"),
        ("big connection poo* kube*", "big connection"),
        ("poo*", None),  # no whole word to search by
        ("connection or poo*", None),  # the prefix is not required
        ("connection -poo*", None),
        ('"connection poo*"', None),
        ("node.js poo*", None),  # punctuation: leave it to websearch_to_tsquery
    ],
)
def test_the_index_searches_by_whole_words_only_when_every_prefix_is_required(
    query: str, words: str | None
) -> None:
    found = parse_query(query).words_tsquery_sql()
    assert (found[1]["q_words"] if found else None) == words


def test_a_typed_prefix_beside_a_word_keeps_the_prefix_out_of_the_index(alice: Any) -> None:
    conversation_with(alice, "connection pool")
    sql, params = search_sql(
        parse_query("connection poo", as_you_type=True),
        owner_id=alice.pk,
        cursor=SearchCursor(),
        window=10,
        page_size=5,
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("DROP INDEX message_search_recent")  # as above: price the walk out
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The scoped index's conditions (the word and the stretch), not the other indexes' lookups.
    conditions = [line for line in plan.splitlines() if "Index Cond" in line and "@@" in line]
    assert conditions, plan
    assert all("connect" in line and "poo" not in line for line in conditions), plan
    assert "poo'':*" in plan  # checked on each candidate (quotes doubled in the plan)


# --- the ranking window and paging -------------------------------------------------------------


def test_relevance_is_ranked_among_the_newest_matches(
    alice: Any, alice_api: APIClient, settings: Any
) -> None:
    settings.MOSAIC_SEARCH_WINDOW = 3
    conversation_with(alice, "kumquat kumquat kumquat kumquat jam", title="old best")
    conversation_with(alice, "kumquat kumquat tart", title="old second")
    for n in range(3):
        conversation_with(alice, f"one kumquat, note {n}", title=f"new {n}")
    first = search(alice_api, "kumquat")
    # The newest three, best first; the better but older matches wait for the next window.
    assert [r["conversation_title"] for r in first["results"]] == ["new 2", "new 1", "new 0"]
    assert (first["count"], first["window"], first["has_older"]) == (3, 3, True)
    older = alice_api.get(first["next"]).json()
    assert [r["conversation_title"] for r in older["results"]] == ["old best", "old second"]
    assert older["results"][0]["rank"] > first["results"][0]["rank"]
    assert (older["count"], older["has_older"], older["next"]) == (2, False, None)


def test_pages_walk_every_match_once_forwards_and_back(
    alice: Any, alice_api: APIClient, settings: Any
) -> None:
    settings.MOSAIC_SEARCH_WINDOW = 5
    for n in range(12):
        conversation_with(alice, f"kumquat {'jam ' * (n % 3)}number {n}", title=f"m{n}")
    pages = [search(alice_api, "kumquat", page_size=2)]
    while pages[-1]["next"]:
        pages.append(alice_api.get(pages[-1]["next"]).json())
    seen = [r["message_id"] for page in pages for r in page["results"]]
    assert len(seen) == 12
    assert len(set(seen)) == 12
    # Windows of five, pages of two: 2 2 1 | 2 2 1 | 2
    assert [len(page["results"]) for page in pages] == [2, 2, 1, 2, 2, 1, 2]
    assert pages[0]["previous"] is None
    # Back from the last page: the same pages in reverse order.
    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(alice_api.get(back[-1]["previous"]).json())
    assert [[r["message_id"] for r in p["results"]] for p in reversed(back)] == [
        [r["message_id"] for r in p["results"]] for p in pages
    ]
    # Each window holds newer messages than the next.
    numbers = [[int(r["conversation_title"][1:]) for r in p["results"]] for p in pages]
    windows = [[n for page in numbers[i:j] for n in page] for i, j in ((0, 3), (3, 6), (6, 7))]
    assert min(windows[0]) > max(windows[1])
    assert min(windows[1]) > max(windows[2])


def test_a_cursor_never_reaches_another_users_messages(
    alice: Any, bob: Any, alice_api: APIClient, bob_api: APIClient
) -> None:
    for n in range(3):
        conversation_with(alice, f"kumquat alice {n}")
    conversation_with(bob, "kumquat bob")
    alices_next = search(alice_api, "kumquat", page_size=1)["next"]
    body = bob_api.get(alices_next).json()
    assert all("alice" not in s for s in snippets(body))
    assert search(bob_api, "kumquat")["count"] == 1


@pytest.mark.parametrize("cursor", ["nonsense", "e30", SearchCursor(offset=10_000).encode()])
def test_a_bad_cursor_is_a_400(alice: Any, alice_api: APIClient, cursor: str) -> None:
    response = alice_api.get(SEARCH, {"q": "kumquat", "cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize("page_size", ["0", "201", "many"])
def test_a_bad_page_size_is_a_400(alice_api: APIClient, page_size: str) -> None:
    response = alice_api.get(SEARCH, {"q": "kumquat", "page_size": page_size})
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_the_selector_pages_without_the_api(alice: Any, settings: Any) -> None:
    settings.MOSAIC_SEARCH_WINDOW = 50
    for n in range(3):
        conversation_with(alice, f"kumquat {n}")
    page = selectors.conversation_search(user=alice, query="kumquat", page_size=2)
    assert len(page.hits) == 2
    assert page.next is not None
    rest = selectors.conversation_search(
        user=alice, query="kumquat", page_size=2, cursor=page.next.encode()
    )
    assert len(rest.hits) == 1
    assert {h.message_id for h in page.hits}.isdisjoint({h.message_id for h in rest.hits})


def test_the_window_holds_the_newest_matches_however_far_apart_they_are(
    alice: Any, alice_api: APIClient, settings: Any
) -> None:
    # Matches from today back to four years ago: the search widens its stretch of history
    # (a day, 4 days, ... 256 days, everything) until the window is full, and each window
    # holds exactly the newest matches before the previous one.
    settings.MOSAIC_SEARCH_WINDOW = 3
    now = dt.datetime.now(dt.UTC)
    ages = [0, 1, 3, 10, 40, 150, 500, 1500]
    for days in ages:
        conversation = conversation_with(alice, f"kumquat aged {days}", title=f"{days}")
        Message.objects.filter(conversation=conversation).update(
            created_at=now - dt.timedelta(days=days, minutes=1)
        )
    conversation_with(alice, "no match today")
    windows = []
    page = search(alice_api, "kumquat", page_size=3)
    while True:
        windows.append(sorted(int(r["conversation_title"]) for r in page["results"]))
        if not page["next"]:
            break
        page = alice_api.get(page["next"]).json()
    assert windows == [[0, 1, 3], [10, 40, 150], [500, 1500]]
    # A rare word far back in time is found once the stretch reaches everything.
    rare = conversation_with(alice, "quince from long ago", title="old")
    Message.objects.filter(conversation=rare).update(created_at=now - dt.timedelta(days=4000))
    assert [r["conversation_title"] for r in search(alice_api, "quince")["results"]] == ["old"]


def test_widening_past_a_stretch_still_gives_the_newest_matches(
    alice: Any, alice_api: APIClient, settings: Any
) -> None:
    # One match today where eleven are wanted: the search skips ahead two levels (16-day
    # blocks) instead of asking for 4-day blocks, and must still keep only the newest ten.
    settings.MOSAIC_SEARCH_WINDOW = 10
    now = dt.datetime.now(dt.UTC)
    for days, count in [(0, 1), (5, 12), (30, 12)]:
        for n in range(count):
            conversation = conversation_with(alice, f"kumquat {days} {n}", title=f"{days}-{n:02d}")
            Message.objects.filter(conversation=conversation).update(
                created_at=now - dt.timedelta(days=days, minutes=1 + n)
            )
    page = search(alice_api, "kumquat", page_size=10)
    newest = ["0-00"] + [f"5-{n:02d}" for n in range(9)]
    assert sorted(r["conversation_title"] for r in page["results"]) == newest
    assert page["has_older"] is True


@pytest.mark.parametrize("walk_rows", [5_000, 3])
def test_a_prefix_finds_the_same_window_by_walking_or_through_the_index(
    alice: Any, alice_api: APIClient, settings: Any, monkeypatch: Any, walk_rows: int
) -> None:
    # A prefix search reads the user's newest rows first; when they hold neither a full window
    # nor the whole history (walk_rows=3 here), it asks the index. Same answer either way.
    monkeypatch.setattr("conversations.search.WALK_ROWS", walk_rows)
    settings.MOSAIC_SEARCH_WINDOW = 2
    now = dt.datetime.now(dt.UTC)
    for days, text in [(300, "kubernetes one"), (200, "kubectl two"), (100, "kubelet three")]:
        conversation = conversation_with(alice, text, title=text.split()[1])
        Message.objects.filter(conversation=conversation).update(
            created_at=now - dt.timedelta(days=days)
        )
    for n in range(4):
        conversation_with(alice, f"unrelated news {n}")
    first = search(alice_api, "kube*")
    assert sorted(r["conversation_title"] for r in first["results"]) == ["three", "two"]
    assert first["has_older"] is True
    older = alice_api.get(first["next"]).json()
    assert [r["conversation_title"] for r in older["results"]] == ["one"]
    assert older["has_older"] is False


def test_a_result_is_what_the_documented_serializer_makes_of_it(
    alice: Any, alice_api: APIClient
) -> None:
    conversation_with(alice, "kumquat <b>jam</b> & kumquat pie", title="fruit")
    page = selectors.conversation_search(user=alice, query="kumquat", page_size=10)
    assert page.hits
    for hit in page.hits:
        assert search_result_json(hit) == SearchResultOutput(hit).data
    body = search(alice_api, "kumquat")
    assert body["results"] == [search_result_json(hit) for hit in page.hits]
