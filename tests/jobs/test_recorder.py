"""What the jobs app records of every attempt (jobs/recorder.py), without a worker: jobs run in
process with ``apply()``, messages published to the real broker."""

from __future__ import annotations

import pytest
from django.db import transaction

from jobs.models import AgentLog, JobRun
from jobs.recorder import REDACTED, safe_arguments
from jobs.tasks import ping

pytestmark = pytest.mark.django_db


def test_secret_looking_keyword_arguments_are_never_recorded() -> None:
    args, kwargs, replayable = safe_arguments(
        ["conv-1"], {"api_key": "sk-live-123", "refresh_token": "rt-9", "user_id": 4}
    )
    assert args == ["conv-1"]
    assert kwargs == {"api_key": REDACTED, "refresh_token": REDACTED, "user_id": 4}
    assert replayable is False
    assert safe_arguments([1, "a"], {"conversation_id": "c"}) == (
        [1, "a"],
        {"conversation_id": "c"},
        True,
    )


def test_oversized_arguments_are_cut_and_marked() -> None:
    args, kwargs, replayable = safe_arguments(["x" * 10_000], {})
    assert len(args[0]) <= 4_001
    assert kwargs == {}
    assert replayable is False


@pytest.mark.django_db(transaction=True)
def test_sending_a_job_records_it_as_queued_before_the_message_exists() -> None:
    result = ping.delay("queued?")
    run = JobRun.objects.get(task_id=result.id)
    assert (run.job, run.attempt, run.state, run.queue, run.args) == (
        "jobs.ping",
        1,
        "queued",
        "default",
        ["queued?"],
    )
    assert run.started_at is None
    assert run.is_latest


@pytest.mark.django_db(transaction=True)
def test_a_job_sent_inside_a_transaction_is_recorded_by_the_worker_instead() -> None:
    with transaction.atomic():
        result = ping.delay("later")
    # No row from the sender (it could commit after a worker already started the job)...
    assert not JobRun.objects.filter(task_id=result.id).exists()
    # ...the start writes it, with the enqueue time carried in the message.
    ping.apply(args=("later",), task_id=result.id)
    run = JobRun.objects.get(task_id=result.id)
    assert run.state == "succeeded"
    assert run.attempt == 1


def test_a_failing_job_is_recorded_failed_with_its_error() -> None:
    result = ping.apply(args=(), task_id="missing-argument")  # the call itself is wrong
    assert result.failed()
    run = JobRun.objects.get(task_id="missing-argument")
    assert run.state == "failed"
    assert run.error.startswith("TypeError")
    assert "Traceback" in run.traceback
    log = AgentLog.objects.get(task_id="missing-argument", event="job.failed")
    assert log.level == "error"
    assert log.attempt == 1
