"""The limits of one API node: how its database connections are shared between kinds of work, how
long a request waits for one, and how many live sockets and subscriptions it holds. Each is an
environment variable (README.md's settings; docs/operations.md, "Limits"); a value that is not a
whole number of at least 1 (or, for the wait, a number of seconds above 0) keeps the default.

The node's pool is split into lanes (admission.py), each with a reserved share, so that one kind of
work cannot take another's connections:

| lane | setting (default) | serves |
| --- | --- | --- |
| money | `WAGERBASE_POOL_MONEY` (4) | calls that change state (money_calls.py); half per user |
| server | `WAGERBASE_POOL_SERVER` (2) | the node's own work: sign-up, sign-in, the schema cache |
| reads | `WAGERBASE_POOL_READS` (6) | reads over HTTP: views, read-only calls, BetMarket's GETs |
| live | `WAGERBASE_POOL_LIVE` (4) | live updates: Realtime re-selects, socket token checks |
| health | (1) | `/health` |

Of the reads, at most `WAGERBASE_ANON_READS` (4, and always fewer than the lane) are anonymous at
once, and at most `WAGERBASE_CLIENT_READS` (3) are one client's (a signed-in user, or an address
for anonymous callers). A request waits at most `WAGERBASE_POOL_WAIT` seconds (5) for its lane;
past that it is answered 429 with Retry-After.

Live sockets: at most `WAGERBASE_MAX_SOCKETS` (1000) on the node (BetMarket's /ws and Realtime
together), of which at most `WAGERBASE_CLIENT_SOCKETS` (100) from one client address,
`WAGERBASE_MAX_CHANNELS` (5000) Realtime channels on the node, and `WAGERBASE_SOCKET_BINDINGS`
(100) postgres_changes bindings on one socket. What clients send each other on Realtime: a
broadcast of at most `WAGERBASE_BROADCAST_BYTES` (65536), at most `WAGERBASE_SOCKET_MESSAGES` (10)
broadcasts and presence messages a second from one socket, a tracked presence of at most
`WAGERBASE_PRESENCE_BYTES` (2048), at most `WAGERBASE_TOPIC_PRESENCES` (500) presences on one
channel across the nodes, and a node's presences removed by the others once it has been silent
for `WAGERBASE_PRESENCE_TTL_SECONDS` (15, at most 3600).

A node of several worker processes (`wagerbase serve --workers N`, server.py) divides each of
these per-node numbers among its workers: each worker holds the setting divided by N, rounded down
and at least 1 (`Limits.shared_by`), so the node as a whole never holds more than its settings say
(unless a setting is below N). The health lane (one connection) and the bindings of one socket are
per worker and per socket as before. docs/operations.md, "Workers", says what that means for the
connections to provision.
"""

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Self


