"""The live-update hub of one API node: a relay reading the engine's event stream, fanned out to
this node's sockets.

The engine's functions write their messages into app.events inside their transactions
(docs/notifications.md), so a message exists only once its change committed. Every API node (and
every worker process of one) runs one Hub: its relay reads the events that became visible since
its cursor (`server.read_events`, a snapshot-based window: rpc/03_events.sql, docs/live.md "The
event stream"), in id order, and hands each to the mailboxes of its own sockets that may see it
(public market messages to all, a user's messages to that user's sockets, admin messages to
admins). Nodes never talk to each other: each reads everything from the database, so adding a node
needs nothing else. After a page of events the relay reads again at once; after an empty one it
waits `poll` seconds (WAGERBASE_EVENT_POLL_MS, 5 ms by default).

A hub starting fresh begins at the current end of the stream. When the relay's connection is lost
it reconnects by itself, with backoff, and goes on from its cursor: nothing committed meanwhile is
missed, and no `resync` is needed. The database says when the cursor cannot be trusted: the
server restarted or failed over since it was made (a commit not yet flushed or replicated may be
gone), or events it had not reached were pruned (it fell behind the retention). The hub then starts
again at the current end and publishes a `resync` event: clients reload what they show (BetMarket
sockets get `{"opcode": "resync"}`, Supabase Realtime channels a `system` frame and a `resync`
broadcast). Every poll is a query, so a connection that died without a word is noticed at once
(TCP keepalives too).

The relay must read the primary: the connection string is the node's DATABASE_URL with
`conninfo.for_component`'s defaults, so with several hosts it carries
`target_session_attrs=read-write` and reaches the primary, after a failover the new one.

A slow socket never slows the others or the database: each mailbox is bounded, odds messages of
one market replace the older one still waiting (a client only needs the latest odds), and a
mailbox that overflows anyway, or whose oldest message has waited more than MAX_LAG_SECONDS, is
marked so its socket closes with a "try again later" code.

Fan-out: each event is one object handed to every mailbox, and carries a cache (`Event.frames`)
in which each surface keeps what it made of it once for all of the node's sockets: BetMarket's
JSON text, a Realtime broadcast's frame, the bytes of a WebSocket frame (live/wire.py). A mailbox
whose socket is idle (nothing waiting, its writer waiting for the next event, nothing being sent)
may take an event at once: its `send_now`, set by the socket, writes the frame to the client's
connection during `publish`, with no task to wake; it declines (and the event is queued for the
socket's writer as before) when the event needs per-socket work that waits (a database check)
or the connection is not ready to take more (its buffer is full: the client reads slowly).

Sessions: a mailbox knows the sessions of the tokens its socket holds (`sessions`), and takes the
engine's `session_ended` messages that name one of them (the socket then closes what that session
had open). When the hub resyncs, messages it did not read are lost: so before the `resync` the
hub asks the database which of its sockets' sessions ended meanwhile (server.ended_sessions) and
hands them a `session_ended` of its own. A socket of an ended session is thus closed when the
message arrives, or at the latest when the hub resyncs. The hub also remembers the last sessions
it heard end (`ended_recently`): a socket checks its token at the database, then, with no await in
between, asks the hub before it takes the session on, so a session that ended while the check was
on its way is not taken on either.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from wagerbase.conninfo import for_component
from wagerbase.database import Connection
from wagerbase.errors import ApiError

log = logging.getLogger("wagerbase.live")

CHANNELS = {
    "wagerbase_market": "market",
    "wagerbase_user": "user",
    "wagerbase_admin": "admin",
    "wagerbase_realtime": "realtime",  # what Realtime's clients send each other (its rooms)
}
MAILBOX_LIMIT = 1000
# A socket whose oldest waiting message is older than this is too slow to follow the market
# (coalescing keeps its mailbox short, not fresh): it is dropped like a full one.
MAX_LAG_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 5.0
DEFAULT_POLL_SECONDS = 0.005  # after an empty read, the relay reads again this much later
BATCH = 1000  # events a read returns at most (server.read_events pages a larger window)
READ = "select server.read_events(%s::jsonb, %s) as page"
# why the relay resynced (server.read_events) -> the `reason` of the `resync` clients receive
RESYNC_REASONS = {"server": "reconnected", "pruned": "fell_behind", "behind": "fell_behind"}
SESSION_ENDED = "session_ended"  # the engine's user message naming sessions that ended
RECENTLY_ENDED = 10_000  # sessions the hub remembers having heard end


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
    `frames` is what the node's sockets made of it, kept for the others (the module's heading)."""

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


