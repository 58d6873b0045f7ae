"""Threads for the concurrency tests: each target on its own thread, joined, and the first failure
raised; `all_at_once` releases its calls together through a barrier."""

import threading
from collections.abc import Callable
from typing import Any

import psycopg

WAIT = 30.0  # seconds any thread waits for another before the test gives up


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Run every target in its own thread, join them all, re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a client thread hung"
    if failures:
        raise failures[0]


def all_at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` for i in 0..count-1, each in its own thread, released together by a barrier.
    Each slot holds the returned value or the psycopg error raised."""
    barrier = threading.Barrier(count, timeout=WAIT)
    outcomes: list[Any] = [None] * count

    def one(i: int) -> Callable[[], None]:
        def target() -> None:
            barrier.wait()
            try:
                outcomes[i] = call(i)
            except psycopg.Error as error:
                outcomes[i] = error

        return target

    run_threads([one(i) for i in range(count)])
    return outcomes
