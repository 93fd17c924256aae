"""The dataset behind bench_search.py: a million messages of generated technical English.

100 users, 10,000 conversations (one heavy user owns half of them), 1,000,000 messages of 5 to 80
words, written in time order with COPY into the embedded PostgreSQL of the state directory the
benchmark runs in; words planted at fixed rates give each query shape of the issue its matches.
``build`` writes it and returns the manifest (sizes, timings, the query of each shape).
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import heapq
import itertools
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEED = 20
HEAVY = "bench-heavy"
LIGHT = "bench-light-001"
MANIFEST = "bench-search.json"

# --- the generated language ------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


TOOLS = words(
    "postgres redis docker nginx django celery python terraform ansible grafana prometheus "
    "kafka rabbitmq elasticsearch react typescript webpack graphql pytest github jenkins helm "
    "istio envoy vault consul linux systemd rust golang java spring mysql sqlite mongodb "
    "cassandra lambda cloudfront gunicorn uvicorn fastapi flask numpy pandas pytorch airflow "
    "spark hadoop memcached varnish haproxy traefik openssl oauth websocket grpc protobuf "
    "sentry datadog vim tmux bash zsh git"
)
NOUNS = words(
    "database query index table migration schema cache queue worker container image cluster "
    "node pod service deployment config configuration connection timeout request response "
    "endpoint server client token session user permission role test fixture build pipeline "
    "release branch commit log metric alert dashboard latency throughput memory cpu disk "
    "network packet certificate secret key variable function class module package dependency "
    "library version error exception stack trace bug issue feature api model field column row "
    "transaction lock deadlock replica backup snapshot volume bucket file directory path "
    "script job task schedule event message stream topic partition offset consumer producer "
    "handler middleware router route view template component state hook style layout page "
    "form input button proxy gateway firewall port socket thread process signal heap "
    "collector profile benchmark regression rollback outage incident payload header cookie "
    "retry limit quota budget contract vendor customer report invoice spreadsheet pool"
)
VERBS = words(
    "deploy configure restart migrate debug optimize refactor test build install upgrade "
    "monitor scale cache index query parse serialize validate authenticate log trace profile "
    "benchmark merge review fix patch rewrite split batch retry throttle schedule rotate "
    "encrypt compress replicate shard partition vacuum analyze tune document measure"
)
ADJECTIVES = words(
    "slow fast stale broken flaky idle empty large small new old default custom remote local "
    "primary secondary async blocking concurrent readonly expired missing duplicate invalid "
    "nightly staging internal external noisy critical"
)
BIGRAMS = [
    "load balancer", "rate limit", "health check", "memory leak",
    "race condition", "foreign key", "query plan", "unit test", "feature flag",
    "service account", "access token", "error rate", "cold start", "dead letter",
    "circuit breaker", "blue green", "hot path", "write ahead", "garbage collection",
]  # fmt: skip
USER_TEMPLATES = [
    "How do I {verb} the {noun} in {tool}?",
    "The {adj} {noun} keeps failing after we {verb} {tool}.",
    "Can you explain why the {noun} {noun2} is {adj} on {tool}?",
    "I think we should {verb} the {bigram} before the {adj} {noun} release.",
    "Our {tool} {noun} shows a {adj} {bigram} when the {noun2} is under load.",
    "What is the best way to {verb} a {adj} {noun} with {tool} and {tool2}?",
    "Is it safe to {verb} the {noun} while the {bigram} is still {adj}?",
    "Yesterday the {noun} on {tool} went {adj} again and nobody noticed the {noun2}.",
]
ASSISTANT_TEMPLATES = [
    "Try to {verb} the {noun} with {tool} and check the {bigram} settings.",
    "First {verb} the {noun}, then {verb2} the {tool} {noun2} and watch the {noun3} metrics.",
    "It looks like the {bigram} in {tool} is {adj} because the {noun} was never tuned.",
    "A {adj} {noun} usually means the {noun2} is waiting on a {bigram}.",
    "You can {verb} each {noun} in a {adj} {noun2}, which keeps the {bigram} small.",
    "In {tool}, the {noun} and the {noun2} share one {bigram}, so {verb} them together.",
    "Set the {noun} {noun2} in {tool} to a lower value and {verb} the {adj} {noun3}.",
    "The {tool} documentation suggests to {verb} the {noun} before you {verb2} the {noun2}.",
    "This is a known {noun} in {tool} {version}: {verb} the {bigram} or upgrade to {version2}.",
]
# Planted at fixed rates (share of messages), so that the shapes match the issue's: a medium
# word (~0.2% of messages), a two-word phrase (~0.5%) and the words behind the prefix "kube*".
PLANTED = [
    (0.0021, "behind pgbouncer"),
    (0.0051, "the connection pool"),
    (0.0021, "on kubernetes"),
    (0.0006, "with kubectl"),
]
FILLERS = ["Thanks.", "Also,", "In my experience,", "For example,", "Honestly,", "Then", "So"]
SYLLABLES = words("ka zo rim bel tur vex quo nad fio lum sar pex dri mog yul kes")


class Zipf:
    """Draws from a list with weights 1/rank (a shuffled rank order per seed)."""

    def __init__(self, rng: random.Random, words: list[str], exponent: float = 1.0) -> None:
        self.words = words[:]
        rng.shuffle(self.words)
        self.cumulative = list(
            itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(len(self.words)))
        )
        self.rng = rng

    def __call__(self) -> str:
        pick = self.rng.random() * self.cumulative[-1]
        return self.words[bisect.bisect(self.cumulative, pick)]


class Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tool, self.noun, self.verb = Zipf(rng, TOOLS), Zipf(rng, NOUNS), Zipf(rng, VERBS)
        self.adj, self.bigram = Zipf(rng, ADJECTIVES), Zipf(rng, BIGRAMS, 0.8)

    def sentence(self, templates: list[str]) -> str:
        rng = self.rng
        return rng.choice(templates).format(
            tool=self.tool(), tool2=self.tool(), noun=self.noun(), noun2=self.noun(),
            noun3=self.noun(), verb=self.verb(), verb2=self.verb(), adj=self.adj(),
            bigram=self.bigram(), version=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}",
            version2=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}",
        )  # fmt: skip

    def message(self, role: str, codename: str | None) -> str:
        rng = self.rng
        templates = USER_TEMPLATES if role == "user" else ASSISTANT_TEMPLATES
        target = rng.randint(5, 80)
        words: list[str] = []
        while len(words) < target:
            if words and rng.random() < 0.15:
                words.append(rng.choice(FILLERS))
            words.extend(self.sentence(templates).split())
        words = words[:target]
        for share, fragment in PLANTED:
            if rng.random() < share:
                words[rng.randrange(len(words) + 1) : 0] = fragment.split()
        if codename:
            words.insert(rng.randrange(len(words) + 1), codename)
        return " ".join(words)


def codename(index: int) -> str:
    """A made-up project name per user: a word that only its owner ever writes (rare term)."""
    a, b, c = SYLLABLES, SYLLABLES[::-1], SYLLABLES[3:] + SYLLABLES[:3]
    return a[index % 16] + b[(index // 16) % 16] + c[(index // 256) % 16] + "ix"


# --- building the dataset --------------------------------------------------------------------


def build(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from conversations.models import Conversation, Message

    started = time.perf_counter()
    rng = random.Random(SEED)
    writer = Writer(rng)
    User = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Message._meta.db_table}, {Conversation._meta.db_table} CASCADE")
    User.objects.filter(username__startswith="bench-").delete()
    names = [HEAVY] + [f"bench-light-{n:03d}" for n in range(1, args.users)]
    User.objects.bulk_create(User(username=name, password=make_password(None)) for name in names)
    users = {u.username: u.pk for u in User.objects.filter(username__in=names)}

    # Conversations: the heavy user owns half; the rest are spread over the light users.
    per_conversation = args.messages // args.conversations
    now = dt.datetime.now(dt.UTC)
    conversations: list[dict[str, Any]] = []
    for index in range(args.conversations):
        owner = HEAVY if index % 2 == 0 else names[1 + (index // 2) % (len(names) - 1)]
        count = rng.randint(per_conversation // 2, per_conversation * 3 // 2)
        start = now - dt.timedelta(days=365) + dt.timedelta(seconds=rng.uniform(0, 364 * 86400))
        conversations.append(
            {
                "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                "owner": owner,
                "count": count,
                "start": start,
            }
        )
    # Adjust the counts so the total is exactly --messages.
    total = sum(c["count"] for c in conversations)
    for conversation in itertools.cycle(conversations):
        if total == args.messages:
            break
        step = 1 if total < args.messages else -1
        if conversation["count"] + step >= 2:
            conversation["count"] += step
            total += step
    # Codenames: each user's own rare word, in about ten of their messages.
    owned = Counter(c["owner"] for c in conversations)
    user_messages = Counter[str]()
    for c in conversations:
        user_messages[c["owner"]] += c["count"]
    codenames = {name: codename(i) for i, name in enumerate(names)}

    def timeline(conversation: dict[str, Any]) -> Iterator[tuple[dt.datetime, int, dict[str, Any]]]:
        at = conversation["start"]
        for sequence in range(1, conversation["count"] + 1):
            at += dt.timedelta(seconds=rng.uniform(5, 900))
            yield at, sequence, conversation

    heavy_words = Counter[str]()
    searchable = Counter[str]()
    message_columns = _insertable_columns(Message._meta.db_table)
    conversation_columns = _insertable_columns(Conversation._meta.db_table)
    last_at: dict[uuid.UUID, dt.datetime] = {}
    titles: dict[uuid.UUID, str] = {}
    print(f"writing {args.messages:,} messages in time order with COPY…", flush=True)
    with connection.cursor() as cursor:
        index_definitions = _drop_secondary_indexes(cursor, Message._meta.db_table)
        cursor.execute("SET session_replication_role = replica")  # no FK triggers during COPY
        merged = heapq.merge(*(timeline(c) for c in conversations), key=lambda item: item[0])
        copy_sql = f"COPY {Message._meta.db_table} ({', '.join(message_columns)}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for written, (at, sequence, conversation) in enumerate(merged, 1):
                owner = conversation["owner"]
                role = _role(rng, sequence)
                rare = codenames[owner] if rng.random() < 12 / user_messages[owner] else None
                content, tool_name, provider, model = _content(writer, rng, role, rare)
                if role in ("user", "assistant"):
                    searchable[owner] += 1
                    if owner == HEAVY:
                        heavy_words.update(_terms(content))
                if sequence == 1 or conversation["id"] not in titles:
                    titles[conversation["id"]] = content[:80]
                last_at[conversation["id"]] = at
                values = {
                    "id": uuid.UUID(int=rng.getrandbits(128), version=4),
                    "conversation_id": conversation["id"],
                    "owner_id": users[owner],
                    "sequence": sequence,
                    "role": role,
                    "content": content,
                    "status": "complete",
                    "tool_call_id": f"call_{sequence}" if role.startswith("tool") else "",
                    "tool_name": tool_name,
                    "is_error": False,
                    "provider": provider,
                    "model": model,
                    "token_estimate": max(1, len(content) // 4),
                    "client_id": "",
                    "metadata": "{}",
                    "created_at": at,
                }
                copy.write_row([values[column] for column in message_columns])
                if written % 100_000 == 0:
                    print(f"  {written:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        with cursor.cursor.copy(
            f"COPY {Conversation._meta.db_table} ({', '.join(conversation_columns)}) FROM STDIN"
        ) as copy:
            for c in conversations:
                values = {
                    "id": c["id"],
                    "owner_id": users[c["owner"]],
                    "title": titles.get(c["id"], ""),
                    "agent_slug": "",
                    "archived": False,
                    "last_sequence": c["count"],
                    "created_at": c["start"],
                    "updated_at": last_at.get(c["id"], c["start"]),
                }
                copy.write_row([values[column] for column in conversation_columns])
        cursor.execute("SET session_replication_role = origin")
        loaded = time.perf_counter() - started
        print(f"loaded in {loaded:.0f} s; building indexes…", flush=True)
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for definition in index_definitions:
            cursor.execute(definition)
    indexed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {Message._meta.db_table}")
        cursor.execute(f"VACUUM (ANALYZE) {Conversation._meta.db_table}")
    print(f"indexes built at {indexed:.0f} s, vacuumed at {time.perf_counter() - started:.0f} s")

    manifest = {
        "messages": args.messages,
        "conversations": args.conversations,
        "users": args.users,
        "owned_conversations": {HEAVY: owned[HEAVY], LIGHT: owned[LIGHT]},
        "searchable_messages": {HEAVY: searchable[HEAVY], LIGHT: searchable[LIGHT]},
        "load_seconds": round(loaded),
        "total_seconds": round(time.perf_counter() - started),
        "terms": _pick_terms(heavy_words, searchable[HEAVY]),
        "codenames": {HEAVY: codenames[HEAVY], LIGHT: codenames[LIGHT]},
    }
    (state / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _role(rng: random.Random, sequence: int) -> str:
    if sequence % 2 == 1:
        return "user"
    draw = rng.random()
    if draw < 0.12:
        return "tool_call"
    if draw < 0.24:
        return "tool_result"
    if draw < 0.28:
        return "thinking"
    return "assistant"


def _content(
    writer: Writer, rng: random.Random, role: str, rare: str | None
) -> tuple[str, str, str, str]:
    if role == "tool_call":
        return "", "conversation_search", "anthropic", "claude-sonnet-4-6"
    if role == "tool_result":
        body = writer.message("assistant", None)
        return json.dumps({"results": body}), "conversation_search", "", ""
    if role == "thinking":
        return writer.message("assistant", None), "", "anthropic", "claude-sonnet-4-6"
    text = writer.message(role, rare)
    if role == "assistant":
        return text, "", rng.choice(["anthropic", "openai"]), "claude-sonnet-4-6"
    return text, "", "", ""


_WORD = re.compile(r"[a-z0-9]+")


def _terms(content: str) -> set[str]:
    return set(_WORD.findall(content.lower()))


def _pick_terms(df: Counter[str], total: int) -> dict[str, str]:
    """The query of each shape: the planted words, and the filler word nearest the issue's
    frequent one (in ~9% of the heavy user's messages)."""
    vocabulary = set(NOUNS) | set(TOOLS) | set(VERBS)

    def nearest(candidates: set[str], share: float) -> str:
        return min(candidates, key=lambda word: abs(df[word] / total - share))

    return {
        "frequent": nearest(vocabulary, 0.09),
        "medium": "pgbouncer",
        "phrase": '"connection pool"',
        "prefix": "kube*",
        "frequent prefix": "con*",
    }


def common_term() -> str:
    """A word in about 1% of the heavy user's messages: thousands of matches, too many to read
    them all and too few for the newest days alone to fill the window."""
    from django.db import connection

    sample = (
        "SELECT m.search_vector FROM conversations_message m TABLESAMPLE SYSTEM (2) REPEATABLE (7) "
        "JOIN conversations_conversation c ON c.id = m.conversation_id JOIN auth_user u "
        "ON u.id = c.owner_id WHERE u.username = 'bench-heavy' AND m.role IN ('user', 'assistant')"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sample}) s")  # noqa: S608 - a constant
        total = cursor.fetchone()[0]
        cursor.execute("SELECT word, ndoc FROM ts_stat(%s)", [sample])
        counts: dict[str, int] = {
            str(word): int(n) for word, n in cursor.fetchall() if word.isalpha() and len(word) > 3
        }
    return min(counts, key=lambda word: abs(counts[word] / total - 0.01))


def _insertable_columns(table: str) -> list[str]:
    """The table's columns that COPY must fill: not generated, and NOT NULL or known."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable, is_generated FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            [table],
        )
        rows = cursor.fetchall()
    columns = [name for name, nullable, generated in rows if generated == "NEVER"]
    optional = {name for name, nullable, _ in rows if nullable == "YES"}
    return [c for c in columns if c not in optional or c == "owner_id"]


def _drop_secondary_indexes(cursor: Any, table: str) -> list[str]:
    """Drop the indexes that back no constraint (faster to build once after COPY)."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        [table],
    )
    rows = cursor.fetchall()
    for name, _ in rows:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]
