"""Conversation search at a million messages: p50/p95/max through REST (daphne) and in process.

Builds, once, a dataset (``search_dataset.py``) in its own state directory (default
``var/bench-search``, its own embedded PostgreSQL and Redis): 100 users, 10,000 conversations
(one heavy user owns half of them), 1,000,000 messages of generated technical English (5 to 80
words each), written in time order with COPY. The dataset is kept between runs; ``--rebuild`` makes it again. Then, for a
light and the heavy user, it times every query shape (rare, medium and frequent word, a
two-word phrase, no match, a prefix, a frequent prefix) through ``GET /api/conversations/search``
on a daphne process and through Django's test client in this process, and the HTTP floor
(``/healthz``, an authenticated ``/api/auth/me``). ``--plans`` prints EXPLAIN (ANALYZE, BUFFERS)
of the SQL behind the slowest shape. Not a test: run it by hand, niced, on a quiet machine.

    nice -n 19 .venv/bin/python bench/bench_search.py [--runs 30] [--plans] [--rebuild]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from search_dataset import HEAVY, LIGHT, MANIFEST, build, common_term  # this folder is on the path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench-search"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

NO_MATCH = "xylographer"


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
