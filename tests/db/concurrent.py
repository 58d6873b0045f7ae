"""Threads for the concurrency tests: each target on its own thread, joined, and the first failure
raised; `all_at_once` releases its calls together through a barrier. And what several of them
read: a wallet's balance, and whether a connection waits for a lock."""

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import Actor
from tests.pgserver import Connection

WAIT = 30.0  # seconds any thread waits for another before the test gives up
INITIAL_BALANCE = 10000  # a new wallet's (app.config's default)


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


def balance_of(conn: Connection, user_id: uuid.UUID) -> int:
    row = conn.execute("select balance from app.accounts where user_id = %s", [user_id]).fetchone()
    assert row is not None
    conn.commit()
    return int(row[0])


def wait_until_blocked(conn: Connection, actor: Actor) -> None:
    """Wait until `actor`'s connection is waiting for a lock."""
    pid = actor.conn.info.backend_pid
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        row = conn.execute(
            "select wait_event_type from pg_catalog.pg_stat_activity where pid = %s", [pid]
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError(f"{actor.name} never waited for a lock")
