"""The wait for a provider's next event (agents/runtime.py, ``EventDeadline``): one timer for the
whole stream, told apart from any other cancellation. The end-to-end deadlines (first token,
a stalled stream, the whole turn) are in tests/faults/test_deadlines.py."""

from __future__ import annotations

import asyncio

import pytest

from agents.runtime import EventDeadline


async def wait_forever() -> None:
    await asyncio.get_running_loop().create_future()


async def test_a_deadline_that_passes_cancels_the_wait_and_is_told_apart() -> None:
    deadline = EventDeadline()
    deadline.arm(0.05, "no reply began within 0.05 s")
    with pytest.raises(asyncio.CancelledError):
        await wait_forever()
    assert deadline.passed()
    assert deadline.what == "no reply began within 0.05 s"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    deadline.stop()


async def test_someone_elses_cancel_stays_a_cancel() -> None:
    async def waiting() -> bool:
        deadline = EventDeadline()
        deadline.arm(3600, "never")
        try:
            await wait_forever()
        except asyncio.CancelledError:
            return deadline.passed()
        finally:
            deadline.stop()
        return True

    task = asyncio.create_task(waiting())
    await asyncio.sleep(0.01)
    task.cancel()
    assert await task is False


async def test_a_moved_deadline_is_kept_by_the_one_timer() -> None:
    deadline = EventDeadline()
    deadline.arm(0.02, "first")
    deadline.arm(3600, "moved")  # the timer still fires at 0.02 s, and sets itself again
    await asyncio.sleep(0.2)
    assert not deadline.fired
    assert deadline.timer is not None
    deadline.stop()
    assert deadline.timer is None


async def test_between_waits_the_deadline_is_off() -> None:
    deadline = EventDeadline()
    deadline.arm(0.02, "first")
    deadline.disarm()  # the caller's own work (relaying the event) is never timed
    await asyncio.sleep(0.2)
    assert not deadline.fired
    deadline.arm(0.02, "again")
    with pytest.raises(asyncio.CancelledError):
        await wait_forever()
    assert deadline.passed()
    deadline.stop()