class Mailbox:
    """One socket's queue: bounded in length and in age, and coalescing each market's odds to the
    latest.

    Its age is how long the socket has been missing an update: the moment the oldest message
    still waiting arrived, or the one its writer took and is still sending (a client that stopped
    reading holds its writer there), where coalesced odds keep the moment of the first update of
    their market the socket missed, not the latest's. So a socket fed the odds of a few markets
    over and over, which coalescing keeps short, is still dropped once it is MAX_LAG_SECONDS
    behind."""

    def __init__(
        self,
        user_id: str | None = None,
        is_admin: bool = False,
        limit: int | None = None,
        max_lag: float | None = None,
    ) -> None:
        self.user_id = user_id
        self.is_admin = is_admin
        self.sessions: frozenset[str] = frozenset()  # of the tokens its socket holds
        self.client = ""  # the socket's client (an address), for the node's cap per client
        self.limit = MAILBOX_LIMIT if limit is None else limit
        self.max_lag = MAX_LAG_SECONDS if max_lag is None else max_lag
        self.overflowed = False
        # the socket's way to send an event at once (the module's heading): True when it was
        # sent (or has nothing to send), False when it must be queued for the writer
        self.send_now: Callable[[Event], bool] | None = None
        self._items: OrderedDict[Hashable, Event] = OrderedDict()  # in the order they go out
        # the same keys in the order they first arrived, each with the moment it did
        self._since: OrderedDict[Hashable, float] = OrderedDict()
        self._in_flight: float | None = None  # that moment, of the event the writer is sending
        self._ready = asyncio.Event()
        self._serial = itertools.count()
        self._waiting = False  # the writer waits in get() for the next event

    def identify(self, user_id: str | None, is_admin: bool) -> None:
        """The socket authenticated (or signed out): route its user and admin messages."""
        self.user_id, self.is_admin = user_id, is_admin

    def ends_a_session(self, event: Event) -> bool:
        """Whether the event is a `session_ended` naming a session of this socket's tokens."""
        return not self.sessions.isdisjoint(event.ended_sessions)

    def wants(self, event: Event) -> bool:
        if event.type == SESSION_ENDED:
            return self.ends_a_session(event)
        if event.audience == "user":
            return self.user_id is not None and event.payload.get("user_id") == self.user_id
        if event.audience == "admin":
            return self.is_admin
        return event.audience in ("market", "system")

    def behind_since(self) -> float | None:
        """Since when (the node's monotonic clock) the socket has been missing an update; None
        when it misses none."""
        oldest = self._in_flight
        if self._since:
            first = next(iter(self._since.values()))
            oldest = first if oldest is None else min(oldest, first)
        return oldest

    def offer(self, event: Event) -> bool:
        """Send the event at once when the socket is idle and can (send_now), else queue it;
        False when the mailbox is full, or the socket has been missing an update for longer
        than max_lag (it must then be closed)."""
        if (
            not self._items
            and self._waiting
            and not self.overflowed
            and self.send_now is not None
            and self.send_now(event)
        ):
            return True
        since = self.behind_since()
        if since is not None and event.received_at - since > self.max_lag:
            return self._overflow()
        key: Hashable
        replaced = False
        if event.audience == "market" and event.type == "odds":
            key = ("odds", event.payload.get("market_id"))
            # the newer odds go to the back, after what came between; the socket has missed
            # this market's odds since the first it did not get
            replaced = self._items.pop(key, None) is not None
        else:
            key = next(self._serial)
        if len(self._items) >= self.limit:
            return self._overflow()
        self._items[key] = event
        if not replaced:
            self._since[key] = event.received_at
        self._ready.set()
        return True

    def _overflow(self) -> bool:
        self.overflowed = True
        self._ready.set()
        return False

    async def get(self) -> Event | None:
        """The next event, waiting for one; None once the mailbox overflowed. Calling it again
        says the previous one was sent."""
        self._in_flight = None
        while not self._items:
            if self.overflowed:
                return None
            self._ready.clear()
            self._waiting = True
            try:
                await self._ready.wait()
            finally:
                self._waiting = False
        if self.overflowed:
            return None
        key, event = self._items.popitem(last=False)
        self._in_flight = self._since.pop(key)
        return event

    def __len__(self) -> int:
        return len(self._items)


