"""The live-update hub of one API node: the mailboxes of this node's sockets, fed by a relay that
reads the engine's event stream (relay.py: how it reads, reconnects and resyncs).

Every API node (and every worker process of one) runs one Hub. Its relay hands it each event, in
the stream's order, and the hub hands it to the mailboxes of its own sockets that may see it
(public market messages to all, a user's messages to that user's sockets, admin messages to
admins).

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
had open). When the relay resyncs it hands the sockets whose sessions ended meanwhile a
`session_ended` of its own (relay.py), so a socket of an ended session is closed when the message
arrives, or at the latest when the hub resyncs. The hub also remembers the last sessions it heard
end (`ended_recently`): a socket checks its token at the database, then, with no await in
between, asks the hub before it takes the session on, so a session that ended while the check was
on its way is not taken on either.
"""

import asyncio
import itertools
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator

from wagerbase.live.relay import SESSION_ENDED, Enricher, Event, Relay

# Event, SESSION_ENDED and Enricher are the relay's (relay.py); the surfaces import them from here
__all__ = [
    "MAILBOX_LIMIT",
    "MAX_LAG_SECONDS",
    "SESSION_ENDED",
    "Enricher",
    "Event",
    "Hub",
    "Mailbox",
]

log = logging.getLogger("wagerbase.live")

MAILBOX_LIMIT = 1000
# A socket whose oldest waiting message is older than this is too slow to follow the market
# (coalescing keeps its mailbox short, not fresh): it is dropped like a full one.
MAX_LAG_SECONDS = 10.0
RECENTLY_ENDED = 10_000  # sessions the hub remembers having heard end


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


class Hub:
    """The mailboxes of this node's sockets, and the relay that feeds them (relay.py)."""

    def __init__(self, url: str, enrich: Enricher | None = None, poll: float | None = None) -> None:
        self._mailboxes: set[Mailbox] = set()
        self._per_client: Counter[str] = Counter()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self.published = 0
        self.relay = Relay(url, self._relayed, self._sessions, enrich, poll)
        self.connected = self.relay.connected  # set while the relay reads the stream

    @property
    def poll(self) -> float:
        """Seconds the relay waits after an empty read."""
        return self.relay.poll

    @property
    def reconnects(self) -> int:
        return self.relay.reconnects

    @property
    def resyncs(self) -> int:
        return self.relay.resyncs

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

    def _relayed(self, event: Event) -> None:
        # `publish` looked up at each event, as when the relay was part of the hub: a publish
        # set on the instance (a test recording what the hub publishes) is the one called
        self.publish(event)

    def _sessions(self) -> Iterator[str]:
        """The sessions of the tokens this node's sockets hold (the relay rechecks them)."""
        for mailbox in self._mailboxes:
            yield from mailbox.sessions

    # the relay -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.relay.start()

    async def stop(self) -> None:
        await self.relay.stop()
