"""Conversation search at a million messages: p50/p95/max through REST (daphne) and in process.

Builds, once, a dataset in its own state directory (default ``var/bench-search``, its own
embedded PostgreSQL and Redis): 100 users, 10,000 conversations (one heavy user owns half of
them), 1,000,000 messages of generated technical English (5 to 80 words each), written in time
order with COPY. The dataset is kept between runs; ``--rebuild`` makes it again. Then, for a
light and the heavy user, it times every query shape (rare, medium and frequent word, a
two-word phrase, no match, a prefix, a frequent prefix) through ``GET /api/conversations/search``
on a daphne process and through Django's test client in this process, and the HTTP floor
(``/healthz``, an authenticated ``/api/auth/me``). ``--plans`` prints EXPLAIN (ANALYZE, BUFFERS)
of the SQL behind the slowest shape. Not a test: run it by hand, niced, on a quiet machine.

    nice -n 19 .venv/bin/python bench/bench_search.py [--runs 30] [--plans] [--rebuild]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import heapq
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench-search"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

SEED = 20
HEAVY = "bench-heavy"
LIGHT = "bench-light-001"
NO_MATCH = "xylographer"
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


# --- measuring -------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Probe:
    who: str  # light, heavy or any
    shape: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    user: str | None = None  # whose token; None: unauthenticated
    follow_next: bool = False  # time the page that the first answer's `next` links to
    rest: list[float] = field(default_factory=list)
    local: list[float] = field(default_factory=list)
    matches: int | None = None
    shown: int | None = None
    connections: float = 0.0  # new PostgreSQL sessions per REST request

    @property
    def query(self) -> str:
        return self.params.get("q", "")


def probes(manifest: dict[str, Any]) -> list[Probe]:
    terms = manifest["terms"]
    found: list[Probe] = [
        Probe("any", "GET /healthz", "/healthz"),
        Probe("any", "GET /api/auth/me", "/api/auth/me", user=LIGHT),
    ]
    search = "/api/conversations/search"
    for user in (LIGHT, HEAVY):
        who = "light" if user == LIGHT else "heavy"
        queries = [("rare", manifest["codenames"][user])]
        queries += [(shape, terms[shape]) for shape in ("medium", "common", "frequent", "phrase")]
        queries += [("no match", NO_MATCH), ("prefix", terms["prefix"])]
        queries += [("frequent prefix", terms["frequent prefix"])]
        found += [Probe(who, shape, search, {"q": q}, user) for shape, q in queries]
        found.append(Probe(who, "as you type", search, {"q": "connection poo", "as_you_type": "true"}, user))  # fmt: skip
        found.append(Probe(who, "frequent, page 2", search, {"q": terms["frequent"]}, user, True))
    return found


def database_sessions() -> int:
    """Sessions ever opened on this database: how many connections the server made."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def time_calls(call: Callable[[], Any], runs: int, warmup: int) -> tuple[list[float], Any]:
    result = None
    for _ in range(warmup):
        result = call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def fmt(samples: list[float]) -> str:
    return f"{pct(samples, 0.5):7.1f} {pct(samples, 0.95):7.1f} {max(samples):7.1f}"


def match_count(user_id: int, query: str) -> int:
    """How many of the user's user/assistant messages match (counted once, not timed)."""
    from django.db import connection

    prefix = " & ".join(query.split()).replace("*", ":*") if query.endswith("*") else None
    match = (
        "(to_tsquery('english', %(q)s) || to_tsquery('simple', %(q)s))"
        if prefix
        else "websearch_to_tsquery('english', %(q)s)"
    )
    # `match` is one of two constant strings; the user's query is a parameter.
    sql = (
        "SELECT count(*) FROM conversations_message m JOIN conversations_conversation c "  # noqa: S608
        "ON c.id = m.conversation_id WHERE c.owner_id = %(user)s "
        f"AND m.role IN ('user', 'assistant') AND m.search_vector @@ {match}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {"user": user_id, "q": prefix or query})
        return int(cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--rebuild", action="store_true", help="build the dataset again")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--plans", action="store_true", help="EXPLAIN the slowest shape")
    parser.add_argument("--only", default="", help="run only shapes whose name contains this")
    parser.add_argument(
        "--server-times",
        action="store_true",
        help="also print PostgreSQL's own planning and execution time of each search",
    )
    args = parser.parse_args()

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    with EmbeddedServices(state):
        import django

        django.setup()
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=1)
        print(f"migrated in {time.perf_counter() - started:.1f} s")
        manifest_path = state / MANIFEST
        if args.rebuild or not manifest_path.exists():
            manifest = build(args, state)
        else:
            manifest = json.loads(manifest_path.read_text())
        if "common" not in manifest["terms"]:
            manifest["terms"]["common"] = common_term()
            manifest_path.write_text(json.dumps(manifest, indent=2))
        print(json.dumps({k: manifest[k] for k in ("messages", "terms", "codenames")}))
        if not args.build_only:
            measure(args, manifest, state)
            if args.server_times:
                server_times(manifest, args)