Enricher = Callable[[Event], Awaitable[Event]]


class Hub:
    """One relay reading the event stream and the mailboxes of this node's sockets."""

    def __init__(self, url: str, enrich: Enricher | None = None, poll: float | None = None) -> None:
        self._url = url
        self._enrich = enrich
        self.poll = poll if poll is not None else poll_from_environment()
        self._cursor: Any = None  # where the relay reads next (server.read_events); None: the end
        self._mailboxes: set[Mailbox] = set()
        self._per_client: Counter[str] = Counter()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.published = 0
        self.reconnects = 0
        self.resyncs = 0

    # mailboxes -------------------------------------------------------------------------------

    def subscribe(self, mailbox: Mailbox, client: str = "") -> Mailbox:
        """Route messages to the mailbox of a socket of `client` (its address)."""
        if mailbox not in self._mailboxes:
            mailbox.client = client
            self._mailboxes.add(mailbox)
            self._per_client[client] += 1
        return mailbox

    def unsubscribe(self, mailbox: Mailbox) -> None:
        if mailbox in self._mailboxes:
            self._mailboxes.discard(mailbox)
            self._per_client[mailbox.client] -= 1
            if not self._per_client[mailbox.client]:
                del self._per_client[mailbox.client]

    @property
    def sockets(self) -> int:
        return len(self._mailboxes)

    def sockets_of(self, client: str) -> int:
        """How many sockets of this node are `client`'s."""
        return self._per_client[client]

    def ended_recently(self, session_id: str | None) -> bool:
        """Whether the hub heard this session end (among the last RECENTLY_ENDED)."""
        return session_id is not None and session_id in self._ended

    def publish(self, event: Event) -> None:
        """Hand an event to every mailbox that may see it; full ones are dropped from the hub."""
        for session in event.ended_sessions:
            self._ended[session] = None
            self._ended.move_to_end(session)
        while len(self._ended) > RECENTLY_ENDED:
            self._ended.popitem(last=False)
        self.published += 1
        for mailbox in list(self._mailboxes):
            if mailbox.wants(event) and not mailbox.offer(event):
                log.warning("dropping a slow socket (user %s): mailbox full", mailbox.user_id)
                self.unsubscribe(mailbox)

    # the relay -------------------------------------------------------------------------------

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
        cursor = await conn.execute(READ, [_json(self._cursor), BATCH])
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
        self.publish(
            Event("system", {"type": "resync", "reason": RESYNC_REASONS.get(reason, reason)})
        )

    async def _recheck_sessions(self, conn: Connection) -> None:
        """Hand a `session_ended` to the sockets whose sessions ended in messages the hub will
        not read (it resyncs)."""
        live = set()
        for mailbox in self._mailboxes:
            for session in mailbox.sessions:
                try:
                    live.add(uuid.UUID(session))
                except ValueError:
                    continue
        if not live:
            return
        try:
            cursor = await conn.execute(
                "select id::text from server.ended_sessions(%s::uuid[]) as id", [sorted(live)]
            )
            ended = [row["id"] for row in await cursor.fetchall()]
        except psycopg.Error as exc:
            log.warning("live updates: cannot check the sockets' sessions: %s", exc)
            return
        if ended:
            self.publish(Event("user", {"type": SESSION_ENDED, "session_ids": ended}))

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
        self.publish(event)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