def _setting(name: str, default: float) -> float:
    """A number from the environment: a whole one of at least 1 where `default` is whole, else
    one above 0; `default` when unset or not such a number."""
    try:
        value = type(default)(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 1 or (value > 0 and isinstance(default, float)) else default


def _env(name: str, *, per_node: bool = True) -> dict[str, Any]:
    """The field's environment variable, and whether it is a per-node number that the node's
    workers divide among themselves."""
    return {"env": name, "per_node": per_node}


def share(value: int, workers: int) -> int:
    """One worker's share of a per-node number: divided by the workers, rounded down, at least 1."""
    return max(1, value // max(1, workers))


def where(workers: int) -> str:
    """What holds a limit, for a refusal: `this node`, or `this worker of the node (one of 2)`."""
    return "this node" if workers <= 1 else f"this worker of the node (one of {workers})"


def named(setting: str, workers: int) -> str:
    """A setting's name for a refusal, and how the node's workers share it:
    `WAGERBASE_MAX_SOCKETS`, or `WAGERBASE_MAX_SOCKETS shared by 2 workers`."""
    return setting if workers <= 1 else f"{setting} shared by {workers} workers"


@dataclass(frozen=True)
class _FromEnvironment:
    @classmethod
    def from_environment(cls) -> Self:
        """Each field from the environment variable its metadata names (else its default)."""
        given = {
            f.name: _setting(f.metadata["env"], f.default)  # type: ignore[arg-type]
            for f in fields(cls)
            if "env" in f.metadata
        }
        return cls(**given)

    def shared_by(self, workers: int) -> Self:
        """One worker's share of these limits, where `workers` processes serve the node: every
        per-node number divided (share), every other one as it is."""
        shares = {
            f.name: share(getattr(self, f.name), workers)
            for f in fields(self)
            if f.metadata.get("per_node")
        }
        return replace(self, **shares)


@dataclass(frozen=True)
class Lanes(_FromEnvironment):
    """The sizes of the pool's lanes and the bounds on waiting for one (the module's table)."""

    money: int = field(default=4, metadata=_env("WAGERBASE_POOL_MONEY"))
    server: int = field(default=2, metadata=_env("WAGERBASE_POOL_SERVER"))
    reads: int = field(default=6, metadata=_env("WAGERBASE_POOL_READS"))
    live: int = field(default=4, metadata=_env("WAGERBASE_POOL_LIVE"))
    health: int = 1
    anon_reads: int = field(default=4, metadata=_env("WAGERBASE_ANON_READS"))
    client_reads: int = field(default=3, metadata=_env("WAGERBASE_CLIENT_READS"))
    wait: float = field(default=5.0, metadata=_env("WAGERBASE_POOL_WAIT", per_node=False))

    @property
    def anonymous_reads(self) -> int:
        """Anonymous reads at once: never every read connection (while there are two or more)."""
        return max(1, min(self.anon_reads, self.reads - 1))

    @property
    def total(self) -> int:
        return self.money + self.server + self.reads + self.live + self.health


@dataclass(frozen=True)
class Sockets(_FromEnvironment):
    """How many live sockets and subscriptions one node holds."""

    # per node: BetMarket /ws and Realtime together
    sockets: int = field(default=1000, metadata=_env("WAGERBASE_MAX_SOCKETS"))
    # per client address (an IPv6 one by its /64), of those
    client_sockets: int = field(default=100, metadata=_env("WAGERBASE_CLIENT_SOCKETS"))
    # Realtime channels per node
    channels: int = field(default=5000, metadata=_env("WAGERBASE_MAX_CHANNELS"))
    # postgres_changes bindings per socket, all its channels together
    socket_bindings: int = field(
        default=100, metadata=_env("WAGERBASE_SOCKET_BINDINGS", per_node=False)
    )
    # what clients send each other (docs/live.md, "Broadcast and presence"): a broadcast's size
    # (its event and payload as JSON), broadcasts and presence messages a second per socket, a
    # tracked presence's size, presences a channel holds (every node's together), and how long a
    # node may go without saying it is alive before another removes its presences
    broadcast_bytes: int = field(
        default=65536, metadata=_env("WAGERBASE_BROADCAST_BYTES", per_node=False)
    )
    socket_messages: int = field(
        default=10, metadata=_env("WAGERBASE_SOCKET_MESSAGES", per_node=False)
    )
    presence_bytes: int = field(
        default=2048, metadata=_env("WAGERBASE_PRESENCE_BYTES", per_node=False)
    )
    topic_presences: int = field(
        default=500, metadata=_env("WAGERBASE_TOPIC_PRESENCES", per_node=False)
    )
    presence_ttl: int = field(
        default=15, metadata=_env("WAGERBASE_PRESENCE_TTL_SECONDS", per_node=False)
    )


@dataclass(frozen=True)
class Limits:
    """The limits of a node (`workers` 1), or one worker's share of them (`shared_by`)."""

    lanes: Lanes = field(default_factory=Lanes)
    sockets: Sockets = field(default_factory=Sockets)
    workers: int = 1  # the worker processes that share the node's limits

    @classmethod
    def from_environment(cls) -> "Limits":
        return cls(Lanes.from_environment(), Sockets.from_environment())

    def shared_by(self, workers: int) -> "Limits":
        """One worker's share of the node's limits, where `workers` processes serve it."""
        if workers <= 1:
            return self
        return Limits(self.lanes.shared_by(workers), self.sockets.shared_by(workers), workers)

    def setting(self, name: str) -> str:
        """A setting's name for a refusal, and how the node's workers share it (named)."""
        return named(name, self.workers)


def of_node(state: Any) -> Limits:
    """The limits an app was made with (app.Config), kept in its state; the defaults for an app
    made without (a test's small app)."""
    limits = state.get("limits") if hasattr(state, "get") else None
    return limits if isinstance(limits, Limits) else Limits()


def too_many_sockets(state: Any, hub_sockets: int, client_sockets: int) -> str | None:
    """Why a new socket is closed at once (code 1013), or None when it may stay: the node (its
    worker) holds as many as it may, or as many of this client's as it may."""
    node = of_node(state)
    limits = node.sockets
    if hub_sockets >= limits.sockets:
        return (
            f"too many sockets on {where(node.workers)} (at most {limits.sockets}, "
            f"{node.setting('WAGERBASE_MAX_SOCKETS')}); try again later"
        )
    if client_sockets >= limits.client_sockets:
        return (
            f"too many sockets from this address (at most {limits.client_sockets}, "
            f"{node.setting('WAGERBASE_CLIENT_SOCKETS')}); close some first"
        )
    return None
