"""Turn cost, side by side: a raw HTTP client, LiteLLM's proxy and Mosaic, against one fake
Anthropic upstream (a 60-word reply in 8-character SSE chunks, no delay), interleaved round by
round, in several passes, at concurrency 1 and 10.

  raw      httpx straight to the fake's /v1/messages (the floor: what the upstream itself costs)
  litellm  httpx → LiteLLM's proxy (stateless, no database; installed by this script into a
           virtualenv of its own under var/bench/litellm, never a project dependency) → the fake
  mosaic   a websocket client → daphne → the whole chat turn (persist, classify, route with the
           model pinned, context, stream, persist, message:done) → the fake

For each target: added time to first token and to the end of the turn (the target's p50/p99
minus the raw client's, in the same pass), and CPU per turn: utime + stime of all the target's
processes (Mosaic: daphne, PostgreSQL and Redis; LiteLLM: the proxy) over the pass, divided by
the turns. Not a test: run it by hand on an idle machine (docs/performance.md, "Turn cost").

    MOSAIC_STATE_DIR=var/bench .venv/bin/python bench/bench_turn_cost.py [--passes 5]
        [--rounds 40] [--rounds-10 8] [--no-litellm] [--profile var/bench/daphne.txt] [--floor]
        [--db-statements]

``--profile`` samples daphne with py-spy (installed beside LiteLLM) during the whole run and
prints the functions that used the most CPU themselves; ``--idle-sockets N`` then opens N idle
authenticated sockets and reports daphne's memory per socket; ``--floor`` then measures the
provider call alone (the SDK and httpx, in this process) and a websocket frame in and out
through daphne (a ping), each one's CPU; ``--db-statements`` has the embedded PostgreSQL log
each statement's CPU (``log_statement_stats``) and prints the costliest per turn (a diagnostic:
the logging inflates the run's own figures).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import websockets
from django.db import connection

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_relay import MODEL, ROOT, mosaic_with_fake, pct

from mosaic.services import default_state_dir, postgres_dir
from providers.adapters.anthropic import AnthropicAdapter
from providers.adapters.base import ChatMessage, ChatRequest, ResolvedCredential

TOOLS = ROOT / "var" / "bench" / "litellm"
LITELLM_KEY = "sk-bench-" + "0" * 32  # the proxy refuses to start without a master key
PROMPT = [{"role": "user", "content": "hello"}]

ProcessFinder = Callable[[], list[psutil.Process]]


# --- the three targets ----------------------------------------------------------------------------


class Raw:
    name = "raw"

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=60)

    async def turn(self) -> tuple[float, float]:
        body = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": PROMPT}
        headers = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
        start, first = time.perf_counter(), None
        async with self.client.stream("POST", "/v1/messages", json=body, headers=headers) as r:
            async for line in r.aiter_lines():
                if first is None and line.startswith("data:") and '"text_delta"' in line:
                    first = time.perf_counter()
        end = time.perf_counter()
        return ((first or end) - start) * 1000, (end - start) * 1000


class LiteLLM:
    name = "litellm"

    def __init__(self, base_url: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {LITELLM_KEY}"}
        )

    async def turn(self) -> tuple[float, float]:
        body = {"model": MODEL, "max_tokens": 1024, "stream": True, "messages": PROMPT}
        start, first = time.perf_counter(), None
        async with self.client.stream("POST", "/v1/chat/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if first is None and line.startswith("data:") and '"content":"' in line:
                    first = time.perf_counter()
        end = time.perf_counter()
        return ((first or end) - start) * 1000, (end - start) * 1000


class Mosaic:
    """One websocket per worker, each in a conversation of its own with the model pinned."""

    name = "mosaic"

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, token: str) -> Mosaic:
        ws = await websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None
        )
        await ws.send(json.dumps({"type": "conversation:open", "model": f"anthropic:{MODEL}"}))
        for _ in range(2):  # session:info and the (empty) history
            await ws.recv()
        return cls(ws)

    async def turn(self) -> tuple[float, float]:
        frame = {"type": "message:send", "content": "hello", "client_id": uuid.uuid4().hex}
        start, first = time.perf_counter(), None
        await self.ws.send(json.dumps(frame))
        while True:
            event = json.loads(await self.ws.recv())
            kind = event["type"]
            if kind == "message:delta" and first is None:
                first = time.perf_counter()
            elif kind == "message:done":
                break
            elif kind == "error":
                raise RuntimeError(event)
        end = time.perf_counter()
        return ((first or end) - start) * 1000, (end - start) * 1000


# --- processes and their CPU ----------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    """utime + stime of each process, by pid (seconds)."""
    seconds = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def postmaster_pid() -> int | None:
    """The embedded PostgreSQL of MOSAIC_STATE_DIR: it daemonizes (its parent is init), so it
    and its backends are found through its pid file, not among this script's children."""
    pid_file = postgres_dir(default_state_dir()) / "postmaster.pid"
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def mosaic_processes(daphne_pid: int) -> dict[str, ProcessFinder]:
    """daphne; the embedded PostgreSQL (its postmaster and every backend) and Redis. Found again
    at the end of each pass: the database pool may open backends during it."""

    def postgres_and_redis() -> list[psutil.Process]:
        pid = postmaster_pid()
        found = tree(pid) if pid is not None else []
        for child in psutil.Process().children(recursive=True):
            if "redis" in " ".join(child.cmdline()[:1]):
                found.append(child)
        return found

    return {"daphne": lambda: tree(daphne_pid), "db+redis": postgres_and_redis}


