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
(100) postgres_changes bindings on one socket.
"""

import os
from dataclasses import dataclass, field, fields
from typing import Any, Self


def _setting(name: str, default: float) -> float:
    """A number from the environment: a whole one of at least 1 where `default` is whole, else
    one above 0; `default` when unset or not such a number."""
    try:
        value = type(default)(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 1 or (value > 0 and isinstance(default, float)) else default


def _env(name: str) -> dict[str, str]:
    return {"env": name}


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
    wait: float = field(default=5.0, metadata=_env("WAGERBASE_POOL_WAIT"))

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
    socket_bindings: int = field(default=100, metadata=_env("WAGERBASE_SOCKET_BINDINGS"))


@dataclass(frozen=True)
class Limits:
    lanes: Lanes = field(default_factory=Lanes)
    sockets: Sockets = field(default_factory=Sockets)

    @classmethod
    def from_environment(cls) -> "Limits":
        return cls(Lanes.from_environment(), Sockets.from_environment())


def of_node(state: Any) -> Limits:
    """The limits an app was made with (app.Config), kept in its state; the defaults for an app
    made without (a test's small app)."""
    limits = state.get("limits") if hasattr(state, "get") else None
    return limits if isinstance(limits, Limits) else Limits()


def too_many_sockets(state: Any, hub_sockets: int, client_sockets: int) -> str | None:
    """Why a new socket is closed at once (code 1013), or None when it may stay: the node holds
    as many as it may, or as many of this client's as it may."""
    limits = of_node(state).sockets
    if hub_sockets >= limits.sockets:
        return (
            f"too many sockets on this node (at most {limits.sockets}, WAGERBASE_MAX_SOCKETS); "
            "try again later"
        )
    if client_sockets >= limits.client_sockets:
        return (
            f"too many sockets from this address (at most {limits.client_sockets}, "
            "WAGERBASE_CLIENT_SOCKETS); close some first"
        )
    return None
