"""The scheduler: one asyncio task per API node, owned by the app's lifespan.

Every `interval` seconds (1 by default, `WAGERBASE_SCHEDULER_INTERVAL` to change it) it runs one
round, `app.scheduler_tick()` (rpc/60_depth.sql), in a transaction of its own: under the
transaction-level advisory lock 'wagerbase.scheduler' it closes every open market past its
closes_at and takes the pool snapshots that are due. A node that does not get the lock does
nothing that round, so many nodes never duplicate a snapshot; closing is exactly-once anyway
(`for update skip locked`). The decisions are all in SQL; this module only keeps the clock.

It uses a connection of its own, like the hub: when the database restarts, the round fails, is
logged, and the next round reconnects (with a backoff up to a few seconds).
"""

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

log = logging.getLogger("wagerbase.scheduler")

DEFAULT_INTERVAL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 5.0
TICK = "select app.scheduler_tick() as tick"


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
    snapshots: int = 0  # snapshot rows written by this node
    failures: int = 0  # rounds that failed (database gone, ...)


class Scheduler:
    """Closes due markets and takes pool snapshots, one node at a time."""

    def __init__(self, url: str, interval: float | None = None) -> None:
        self._url = url
        self.interval = interval if interval is not None else interval_from_environment()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self.counters = Counters()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wagerbase-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()

    async def tick(self) -> dict[str, Any]:
        """One round: the answer of app.scheduler_tick() ({locked, closed, snapshots})."""
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                autocommit=True,
                row_factory=dict_row,
                application_name="wagerbase scheduler",
                connect_timeout=5,
            )
        async with self._conn.transaction():
            cursor = await self._conn.execute(TICK)
            row = await cursor.fetchone()
        assert row is not None
        result: dict[str, Any] = row["tick"]
        self.counters.rounds += 1
        if result["locked"]:
            self.counters.locked += 1
            self.counters.closed += len(result["closed"])
            self.counters.snapshots += result["snapshots"]
        if result["closed"]:
            log.info("scheduler: closed markets %s", result["closed"])
        return result

    async def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        backoff = self.interval
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self.counters.failures += 1
                log.warning("scheduler: round failed (%s); retrying in %.1f s", exc, backoff)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.interval
            await asyncio.sleep(self.interval)
