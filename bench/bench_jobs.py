"""Background jobs through one real worker: enqueue-to-start latency and jobs per second.

- bookkeeping: what recording one attempt (JobRun and agent_logs rows) adds to a job;
- latency: one no-op job at a time on an idle worker; the time from the job's enqueue (its
  JobRun's ``queued_at``, stamped before the message is published) to its start (``started_at``,
  when the worker begins the attempt), and the sender's own cost of enqueueing one job;
- throughput: N jobs enqueued while no worker runs, then one worker started; jobs per second from
  the first start to the last finish, for a no-op job and for a job that writes one row.

Every job is recorded as a real one is (a JobRun row per attempt, agent_logs rows for its start and
success), so the figures include that bookkeeping. Not a test: run it by hand, under `nice`:

    MOSAIC_STATE_DIR=var/bench nice -n 19 .venv/bin/python bench/bench_jobs.py [--jobs 500] [--pool solo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOSAIC_STATE_DIR", str(ROOT / "var" / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mosaic.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")  # no log line per job in this process

TEST_JOBS = "tests.jobs.jobs_for_tests"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_worker(pool: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celery", "-A", "mosaic", "worker", "--loglevel", "WARNING",
               "--concurrency", "1", "--pool", pool, "--hostname", f"bench-{uuid.uuid4().hex[:6]}@%h",
               "--without-mingle", "--without-gossip", "--include", TEST_JOBS]  # fmt: skip
    worker = subprocess.Popen(command, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    from celery import current_app

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # answers pings once it consumes
        if current_app.control.ping(timeout=0.5):
            return worker
    worker.terminate()
    raise RuntimeError(f"the worker did not start: {log.read_text()}")


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    worker.wait(60)


def wait_finished(task_ids: list[str], timeout: float = 600) -> None:
    from jobs.models import JobRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = JobRun.objects.filter(
            task_id__in=task_ids, is_latest=True, state__in=["succeeded", "failed"]
        ).count()
        if done == len(task_ids):
            return
        time.sleep(0.05)
    raise RuntimeError("jobs did not finish in time")


def latency(samples: int) -> dict[str, float]:
    from jobs.models import JobRun
    from tests.jobs.jobs_for_tests import noop

    waits, sends = [], []
    for index in range(samples + 5):
        sent = time.perf_counter()
        result = noop.delay()
        send_ms = (time.perf_counter() - sent) * 1000
        wait_finished([result.id])
        if index >= 5:  # the first few warm the worker's connections up
            run = JobRun.objects.get(task_id=result.id)
            assert run.wait_ms is not None
            waits.append(run.wait_ms)
            sends.append(send_ms)
    row = {
        "start_p50": pct(waits, 0.5),
        "start_p95": pct(waits, 0.95),
        "start_p99": pct(waits, 0.99),
        "send_p50": pct(sends, 0.5),
        "send_p95": pct(sends, 0.95),
    }
    print(
        f"  enqueue → start   p50 {row['start_p50']:6.1f} ms  p95 {row['start_p95']:6.1f} ms  "
        f"p99 {row['start_p99']:6.1f} ms   (sender's enqueue call p50 {row['send_p50']:.1f} ms, "
        f"p95 {row['send_p95']:.1f} ms)"
    )
    return row


def bookkeeping(samples: int) -> dict[str, float]:
    """What recording an attempt costs: a no-op job run in this process (``apply()``: the same
    signals fire, no broker) with the jobs app's recorder connected, then disconnected."""
    from celery import current_app
    from celery.signals import before_task_publish, task_postrun, task_prerun

    from jobs import recorder
    from tests.jobs.jobs_for_tests import noop

    def timed(call: Any) -> float:
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            call()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    timed(noop.apply)  # warm up
    run, send = timed(noop.apply), timed(noop.delay)
    task_prerun.disconnect(dispatch_uid="jobs.record_started")
    task_postrun.disconnect(dispatch_uid="jobs.record_finished")
    before_task_publish.disconnect(dispatch_uid="jobs.record_queued")
    try:
        bare_run, bare_send = timed(noop.apply), timed(noop.delay)
    finally:
        task_prerun.connect(recorder.record_started, dispatch_uid="jobs.record_started")
        task_postrun.connect(recorder.record_finished, dispatch_uid="jobs.record_finished")
        before_task_publish.connect(recorder.record_queued, dispatch_uid="jobs.record_queued")
        current_app.control.purge()
    row = {"run_added_p50": run - bare_run, "send_added_p50": send - bare_send}
    print(
        f"  recording adds    p50 {row['run_added_p50']:6.1f} ms to an attempt "
        f"(in process: {run:.1f} vs {bare_run:.1f} ms), {row['send_added_p50']:.1f} ms to "
        f"sending a job ({send:.1f} vs {bare_send:.1f} ms)"
    )
    return row


def throughput(name: str, jobs: int, pool: str, log: Path) -> dict[str, float]:
    from django.db.models import Max, Min

    from jobs.models import JobRun
    from tests.jobs import jobs_for_tests

    job: Any = getattr(jobs_for_tests, name)
    sent = time.perf_counter()
    ids = [
        (job.delay(uuid.uuid4().hex) if name == "write_row" else job.delay()).id
        for _ in range(jobs)
    ]
    enqueue_s = time.perf_counter() - sent
    worker = start_worker(pool, log)
    try:
        wait_finished(ids)
    finally:
        stop(worker)
    span = JobRun.objects.filter(task_id__in=ids).aggregate(
        first=Min("started_at"), last=Max("finished_at")
    )
    seconds = (span["last"] - span["first"]).total_seconds()
    durations = [
        run.duration_ms for run in JobRun.objects.filter(task_id__in=ids) if run.duration_ms
    ]
    row = {
        "jobs_per_s": jobs / seconds,
        "enqueued_per_s": jobs / enqueue_s,
        "run_ms_p50": statistics.median(durations),
    }
    print(
        f"  {name:<10} {row['jobs_per_s']:7.1f} jobs/s through one worker "
        f"(attempt p50 {row['run_ms_p50']:.1f} ms; enqueued at {row['enqueued_per_s']:.0f}/s)"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork"])
    args = parser.parse_args()

    from mosaic.local import ensure_local_secrets, state_dir
    from mosaic.services import EmbeddedServices

    state = state_dir()
    ensure_local_secrets(state)
    with EmbeddedServices(
        state, postgres="DATABASE_URL" not in os.environ, redis="REDIS_URL" not in os.environ
    ):
        import django

        django.setup()
        from celery import current_app
        from django.core.management import call_command

        from tests.jobs.jobs_for_tests import ensure_effects_table

        call_command("migrate", interactive=False, verbosity=0)
        ensure_effects_table()
        current_app.control.purge()
        log = state / "bench-worker.log"
        print(f"one worker, --pool {args.pool}, load average {os.getloadavg()[0]:.1f}")
        results: dict[str, Any] = {"bookkeeping": bookkeeping(args.samples)}
        worker = start_worker(args.pool, log)
        try:
            results["latency"] = latency(args.samples)
        finally:
            stop(worker)
        for name in ("noop", "write_row"):
            results[name] = throughput(name, args.jobs, args.pool, log)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
