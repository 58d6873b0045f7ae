"""A Realtime socket's channels, one per topic, each authorized by its own token, and the
socket's mailbox on the node's hub, which asks only for the messages its channels can use.
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wagerbase.live import hub as hub_module
from wagerbase.live.hub import SESSION_ENDED, Event, Mailbox
from wagerbase.live.who import Caller
from wagerbase.surfaces.realtime.bindings import Binding, Subscription
from wagerbase.surfaces.realtime.changes import (
    ADMIN_MESSAGE_TABLES,
    MARKET_TABLES,
    USER_TABLES,
    is_admin,
)
from wagerbase.surfaces.realtime.policies import OPEN, Permissions
from wagerbase.tokens import Claims

PREFIX = "realtime:"
ADMIN_TOPIC = "realtime:admin"
# the first part of a topic's name that makes it the engine's (app._engine_topic, the same rule)
ENGINE_PARTS = frozenset({"market", "markets", "admin", "user", "users", "wagerbase"})


def engine_topic(name: str) -> bool:
    """Whether a topic (its name, without `realtime:`) is the engine's: market:{id}, markets,
    admin, and every name whose first part before a colon is market, markets, admin, user, users
    or wagerbase. Only the engine broadcasts there; no client tracks a presence or joins one
    privately (app._engine_topic refuses them as well)."""
    return name.split(":", 1)[0] in ENGINE_PARTS


@dataclass(frozen=True)
class Tracked:
    """A channel's presence on the node: its phx_ref and what the client tracked."""

    ref: str
    meta: dict[str, Any]


@dataclass
class Channel:
    topic: str
    join_ref: str | None
    token: str
    claims: Claims
    caller: Caller  # who the database says the token belongs to, at the join or access_token
    subscription: Subscription
    market_id: int | None
    all_markets: bool
    # a room (any topic but the engine's): what its clients send each other
    private: bool = False  # config.private: RLS on realtime.messages decides (policies.py)
    permissions: Permissions = OPEN  # what the token may do here; everything on a public channel
    self_broadcast: bool = False  # config.broadcast.self: its own broadcasts come back to it
    ack: bool = False  # config.broadcast.ack: a broadcast sent is answered once written
    presence_key: str = ""  # config.presence.key, or one made at the join
    presence: bool = False  # it receives presence_state and presence_diff
    tracked: Tracked | None = None
    # presence diffs held while its presence_state is being read (presence.py); None: none held
    held: list[Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.topic.removeprefix(PREFIX)

    @property
    def admin(self) -> bool:
        """The admin topic, which carries the engine's admin messages."""
        return self.topic == ADMIN_TOPIC

    @property
    def bindings(self) -> list[Binding]:
        return self.subscription.bindings

    @property
    def session_id(self) -> str | None:
        """The session of the channel's token (None for the anon and service keys)."""
        session = self.claims.get("session_id")
        return session if isinstance(session, str) else None

    @property
    def room(self) -> bool:
        """A topic of the clients' (not the engine's): they may broadcast and track there."""
        return not engine_topic(self.name)

    def hears(self, private: bool) -> bool:
        """Whether a client message on this channel's name, sent on a private channel or not,
        is this channel's: a private channel and a public one of the same name are two."""
        return self.room and self.private == private

    def expired(self, now: float) -> bool:
        exp = self.claims.get("exp")
        return isinstance(exp, int | float) and exp <= now


def market_topic(topic: str) -> tuple[int | None, bool]:
    name = topic.removeprefix(PREFIX)
    if name == "markets":
        return None, True
    kind, _, ident = name.partition(":")
    if kind == "market" and ident.isdigit():
        return int(ident), False
    return None, False


class RealtimeMailbox(Mailbox):
    """A socket's mailbox that asks the hub only for what its channels can use: market messages
    when a channel listens to a market topic or to the market views, user messages of the users
    its channels are authorized as (every user's for an admin or the service role) when a channel
    has a binding on the user views, and admin messages when a channel whose token claims admin
    joined the admin topic or binds to a view they change. The database still decides: who is an
    admin now, and each row (RLS)."""

    def __init__(self) -> None:
        super().__init__(limit=hub_module.MAILBOX_LIMIT)
        self.users: frozenset[str] = frozenset()
        self.every_user = False
        self.markets = False
        self.admin_messages = False
        self.rooms: frozenset[tuple[str, bool]] = frozenset()  # (name, private) of its rooms
        self.dropped = asyncio.Event()  # the hub dropped it: close, even if the writer is stuck

    def offer(self, event: Event) -> bool:
        accepted = super().offer(event)
        if not accepted:
            self.dropped.set()
        return accepted

    def wants(self, event: Event) -> bool:
        if event.type == SESSION_ENDED:
            return self.ends_a_session(event)
        if event.audience == "user":
            return self.every_user or event.payload.get("user_id") in self.users
        if event.audience == "market":
            return self.markets
        if event.audience == "admin":
            return self.admin_messages
        if event.audience == "realtime":
            return (event.payload.get("topic"), event.payload.get("private") is True) in self.rooms
        return event.audience == "system"

    def follow(self, channels: Iterable[Channel]) -> None:
        """Ask for the messages these channels (the socket's) can use, and say who the socket is."""
        channels = list(channels)
        users: set[str] = set()
        every_user = markets = admin = admin_messages = False
        first: str | None = None
        sessions: set[str] = set()
        for channel in channels:
            sub = channel.caller.user_id
            if channel.claims.get("role") == "authenticated" and isinstance(sub, str):
                first = first or sub
            # the database's answer at the join (or access_token), not the claim alone; each
            # admin message and each row is still checked again before it goes out
            admin = admin or (channel.caller.admin and is_admin(channel.claims))
            markets = markets or channel.market_id is not None or channel.all_markets
            privileged = channel.caller.admin
            admin_messages = admin_messages or (channel.admin and privileged)
            for binding in channel.bindings:
                if binding.table is None or binding.table in MARKET_TABLES:
                    markets = True
                if binding.table is None or binding.table in USER_TABLES:
                    if isinstance(sub, str):
                        users.add(sub)
                    every_user = every_user or privileged
                if binding.table is None or binding.table in ADMIN_MESSAGE_TABLES:
                    admin_messages = admin_messages or privileged
            if channel.session_id is not None:
                sessions.add(channel.session_id)
        self.users, self.every_user = frozenset(users), every_user
        self.markets, self.admin_messages = markets, admin_messages
        self.rooms = frozenset((c.name, c.private) for c in channels if c.room)
        self.sessions = frozenset(sessions)
        self.identify(first, admin)