def measure(args: argparse.Namespace, manifest: dict[str, Any], state: Path) -> None:
    import httpx
    from django.contrib.auth import get_user_model

    from accounts.services import token_create

    users = {u.username: u for u in get_user_model().objects.filter(username__in=[HEAVY, LIGHT])}
    tokens = {name: token_create(user=user, name="bench")[1] for name, user in users.items()}
    todo = [p for p in probes(manifest) if args.only in p.shape]
    # As `mosaic run` starts it; its access log (one line per request) goes to a file here.
    with open(state / "bench-daphne.log", "ab") as log:
        daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(args.port),
             "--proxy-headers", "mosaic.asgi:application"],
            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=log, stderr=log,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{args.port}"
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                time.sleep(0.1)
            print(f"\nload average {os.getloadavg()[0]:.1f}; {args.runs} runs per shape, ms")
            print(f"{'user':<6} {'shape':<18} {'query':<20} {'matches':>8} {'shown':>6}  "
                  f"{'REST p50':>8} {'p95':>7} {'max':>7}  {'in-proc p50':>11} {'p95':>7} {'max':>7}  "
                  "new db connections/request")  # fmt: skip
            for probe in todo:
                run_probe(probe, base, tokens, users, args)
        finally:
            daphne.terminate()
            try:
                daphne.wait(30)
            except subprocess.TimeoutExpired:  # a loaded machine: stop it the hard way
                daphne.kill()
                daphne.wait()
    if args.plans:
        print_plans(
            max((p for p in todo if p.matches is not None), key=lambda p: pct(p.rest, 0.95)), tokens
        )
    summary = {
        f"{p.who} {p.shape}": {
            "query": p.query,
            "matches": p.matches,
            "rest_p50": round(pct(p.rest, 0.5), 1),
            "rest_p95": round(pct(p.rest, 0.95), 1),
            "rest_max": round(max(p.rest), 1),
            "local_p50": round(pct(p.local, 0.5), 1),
            "local_p95": round(pct(p.local, 0.95), 1),
            "connections_per_request": round(p.connections, 2),
        }
        for p in todo
        if p.rest
    }
    print("\n" + json.dumps(summary, indent=1))


def run_probe(
    probe: Probe, base: str, tokens: dict[str, str], users: dict[str, Any], args: argparse.Namespace
) -> None:
    import httpx
    from django.test import Client

    headers = {"Authorization": f"Bearer {tokens[probe.user]}"} if probe.user else {}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        url, params = probe.path, probe.params
        if probe.follow_next:
            first = http.get(url, params=params).json()
            if not first.get("next"):
                print(f"{probe.who:<6} {probe.shape:<18} no next page")
                return
            parts = urlsplit(first["next"])
            url, params = parts.path, dict(parse_qsl(parts.query))
        opened = database_sessions()
        probe.rest, response = time_calls(
            lambda: http.get(url, params=params), args.runs, args.warmup
        )
        probe.connections = (database_sessions() - opened) / (args.runs + args.warmup)
    client = Client(HTTP_HOST="localhost", headers=headers)
    probe.local, _ = time_calls(lambda: client.get(url, params), args.runs, args.warmup)
    if response.status_code != 200:
        print(
            f"{probe.who:<6} {probe.shape:<18} HTTP {response.status_code}: {response.text[:200]}"
        )
        probe.rest = []
        return
    if probe.query and probe.user:
        body = response.json()
        probe.shown = len(body.get("results", []))
        query = probe.query + ("*" if probe.params.get("as_you_type") else "")
        probe.matches = match_count(users[probe.user].pk, query)
    matches = "" if probe.matches is None else f"{probe.matches:,}"
    shown = "" if probe.shown is None else str(probe.shown)
    print(f"{probe.who:<6} {probe.shape:<18} {probe.query:<20} {matches:>8} {shown:>6}  "
          f"{fmt(probe.rest)}  {'':>4}{fmt(probe.local)}  {probe.connections:5.2f}", flush=True)  # fmt: skip


def print_plans(probe: Probe, tokens: dict[str, str]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every query the slowest search ran on the messages table."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    print(f"\nplans of the slowest shape: {probe.who} {probe.shape} {probe.query!r}")
    assert probe.user is not None
    client = Client(
        HTTP_HOST="localhost", headers={"Authorization": f"Bearer {tokens[probe.user]}"}
    )
    with CaptureQueriesContext(connection) as queries:
        client.get(probe.path, probe.params)
    for query in queries.captured_queries:
        if "conversations_message" not in query["sql"]:
            continue
        print(f"\n-- {query['time']} s\n{query['sql']}\n")
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


def server_times(manifest: dict[str, Any], args: argparse.Namespace) -> None:
    """EXPLAIN (ANALYZE) of each search statement: what PostgreSQL spends, without the hops
    between processes that a loaded machine makes slow (median of ``--runs``, after one)."""
    import statistics

    from django.contrib.auth import get_user_model
    from django.db import connection

    from conversations.search import SearchCursor, parse_query, search_sql

    print("\n| user | shape | query | planning ms | execution ms, median | max |")
    print("| --- | --- | --- | --- | --- | --- |")
    users = {u.username: u for u in get_user_model().objects.filter(username__in=[HEAVY, LIGHT])}
    for probe in probes(manifest):
        if not probe.user or "q" not in probe.params or probe.follow_next:
            continue
        parsed = parse_query(probe.params["q"], as_you_type="as_you_type" in probe.params)
        sql, params = search_sql(
            parsed, owner_id=users[probe.user].pk, cursor=SearchCursor(), window=200, page_size=50
        )
        planning, execution = [], []
        with connection.cursor() as cursor:
            for _ in range(args.runs + 1):
                cursor.execute("EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                planning.append(float(re.findall(r"Planning Time: ([\d.]+)", plan)[0]))
                execution.append(float(re.findall(r"Execution Time: ([\d.]+)", plan)[0]))
        planning, execution = planning[1:], execution[1:]
        print(f"| {probe.who} | {probe.shape} | `{probe.query}` | {statistics.median(planning):.1f} "
              f"| {statistics.median(execution):.1f} | {max(execution):.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
