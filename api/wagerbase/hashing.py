"""Password hashing (argon2) off the event loop: a bounded number at once, a bounded queue.

argon2 is slow and memory-hungry on purpose (about 50 ms and 64 MiB a hash). An API node runs at
most `threads` hashes at once (WAGERBASE_HASH_THREADS, default the number of CPUs), each in a
thread of its own pool, and lets at most `queue` more wait (WAGERBASE_HASH_QUEUE, default 8 a
thread); a node of several worker processes divides both among them (`for_worker`). Past that
it refuses at once with Busy (answered 429 with Retry-After: 1) instead of queueing without
bound: a flood of sign-ins cannot make every sign-in wait behind it, and a refused one costs
nothing. The count is exact: a hash leaves it when its thread is done, even
if the request that wanted it went away.

`typical_seconds` is a running average of how long a hash took (seeded by one hash made when
the process starts); accounts.py waits that long, without hashing, for a sign-in whose name names
nobody.
"""

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from wagerbase.limits import share

T = TypeVar("T")

THREADS_ENV = "WAGERBASE_HASH_THREADS"
QUEUE_ENV = "WAGERBASE_HASH_QUEUE"
QUEUE_PER_THREAD = 8
RETRY_AFTER_SECONDS = 1
_SMOOTHING = 0.2  # weight of the newest duration in the running average


@dataclass
class Busy(Exception):
    """Every hashing thread is busy and the queue is full: try again in `retry_after` seconds."""

    retry_after: int = RETRY_AFTER_SECONDS


def _positive(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def default_threads() -> int:
    return _positive(THREADS_ENV, os.cpu_count() or 1)


def for_worker(workers: int) -> tuple[int, int]:
    """The threads and the queue of one of the node's `workers` processes: the node's
    (WAGERBASE_HASH_THREADS, default the CPUs; WAGERBASE_HASH_QUEUE, default 8 a thread) divided
    among them, rounded down, at least one thread (the queue may be 0)."""
    workers = max(1, workers)
    threads = default_threads()
    return share(threads, workers), default_queue(threads) // workers


def default_queue(threads: int) -> int:
    """WAGERBASE_HASH_QUEUE if set (0 or more), else 8 a thread."""
    try:
        value = int(os.environ.get(QUEUE_ENV, ""))
    except ValueError:
        return QUEUE_PER_THREAD * threads
    return value if value >= 0 else QUEUE_PER_THREAD * threads


class Hashing:
    """The node's hashing threads and their queue."""

    def __init__(self, threads: int, queue: int, typical_seconds: float) -> None:
        self.threads = threads
        self.queue = queue
        self.typical_seconds = typical_seconds
        self.in_flight = 0  # running and waiting
        self.computed = 0  # hashes run to the end
        self.refused = 0  # refused with Busy
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="argon2")

    @property
    def full(self) -> bool:
        return self.in_flight >= self.threads + self.queue

    def expected_seconds(self) -> float:
        """About how long a hash asked for now would take, its wait in the queue included."""
        rounds = self.in_flight // self.threads + 1
        return self.typical_seconds * rounds

    def refuse_if_full(self) -> None:
        """Raises Busy when a hash asked for now would be refused."""
        if self.full:
            self.refused += 1
            raise Busy()

    async def run(self, work: Callable[[], T]) -> T:
        """`work()` in a hashing thread, once one is free. Raises Busy at once when the threads
        and the queue are full."""
        self.refuse_if_full()
        loop = asyncio.get_running_loop()
        self.in_flight += 1

        def timed() -> T:
            started = time.perf_counter()
            try:
                return work()
            finally:
                took = time.perf_counter() - started
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._record, took)

        try:
            future = self._pool.submit(timed)
        except BaseException:
            self.in_flight -= 1
            raise
        # leaves the count when the thread is done (or the waiting job is cancelled), not when
        # the request stops waiting for it
        future.add_done_callback(lambda _: self._leave_from(loop))
        return await asyncio.wrap_future(future)

    def _record(self, took: float) -> None:
        self.computed += 1
        self.typical_seconds += _SMOOTHING * (took - self.typical_seconds)

    def _leave(self) -> None:
        self.in_flight -= 1

    def _leave_from(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._leave)

    def snapshot(self) -> dict[str, int]:
        return {
            "threads": self.threads,
            "queue": self.queue,
            "in_flight": self.in_flight,
            "computed": self.computed,
            "refused_busy": self.refused,
        }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