def ensure_tools() -> Path:
    """LiteLLM's proxy and py-spy, in a virtualenv of their own (never project dependencies)."""
    python = TOOLS / "bin" / "python"
    if not (TOOLS / "bin" / "litellm").exists():
        print(f"installing LiteLLM's proxy and py-spy into {TOOLS} (once) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "litellm[proxy]", "py-spy"], check=True
        )
    return TOOLS / "bin"


def start_litellm(bin_dir: Path, upstream: str, port: int) -> subprocess.Popen[bytes]:
    config = Path(tempfile.mkdtemp()) / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: anthropic/{MODEL}\n"
        f"      api_base: {upstream}\n"
        "      api_key: bench\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    process = subprocess.Popen(
        [
            str(bin_dir / "litellm"),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(1200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("LiteLLM's proxy did not start")


# --- the run ----------------------------------------------------------------------------------------

Samples = dict[str, list[tuple[float, float]]]


async def one_pass(
    targets: dict[str, list[Any]],
    cpu_groups: dict[str, ProcessFinder],
    rounds: int,
) -> tuple[Samples, dict[str, float]]:
    """Round by round, each target in turn runs one turn on each of its workers at once. CPU:
    each process's time at the end minus at the start (a process that started meanwhile counts
    whole)."""
    samples: Samples = collections.defaultdict(list)
    before = {name: cpu_by_pid(find()) for name, find in cpu_groups.items()}
    for _ in range(rounds):
        for name, workers in targets.items():
            samples[name] += await asyncio.gather(*(w.turn() for w in workers))
    cpu = {}
    for name, find in cpu_groups.items():
        after = cpu_by_pid(find())
        cpu[name] = sum(t - before[name].get(pid, 0.0) for pid, t in after.items()) * 1000
    return samples, cpu


def report(concurrency: int, passes: list[tuple[Samples, dict[str, float]]]) -> dict[str, Any]:
    print(f"\nconcurrency {concurrency}:")
    header = (
        "  pass target   TTFT p50  TTFT p99  total p50 | added TTFT p50   p99  total p50 | CPU/turn"
    )
    print(header)
    rows: dict[str, Any] = collections.defaultdict(list)
    for number, (samples, cpu) in enumerate(passes, 1):
        raw = samples["raw"]
        raw_ttft, raw_total = pct([t for t, _ in raw], 0.5), pct([x for _, x in raw], 0.5)
        raw_ttft99 = pct([t for t, _ in raw], 0.99)
        for name, values in samples.items():
            ttft = [t for t, _ in values]
            total = [x for _, x in values]
            turns = len(values)
            if name == "mosaic":
                cpu_turn = (cpu["daphne"] + cpu["db+redis"]) / turns
                cpu_note = (
                    f"{cpu_turn:6.1f} ms (daphne {cpu['daphne'] / turns:.1f}, "
                    f"db+redis {cpu['db+redis'] / turns:.1f})"
                )
            elif name == "litellm":
                cpu_turn = cpu["litellm"] / turns
                cpu_note = f"{cpu_turn:6.1f} ms"
            else:
                cpu_turn, cpu_note = 0.0, ""
            row = {
                "ttft_p50": pct(ttft, 0.5),
                "ttft_p99": pct(ttft, 0.99),
                "total_p50": pct(total, 0.5),
                "added_ttft_p50": pct(ttft, 0.5) - raw_ttft,
                "added_ttft_p99": pct(ttft, 0.99) - raw_ttft99,
                "added_total_p50": pct(total, 0.5) - raw_total,
                "cpu_per_turn_ms": cpu_turn,
                **(
                    {
                        "cpu_daphne_ms": cpu["daphne"] / turns,
                        "cpu_db_redis_ms": cpu["db+redis"] / turns,
                    }
                    if name == "mosaic"
                    else {}
                ),
                "turns": turns,
            }
            rows[name].append(row)
            added = (
                ""
                if name == "raw"
                else f"{row['added_ttft_p50']:9.1f} {row['added_ttft_p99']:9.1f} "
                f"{row['added_total_p50']:9.1f}"
            )
            print(
                f"  {number:>4} {name:<8} {row['ttft_p50']:8.1f} {row['ttft_p99']:9.1f} "
                f"{row['total_p50']:10.1f} | {added:<29} | {cpu_note}"
            )
    return rows


@dataclass(frozen=True)
class Targets:
    upstream: str
    ws_url: str
    token: str
    daphne_pid: int
    litellm_url: str | None = None
    litellm_pid: int | None = None


async def run(args: argparse.Namespace, t: Targets) -> dict[str, Any]:
    upstream, litellm_url, ws_url, token = t.upstream, t.litellm_url, t.ws_url, t.token
    groups = mosaic_processes(t.daphne_pid)
    if t.litellm_pid is not None:
        litellm_pid = t.litellm_pid
        groups["litellm"] = lambda: tree(litellm_pid)
    results: dict[str, Any] = {}
    for concurrency, rounds in ((1, args.rounds), (10, args.rounds_10)):
        if rounds <= 0:
            continue
        passes = []
        for _ in range(args.passes):
            targets: dict[str, list[Any]] = {"raw": [Raw(upstream) for _ in range(concurrency)]}
            if litellm_url:
                targets["litellm"] = [LiteLLM(litellm_url) for _ in range(concurrency)]
            targets["mosaic"] = [await Mosaic.connect(ws_url, token) for _ in range(concurrency)]
            await one_pass(targets, {}, 2)  # warm every connection
            passes.append(await one_pass(targets, groups, rounds))
            for worker in targets["mosaic"]:
                await worker.ws.close()
        results[str(concurrency)] = report(concurrency, passes)
    return results


async def floor(upstream: str, ws_url: str, token: str, daphne_pid: int) -> dict[str, float]:
    """What two parts every turn must use cost on their own, after the passes, nothing else
    running: the provider call (the Anthropic adapter: the official SDK sends the request, its
    httpx client reads the SSE; in this process, its CPU per call) and a websocket frame in and
    one out through daphne and Channels (a ping; daphne's CPU per round trip). With the passes'
    PostgreSQL and Redis CPU per turn, the part of a turn's cost that is not Mosaic's own code
    (docs/performance.md, "The floor")."""
    adapter, credential = AnthropicAdapter(), ResolvedCredential(api_key="x", base_url=upstream)
    request = ChatRequest(model=MODEL, messages=[ChatMessage(role="user", content="hello")])

    async def call() -> None:
        async for _ in adapter.stream(request, credential):
            pass

    for _ in range(20):  # warm the client's connection
        await call()
    calls, started = 300, time.process_time()
    for _ in range(calls):
        await call()
    provider_ms = (time.process_time() - started) / calls * 1000

    daphne = psutil.Process(daphne_pid)
    pings = 2000
    async with websockets.connect(
        ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        for _ in range(100):
            await ws.send('{"type": "ping"}')
            await ws.recv()
        before = sum(daphne.cpu_times()[:2])
        for _ in range(pings):
            await ws.send('{"type": "ping"}')
            await ws.recv()
        ping_ms = (sum(daphne.cpu_times()[:2]) - before) / pings * 1000
    mosaic = await Mosaic.connect(ws_url, token)  # the frames one turn sends its client
    frames = 0
    frame = {"type": "message:send", "content": "hello", "client_id": uuid.uuid4().hex}
    await mosaic.ws.send(json.dumps(frame))
    while json.loads(await asyncio.wait_for(mosaic.ws.recv(), 30))["type"] not in (
        "message:done",
        "error",
    ):
        frames += 1
    await mosaic.ws.close()
    print(
        f"\nfloor: the provider call alone (SDK + httpx, same reply) {provider_ms:.2f} ms of CPU; "
        f"a websocket frame in and one out through daphne (a ping) {ping_ms:.3f} ms; "
        f"a turn sends its client {frames + 1} frames"
    )
    return {"provider_call_cpu_ms": provider_ms, "ping_cpu_ms": ping_ms, "frames": frames + 1}


async def idle_sockets(ws_url: str, token: str, count: int, daphne_pid: int) -> dict[str, float]:
    daphne = psutil.Process(daphne_pid)
    before = daphne.memory_info().rss
    sockets = []
    for _ in range(count):
        ws = await websockets.connect(
            ws_url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60
        )
        await ws.send(json.dumps({"type": "ping"}))
        await ws.recv()
        sockets.append(ws)
    await asyncio.sleep(2)
    after = daphne.memory_info().rss
    pong = 0.0
    start = time.perf_counter()
    await sockets[0].send(json.dumps({"type": "ping"}))
    await sockets[0].recv()
    pong = (time.perf_counter() - start) * 1000
    for ws in sockets:
        await ws.close()
    per_socket = (after - before) / count / 1024
    print(
        f"\n{count} idle sockets: daphne RSS +{(after - before) / 2**20:.1f} MiB, "
        f"{per_socket:.1f} KB per socket; a ping on one of them {pong:.1f} ms"
    )
    return {"sockets": count, "kb_per_socket": per_socket, "ping_ms": pong}


def top_of_profile(path: Path, limit: int = 25) -> None:
    """py-spy's collapsed stacks → the functions with the most samples of their own."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        total += int(samples)
        own[stack.split(";")[-1]] += int(samples)
    print(f"\nprofile of daphne ({total} samples), self time:")
    for frame, count in own.most_common(limit):
        print(f"  {100 * count / total:5.1f} %  {frame}")


def step_marks(text: str, slowest: int = 5) -> dict[str, float]:
    """The median of each step's mark over all of Mosaic's turns (ms from the frame's arrival)."""
    marks: dict[str, list[float]] = collections.defaultdict(list)
    for match in re.finditer(r"turn \w+: (.*)", text):
        for name, ms in re.findall(r"(\w+)=([\d.]+)ms", match.group(1)):
            marks[name].append(float(ms))
    medians = {name: pct(values, 0.5) for name, values in marks.items()}
    turns = max((len(v) for v in marks.values()), default=0)
    print(f"\nserver-side marks, median of {turns} turns (ms from the frame's arrival):")
    print("  " + "  ".join(f"{name} {ms:.1f}" for name, ms in medians.items()))
    # The tail: the turns whose first token came last, each with all its marks
    lines = [m.group(1) for m in re.finditer(r"turn \w+: (.*)", text)]
    first = [(float(m.group(1)), line) for line in lines if (m := FIRST_TOKEN.search(line))]
    print("the slowest first tokens, with their turns' marks:")
    for _, line in sorted(first, reverse=True)[:slowest]:
        print("  " + line)
    return medians


FIRST_TOKEN = re.compile(r"first_token=([\d.]+)ms")


# --- PostgreSQL's CPU per statement ---------------------------------------------------------------


def statement_stats(on: bool) -> None:
    """Have the embedded PostgreSQL log each statement's resource use (``log_statement_stats``:
    a diagnostic; it adds its own cost to the run's CPU figures)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER SYSTEM SET log_statement_stats = on"
            if on
            else "ALTER SYSTEM RESET log_statement_stats"
        )
        cursor.execute("SELECT pg_reload_conf()")
    connection.close()


STATEMENT_CPU = re.compile(r"([\d.]+) s user, ([\d.]+) s system")
LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")  # strings and numbers


def statement_costs(log: str, turns: int, limit: int = 12) -> dict[str, float]:
    """PostgreSQL's CPU per turn for each statement (literals taken out), from its log."""
    costs: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    cpu = None
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", log):
        if match := STATEMENT_CPU.search(entry):
            cpu = float(match[1]) + float(match[2])
        elif "STATEMENT:" in entry and cpu is not None:
            shape = " ".join(LITERAL.sub("?", entry.split("STATEMENT:", 1)[1]).split())
            costs[shape][0] += 1
            costs[shape][1] += cpu
            cpu = None
    total = sum(seconds for _, seconds in costs.values())
    print(
        f"\nPostgreSQL's CPU per statement over {turns} turns: {total / turns * 1000:.2f} ms a turn"
    )
    ranked = sorted(costs.items(), key=lambda item: -item[1][1])[:limit]
    for shape, (count, seconds) in ranked:
        print(
            f"  {seconds / turns * 1000:6.2f} ms/turn {count / turns:5.2f}x "
            f"{seconds / count * 1e6:6.0f} us each  {shape[:90]}"
        )
    return {shape[:200]: seconds / turns * 1000 for shape, (_, seconds) in ranked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=40, help="turns per pass at concurrency 1")
    parser.add_argument("--rounds-10", type=int, default=8, help="rounds per pass at 10")
    parser.add_argument("--port", type=int, default=8797)
    parser.add_argument("--litellm-port", type=int, default=8796)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy daphne into this collapsed file")
    parser.add_argument("--idle-sockets", type=int, default=0)
    parser.add_argument(
        "--floor", action="store_true", help="the provider call and a ping on their own, after"
    )
    parser.add_argument(
        "--db-statements",
        action="store_true",
        help="PostgreSQL's CPU per statement (log_statement_stats; inflates the CPU figures)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--timing", action="store_true", help="daphne's per-step marks (MOSAIC_LOG_TIMING)"
    )
    args = parser.parse_args()
    log = None
    if args.timing:
        os.environ["MOSAIC_LOG_TIMING"] = "1"
        log = tempfile.NamedTemporaryFile("w+", suffix=".log")  # noqa: SIM115 - read at the end
    bin_dir = ensure_tools() if not args.no_litellm or args.profile else None
    with mosaic_with_fake(args.port, "turn-cost", stderr=log) as (upstream, token, daphne):
        litellm = None
        if not args.no_litellm:
            assert bin_dir is not None
            litellm = start_litellm(bin_dir, upstream, args.litellm_port)
        spy = None
        if args.profile:
            assert bin_dir is not None
            spy = subprocess.Popen(
                [
                    *(str(bin_dir / "py-spy"), "record", "--pid", str(daphne.pid)),
                    *("--format", "raw", "--rate", "200", "--output", str(args.profile)),
                    *("--nonblocking", "--gil"),  # what holds the interpreter: CPU, not waits
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ws_url = f"ws://127.0.0.1:{args.port}/ws/chat/"
        pg_log = postgres_dir(default_state_dir()) / "log"
        pg_log_start = pg_log.stat().st_size if pg_log.exists() else 0
        if args.db_statements:
            statement_stats(True)
        try:
            targets = Targets(
                upstream,
                ws_url,
                token,
                daphne.pid,
                f"http://127.0.0.1:{args.litellm_port}" if litellm else None,
                litellm.pid if litellm else None,
            )
            results = asyncio.run(run(args, targets))
            if args.floor:
                results["floor"] = asyncio.run(floor(upstream, ws_url, token, daphne.pid))
            if args.idle_sockets:
                results["idle"] = asyncio.run(
                    idle_sockets(ws_url, token, args.idle_sockets, daphne.pid)
                )
        finally:
            if args.db_statements:
                statement_stats(False)
            if spy is not None:
                spy.send_signal(2)
                spy.wait(60)
            if litellm is not None:
                litellm.terminate()
                litellm.wait(30)
    if args.profile:
        top_of_profile(args.profile)
    if args.db_statements:
        with pg_log.open(errors="replace") as text:
            text.seek(pg_log_start)
            turns = sum(
                args.passes * concurrency * (rounds + 2)  # each pass warms every socket twice
                for concurrency, rounds in ((1, args.rounds), (10, args.rounds_10))
                if rounds > 0
            ) + (1 if args.floor else 0)
            results["db_statements"] = statement_costs(text.read(), turns)
    if log is not None:
        log.seek(0)
        results["marks"] = step_marks(log.read())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
