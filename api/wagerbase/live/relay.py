"""The relay of a node's hub (hub.py): it reads the engine's event stream and hands each event to
the hub, which fans it out to the node's sockets.

The engine's functions write their messages into app.events inside their transactions
(docs/notifications.md), so a message exists only once its change committed. Every API node (and
every worker process of one) runs one Hub, and so one relay: it reads the events that became
visible since its cursor (`server.read_events`, a snapshot-based window: rpc/03_events.sql,
docs/live.md "The event stream"), in id order. Nodes never talk to each other: each reads
everything from the database, so adding a node needs nothing else. After a page of events the
relay reads again at once; after an empty one it waits `poll` seconds (WAGERBASE_EVENT_POLL_MS,
5 ms by default).

A relay starting fresh begins at the current end of the stream. When its connection is lost it
reconnects by itself, with backoff, and goes on from its cursor: nothing committed meanwhile is
missed, and no `resync` is needed. The database says when the cursor cannot be trusted: the
server restarted or failed over since it was made (a commit not yet flushed or replicated may be
gone), or events it had not reached were pruned (it fell behind the retention). The relay then
starts again at the current end and publishes a `resync` event: clients reload what they show
(BetMarket sockets get `{"opcode": "resync"}`, Supabase Realtime channels a `system` frame and a
`resync` broadcast). Messages it did not read are lost, `session_ended` ones among them: so before
the `resync` it asks the database which of the sockets' sessions ended meanwhile
(server.ended_sessions) and publishes a `session_ended` of its own. Every poll is a query, so a
connection that died without a word is noticed at once (TCP keepalives too).

The relay must read the primary: the connection string is the node's DATABASE_URL with
`conninfo.for_component`'s defaults, so with several hosts it carries
`target_session_attrs=read-write` and reaches the primary, after a failover the new one.

A market message that announces a market is enriched (`enrich`, live/enrich.py) once, before it
is published.
"""

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from wagerbase.conninfo import for_component
from wagerbase.database import Connection
from wagerbase.errors import ApiError
from wagerbase.sql_files import statements

log = logging.getLogger("wagerbase.live")

QUERIES = statements(__package__, "relay.sql")
CHANNELS = {
    "wagerbase_market": "market",
    "wagerbase_user": "user",
    "wagerbase_admin": "admin",
    "wagerbase_realtime": "realtime",  # what Realtime's clients send each other (its rooms)
}
MAX_BACKOFF_SECONDS = 5.0
DEFAULT_POLL_SECONDS = 0.005  # after an empty read, the relay reads again this much later
BATCH = 1000  # events a read returns at most (server.read_events pages a larger window)
READ = QUERIES["read_events"]  # parameters: cursor (JSON text, or null at first), most
# why the relay resynced (server.read_events) -> the `reason` of the `resync` clients receive
RESYNC_REASONS = {"server": "reconnected", "pruned": "fell_behind", "behind": "fell_behind"}
SESSION_ENDED = "session_ended"  # the engine's user message naming sessions that ended


def poll_from_environment() -> float:
    """`WAGERBASE_EVENT_POLL_MS` in seconds (a positive number of milliseconds), else 5 ms."""
    raw = os.environ.get("WAGERBASE_EVENT_POLL_MS", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_POLL_SECONDS
    return value / 1000 if value > 0 else DEFAULT_POLL_SECONDS


@dataclass(frozen=True)
class Event:
    """One message: `audience` is market, user, admin, realtime (what a Realtime client sent
    the others: surfaces/realtime/rooms.py) or system; `payload` as the engine sent it
    (plus `received_at`, the node's monotonic clock when it arrived, for latency figures).
    `frames` is what the node's sockets made of it, kept for the others (hub.py's heading)."""

    audience: str
    payload: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)
    frames: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def type(self) -> str:
        return str(self.payload.get("type", ""))

    @property
    def ended_sessions(self) -> frozenset[str]:
        """The sessions a `session_ended` message names (none for any other message)."""
        if self.audience != "user" or self.type != SESSION_ENDED:
            return frozenset()
        ids = self.payload.get("session_ids")
        return frozenset(str(i) for i in ids) if isinstance(ids, list) else frozenset()


