"""What Realtime's clients send each other, on one API node (one worker): their broadcasts and
presences written to the database, from which every node's hub reads them (docs/live.md,
"Broadcast and presence").

A socket hands each message to the node's `Rooms` (`submit`); one writer task writes them in the
order handed, a batch per transaction (server.realtime_write, rpc/96_realtime.sql): a broadcast
becomes an event of the stream (`wagerbase_realtime`), a track or untrack changes the channel's row
in app.realtime_presences and writes the presence_diff event. Every node's hub reads those events
as it reads the engine's and hands them to its sockets (the sender's node included: a broadcast
with `self` comes back to its sender that way). Waiting costs nothing: the writer takes whatever
was handed while the previous batch was written, so under load a transaction carries many
messages, and at rest a message is written at once. At most MAX_WAITING messages wait on a
worker; past that a message is refused (the socket says so), never queued without bound.

Presences: the node keeps what its sockets track (`held`, by phx_ref), and says every
`presence_ttl / 3` seconds that it is alive (server.realtime_beat), which also removes the
presences of any node silent for longer than its own ttl (it died, or lost the database): their
channels get the leaves. The beat answers a digest of the node's rows; when it differs from what
the node holds (another node removed them while this one could not beat, a failover lost a
write, a write failed), the node writes everything it holds again (`reconcile`, in the same
queue, so in order with its tracks). When the node stops it ends its presences
(server.realtime_gone).
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.limits import Sockets
from wagerbase.sql_files import statements

log = logging.getLogger("wagerbase.realtime")

QUERIES = statements(__package__, "rooms.sql")
MAX_WAITING = 1000  # messages waiting to be written on a worker, at most
BATCH = 200  # messages a transaction carries, at most
BATCH_BYTES = 1 << 20  # and their JSON, at most (one message may exceed it alone)
STOP_SECONDS = 5.0  # how long a stopping node waits for what it was handed, then to say so
ROOMS = "realtime_rooms"  # the app state's key for a worker's Rooms

# the database's answers for an item refused (rpc/96_realtime.sql) -> the socket's words
REFUSALS = {
    "engine_topic": "this topic is the engine's: only the engine sends on it",
    "invalid_presence": "a presence needs a key and an object to track",
    "too_many_presences": "too many presences on this channel",
}
UNAVAILABLE = "the database is unavailable; try again"

Done = Callable[[str | None], None]  # called once written: None, or why it was not


@dataclass(frozen=True)
class Held:
    """A presence a socket of this node tracks."""

    ref: str
    name: str  # the channel's topic, without `realtime:`
    private: bool
    key: str
    meta: dict[str, Any]

    def as_item(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "topic": self.name,
            "private": self.private,
            "key": self.key,
            "meta": self.meta,
        }


@dataclass
class _Waiting:
    item: dict[str, Any]
    size: int
    done: Done | None


class Rooms:
    """A worker's writer of what its Realtime sockets send, and its presences."""

    def __init__(self, db: Database, limits: Sockets | None = None) -> None:
        self.db = db
        self.limits = limits or Sockets()
        self.node = uuid.uuid4()
        self.ttl = min(max(1, self.limits.presence_ttl), 3600)
        self.held: dict[str, Held] = {}
        self._waiting: deque[_Waiting] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._writing = False  # a batch is being written
        self._differed = False  # the last beat found the rows not what the node holds
        self._beat: asyncio.Task[None] | None = None
        self._stopped = False

    # what sockets hand over ------------------------------------------------------------------

    def submit(self, item: dict[str, Any], done: Done | None = None) -> str | None:
        """Queue `item` (an op of server.realtime_write) to be written; `done` is called once
        it was, or could not be. Returns why it was refused at once (too many waiting), else
        None."""
        if self._stopped:
            return "this node is stopping; reconnect"
        if len(self._waiting) >= MAX_WAITING:
            return (
                f"too many messages waiting to be written on this node (at most {MAX_WAITING}); "
                "try again later"
            )
        self._enqueue(item, len(json.dumps(item, separators=(",", ":"))), done)
        return None

    def _enqueue(self, item: dict[str, Any], size: int, done: Done | None) -> None:
        self._waiting.append(_Waiting(item, size, done))
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_forever(), name="realtime-rooms-writer"
            )

    def track(self, held: Held, prev: str | None, done: Done | None) -> str | None:
        """A socket's channel tracks `held` (in place of its presence `prev`)."""
        refused = self.submit({"op": "track", "prev": prev, **held.as_item()}, done)
        if refused is None:
            if prev is not None:
                self.held.pop(prev, None)
            self.held[held.ref] = held
            self.beating()
        return refused

    def untrack(self, ref: str, done: Done | None = None) -> None:
        """A channel's presence `ref` ends (untrack, leave, a closed channel or socket)."""
        if self.held.pop(ref, None) is not None and not self._stopped:
            # never refused for being many: a presence left behind would stay until the beat
            self._enqueue({"op": "untrack", "ref": ref}, 64, done)
        elif done is not None:
            done(None)

    def forget(self, ref: str) -> None:
        """A track that could not be written: the node no longer holds it."""
        self.held.pop(ref, None)

    async def state(self, name: str, private: bool) -> dict[str, Any]:
        """The channel's presences, every node's (presence_state). Raises psycopg.Error,
        ApiError (the live lane stayed busy)."""
        async with self.db.connection("live") as conn:
            row = await (await conn.execute(QUERIES["presence_state"], [name, private])).fetchone()
        assert row is not None
        found: dict[str, Any] = row["state"]
        return found

    def beating(self) -> None:
        """Start saying the node is alive (and sweeping the dead nodes' presences), once a
        socket of the node uses presence."""
        if self._beat is None and not self._stopped:
            self._beat = asyncio.get_running_loop().create_task(
                self._beat_forever(), name="realtime-rooms-beat"
            )

    # the writer -------------------------------------------------------------------------------

    def _batch(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        size = 0
        while self._waiting and len(batch) < BATCH:
            if batch and size + self._waiting[0].size > BATCH_BYTES:
                break
            item = self._waiting.popleft()
            batch.append(item)
            size += item.size
        return batch

    async def _write_forever(self) -> None:
        while True:
            if not self._waiting:
                self._wake.clear()
                await self._wake.wait()
            self._writing = True
            try:
                await self._write(self._batch())
            finally:
                self._writing = False

    async def _write(self, batch: list[_Waiting]) -> None:
        items = [w.item for w in batch]
        try:
            async with self.db.connection("live") as conn, conn.transaction():
                row = await (
                    await conn.execute(
                        QUERIES["write"],
                        [self.node, self.ttl, json.dumps(items), self.limits.topic_presences],
                    )
                ).fetchone()
            assert row is not None
            outcomes: list[str | None] = [
                None if result == "ok" else REFUSALS.get(result, result)
                for result in row["results"]
            ]
        except (psycopg.Error, ApiError) as exc:
            log.warning("realtime: could not write %d client messages: %s", len(batch), exc)
            outcomes = [UNAVAILABLE] * len(batch)
        except Exception:  # a bug: the writer goes on, and the sockets are told
            log.exception("realtime: could not write %d client messages", len(batch))
            outcomes = ["internal error"] * len(batch)
        if len(outcomes) != len(batch):
            log.error("realtime: %d outcomes for %d client messages", len(outcomes), len(batch))
            outcomes = ["internal error"] * len(batch)
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.done is not None:
                try:
                    waiting.done(outcome)
                except Exception:
                    log.exception("realtime: a client message's callback failed")

    # presence: alive, and the same as the database -------------------------------------------

    def digest(self) -> str:
        """What the database answers for this node's rows when they are what it holds."""
        return hashlib.md5(",".join(sorted(self.held)).encode(), usedforsecurity=False).hexdigest()

    async def _beat_forever(self) -> None:
        while True:
            try:
                async with self.db.connection("live") as conn, conn.transaction():
                    row = await (
                        await conn.execute(QUERIES["beat"], [self.node, self.ttl])
                    ).fetchone()
                assert row is not None
                # with writes under way the rows may be about to change: a difference then is
                # acted on when the next beat finds one too
                busy = bool(self._waiting) or self._writing
                differs = row["beat"]["digest"] != self.digest()
                if differs and (not busy or self._differed):
                    presences = [held.as_item() for held in self.held.values()]
                    self.submit({"op": "reconcile", "presences": presences})
                    differs = False
                self._differed = differs
            except (psycopg.Error, ApiError) as exc:
                log.warning("realtime: cannot say the node is alive: %s", exc)
            except Exception:  # a bug: logged, and the node goes on beating
                log.exception("realtime: the node's beat failed")
            await asyncio.sleep(self.ttl / 3)

    # the node stops ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """Write what was handed (for a few seconds at most), end the node's presences, stop."""
        self._stopped = True
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_SECONDS):
                    while self._waiting or self._writing:
                        await asyncio.sleep(0.01)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self._beat is not None or self.held:
            try:
                async with (
                    asyncio.timeout(STOP_SECONDS),
                    self.db.connection("live") as conn,
                    conn.transaction(),
                ):
                    await conn.execute(QUERIES["gone"], [self.node])
            except (psycopg.Error, ApiError, TimeoutError) as exc:
                # the other nodes remove them once this one has been silent past its ttl
                log.warning("realtime: could not end the node's presences: %r", exc)


class Allowance:
    """How many messages a socket may send now: `per_second` a second, as many at once at most
    (a token bucket)."""

    def __init__(self, per_second: int) -> None:
        self.per_second = max(1, per_second)
        self._tokens = float(self.per_second)
        self._at = time.monotonic()

    def take(self) -> bool:
        """One message more: True when it is allowed."""
        now = time.monotonic()
        self._tokens = min(self.per_second, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def rooms_of(state: Any, db: Database, limits: Sockets) -> Rooms:
    """The worker's Rooms, kept in the app's state (made by the app; made here for an app made
    without, a test's small one)."""
    rooms = state.get(ROOMS) if hasattr(state, "get") else None
    if not isinstance(rooms, Rooms):
        rooms = Rooms(db, limits)
        state[ROOMS] = rooms
    return rooms
