"""Password hashing is bounded: at most `threads` hashes run at once, at most `queue` more wait,
and past that a request is refused at once (Busy, answered 429 with Retry-After: 1) instead of
queueing without bound. The count is exact: a hash leaves it when its thread is done, not when
the request that asked for it went away. Driven with jobs that wait on an event, so every state
is reached for sure, without a timing."""

import asyncio
import threading

import pytest

from wagerbase.hashing import Busy, Hashing

WAIT = 30.0  # a deadline for a thread to reach its event; never a measure


async def one_running(hashing: Hashing) -> tuple["asyncio.Future[str]", threading.Event]:
    """A hash that runs until the event returned is set (its thread has started), and the event."""
    started, release = threading.Event(), threading.Event()

    def job() -> str:
        started.set()
        release.wait(WAIT)
        return "running"

    running = asyncio.ensure_future(hashing.run(job))
    assert await asyncio.to_thread(started.wait, WAIT)
    return running, release


async def settled(hashing: Hashing, in_flight: int) -> None:
    """Until the hashing's count is `in_flight` (its threads report through the loop)."""
    for _ in range(1000):
        if hashing.in_flight == in_flight:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"in_flight stayed {hashing.in_flight}, not {in_flight}")


def test_a_hash_past_the_threads_and_the_queue_is_refused_at_once() -> None:
    async def scenario() -> None:
        hashing = Hashing(threads=1, queue=1, typical_seconds=0.01)
        first, release = await one_running(hashing)
        second = asyncio.ensure_future(hashing.run(lambda: "second"))
        await settled(hashing, 2)
        with pytest.raises(Busy) as refused:
            await hashing.run(lambda: "third")
        assert refused.value.retry_after == 1
        assert (hashing.refused, second.done()) == (1, False)  # the second waits its turn
        release.set()
        assert (await first, await second) == ("running", "second")
        await settled(hashing, 0)
        assert await hashing.run(lambda: "fourth") == "fourth"
        assert (hashing.computed, hashing.refused) == (3, 1)
        hashing.close()

    asyncio.run(scenario())


def test_a_request_that_goes_away_frees_its_place_only_when_its_hash_is_not_running() -> None:
    async def scenario() -> None:
        hashing = Hashing(threads=1, queue=1, typical_seconds=0.01)
        running, release = await one_running(hashing)
        waiting = asyncio.ensure_future(hashing.run(lambda: "waiting"))
        await settled(hashing, 2)
        waiting.cancel()  # still queued: it leaves the queue
        await settled(hashing, 1)
        queued = asyncio.ensure_future(hashing.run(lambda: "queued"))
        await settled(hashing, 2)
        running.cancel()  # its thread runs on: its place stays taken until the thread is done
        with pytest.raises(asyncio.CancelledError):
            await running
        with pytest.raises(Busy):
            await hashing.run(lambda: "refused")
        release.set()
        assert await queued == "queued"
        await settled(hashing, 0)
        hashing.close()

    asyncio.run(scenario())
