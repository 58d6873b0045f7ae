"""The scheduler: one asyncio task per API node, owned by the app's lifespan.

Every `interval` seconds (1 by default, `WAGERBASE_SCHEDULER_INTERVAL` to change it) it runs one
round, `server.scheduler_tick()` (app.scheduler_tick of rpc/60_depth.sql, through schema `server`:
rpc/95_server.sql), in a transaction of its own: under the transaction-level advisory lock
'wagerbase.scheduler' it closes every open market past its closes_at, settles the virtual markets
whose draw is fixed (revealing their seeds; see docs/provably-fair.md), takes the pool snapshots
that are due and prunes the snapshots, quote telemetry and live events older than their
retention, a batch per round (docs/depth.md and docs/live.md, "Retention"). A node that does not
get the lock does nothing that round, so many nodes never duplicate a snapshot; closing and
settling draws are exactly-once anyway (`for update skip locked`). The decisions are all in SQL;
this module only keeps the clock.

Beside the clock runs the side-effect worker (rpc/70_side_effects.sql): on every node, it calls
`server.work_side_effect()` (app.work_side_effect) until no job is due, one job per transaction,
then sleeps a moment. Jobs are taken `for update skip locked`, so the workers of many nodes share
the queue; retries and backoff are decided in SQL.

Each loop uses a connection of its own, like the hub, logged in as the node is (`authenticator`,
which may call these functions of schema `server` and nothing private): when the database
restarts, a round fails, is logged, and the next round reconnects (with a backoff up to a few
seconds). The connection string gets `conninfo.for_component`'s defaults: with several hosts,
rounds reach the primary. Stopping lets a round in progress finish (up to STOP_SECONDS) rather
than interrupt its commit; a round still running then is cut off by closing its connection, never
by a cancel request.
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from wagerbase.conninfo import for_component
from wagerbase.database import Connection
from wagerbase.sql_files import statements

log = logging.getLogger("wagerbase.scheduler")

DEFAULT_INTERVAL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
WORKER_IDLE_SECONDS = 0.5  # how long the worker sleeps when no job is due
STOP_SECONDS = 10.0  # how long stopping waits for a round in progress
QUERIES = statements(__package__, "scheduler.sql")
TICK = QUERIES["scheduler_tick"]
WORK = QUERIES["work_side_effect"]


def interval_from_environment() -> float:
    """`WAGERBASE_SCHEDULER_INTERVAL` in seconds (a positive number), else 1."""
    raw = os.environ.get("WAGERBASE_SCHEDULER_INTERVAL", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS
    return value if value > 0 else DEFAULT_INTERVAL_SECONDS


@dataclass
class Counters:
    rounds: int = 0  # rounds run, with or without the lock
    locked: int = 0  # rounds that got the lock and did the work
    closed: int = 0  # markets closed by this node
    drawn: int = 0  # virtual markets this node settled from their draw
    snapshots: int = 0  # snapshot rows written by this node
    pruned: int = 0  # snapshot, telemetry and event rows this node deleted past their retention
    failures: int = 0  # rounds that failed (database gone, ...)
    jobs_done: int = 0  # side-effect jobs this node ran to the end
    jobs_retrying: int = 0  # side-effect jobs that failed here and wait for their next attempt
    jobs_failed: int = 0  # side-effect jobs that failed here for the last time


class _Loop:
    """A coroutine run every so often on a connection of its own, reconnecting after a failure."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        self.name = name
        self._conn: Connection | None = None
        self._stop = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the loop to end after the round in progress (it ends at once when sleeping)."""
        self._stop.set()

    def restart(self) -> None:
        self._stop.clear()

    async def connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = await Connection.connect(
                for_component(self._url, f"wagerbase {self.name}"),
                autocommit=True,
                row_factory=dict_row,
            )
        return self._conn

    async def one(self, query: str) -> Any:
        """`query` in a transaction of its own; its single value."""
        conn = await self.connection()
        async with conn.transaction():
            cursor = await conn.execute(query)
            row = await cursor.fetchone()
        assert row is not None
        return next(iter(row.values()))

    async def disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()
            self._conn = None

    async def run(self, step: Callable[[], Awaitable[float]], counters: "Counters") -> None:
        """Call `step` until stopped; it answers how long to sleep. A failure is logged, the
        connection dropped, and the next call waits a backoff that doubles up to a few seconds."""
        backoff = DEFAULT_INTERVAL_SECONDS
        while not self.stopping:
            try:
                pause = await step()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                counters.failures += 1
                log.warning("%s: round failed (%s); retrying in %.1f s", self.name, exc, backoff)
                await self.disconnect()
                pause = backoff
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            else:
                backoff = DEFAULT_INTERVAL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=pause)


class Scheduler:
    """Closes due markets and takes pool snapshots, one node at a time; runs side-effect jobs."""

    def __init__(self, url: str, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else interval_from_environment()
        self._clock = _Loop(url, "scheduler")
        self._worker = _Loop(url, "side-effect worker")
        self._tasks: list[asyncio.Task[None]] = []
        self.counters = Counters()

    async def start(self) -> None:
        self._clock.restart()
        self._worker.restart()
        self._tasks = [
            asyncio.create_task(
                self._clock.run(self._tick_step, self.counters), name="wagerbase-scheduler"
            ),
            asyncio.create_task(
                self._worker.run(self.work, self.counters), name="wagerbase-side-effects"
            ),
        ]

    async def stop(self) -> None:
        self._clock.stop()
        self._worker.stop()
        if self._tasks:
            _, running = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in running:  # database.Connection closes its connection: no cancel request
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        await self._clock.disconnect()
        await self._worker.disconnect()

    async def _tick_step(self) -> float:
        await self.tick()
        return self.interval

    async def work(self) -> float:
        """Run side-effect jobs until none is due (or the node stops); then the pause before
        looking again."""
        while not self._worker.stopping:
            job: dict[str, Any] | None = await self._worker.one(WORK)
            if job is None:
                return WORKER_IDLE_SECONDS
            if job["status"] == "done":
                self.counters.jobs_done += 1
            elif job["status"] == "failed":
                self.counters.jobs_failed += 1
                log.error(
                    "side effect job %s (%s) failed for good: %s",
                    job["job_id"],
                    job["handler"],
                    job["error"],
                )
            else:
                self.counters.jobs_retrying += 1
                log.warning(
                    "side effect job %s (%s) will be retried: %s",
                    job["job_id"],
                    job["handler"],
                    job["error"],
                )
        return WORKER_IDLE_SECONDS

    async def tick(self) -> dict[str, Any]:
        """One round: the answer of server.scheduler_tick() ({locked, closed, drawn, draw_failed,
        voids_revealed, snapshots, pruned, events_pruned, rounds_expired})."""
        result: dict[str, Any] = await self._clock.one(TICK)
        self.counters.rounds += 1
        if result["locked"]:
            self.counters.locked += 1
            self.counters.closed += len(result["closed"])
            self.counters.drawn += len(result["drawn"])
            self.counters.snapshots += result["snapshots"]
            self.counters.pruned += sum(result["pruned"].values()) + result["events_pruned"]
        if result["closed"]:
            log.info("scheduler: closed markets %s", result["closed"])
        if result["drawn"]:
            log.info("scheduler: settled virtual markets %s from their draws", result["drawn"])
        if result["rounds_expired"]:
            log.info("scheduler: settled idle house rounds %s", result["rounds_expired"])
        for failed in result["draw_failed"]:
            log.warning("scheduler: virtual market %s not settled: %s", failed["market_id"], failed)
        return result