Enricher = Callable[[Event], Awaitable[Event]]


class Relay:
    """Reads the event stream from its cursor for as long as it runs, and hands each event to
    `publish` (Hub.publish); `sessions` are those of the hub's sockets, rechecked at a resync."""

    def __init__(
        self,
        url: str,
        publish: Callable[[Event], None],
        sessions: Callable[[], Iterable[str]],
        enrich: Enricher | None = None,
        poll: float | None = None,
    ) -> None:
        self._url = url
        self._publish = publish
        self._sessions = sessions
        self._enrich = enrich
        self.poll = poll if poll is not None else poll_from_environment()
        self._cursor: Any = None  # where the relay reads next (server.read_events); None: the end
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.resyncs = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wagerbase-hub")
        try:
            await asyncio.wait_for(self.connected.wait(), timeout=30)
        except TimeoutError:
            log.warning("live updates: not reading the stream yet; retrying in the background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                if self.connected.is_set():
                    log.warning(
                        "live updates: lost the stream's connection (%s); reconnecting", exc
                    )
                    self.reconnects += 1
                self.connected.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            else:
                backoff = 0.2

    async def _listen(self) -> None:
        """Read the stream from the cursor for as long as the connection lasts."""
        async with await Connection.connect(
            for_component(self._url, "wagerbase hub"), autocommit=True, row_factory=dict_row
        ) as conn:
            page = await self._read(conn)
            self.connected.set()
            log.info("live updates: reading the event stream")
            while True:
                if page["resync"]:
                    await self._resync(conn, str(page.get("reason")))
                for row in page["events"]:
                    await self._receive(row["channel"], row["payload"])
                if not page["events"]:
                    await asyncio.sleep(self.poll)
                page = await self._read(conn)

    async def _read(self, conn: Connection) -> dict[str, Any]:
        """The next page of events after the cursor; the cursor moves past it."""
        cursor = await conn.execute(READ, {"cursor": _json(self._cursor), "most": BATCH})
        row = await cursor.fetchone()
        assert row is not None
        page: dict[str, Any] = row["page"]
        self._cursor = page["cursor"]
        return page

    async def _resync(self, conn: Connection, reason: str) -> None:
        """The cursor could not be trusted (`reason`: server, pruned, behind) and the relay starts
        again at the end: messages may have been missed, so clients reload."""
        self.resyncs += 1
        log.warning("live updates: resynchronising (%s)", reason)
        await self._recheck_sessions(conn)
        self._publish(
            Event("system", {"type": "resync", "reason": RESYNC_REASONS.get(reason, reason)})
        )

    async def _recheck_sessions(self, conn: Connection) -> None:
        """Hand a `session_ended` to the sockets whose sessions ended in messages the relay will
        not read (it resyncs)."""
        live = set()
        for session in self._sessions():
            try:
                live.add(uuid.UUID(session))
            except ValueError:
                continue
        if not live:
            return
        try:
            cursor = await conn.execute(QUERIES["ended_sessions"], {"sessions": sorted(live)})
            ended = [row["id"] for row in await cursor.fetchall()]
        except psycopg.Error as exc:
            log.warning("live updates: cannot check the sockets' sessions: %s", exc)
            return
        if ended:
            self._publish(Event("user", {"type": SESSION_ENDED, "session_ids": ended}))

    async def _receive(self, channel: str, payload: Any) -> None:
        audience = CHANNELS.get(channel)
        if audience is None or not isinstance(payload, dict):
            log.warning("live updates: ignoring a message that is not a JSON object on %s", channel)
            return
        event = Event(audience, payload)
        if self._enrich is not None:
            try:
                event = await self._enrich(event)
            except (psycopg.Error, ApiError) as exc:  # ApiError: the live lane stayed busy
                log.warning("live updates: could not enrich %s: %s", event.type, exc)
        self._publish(event)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
