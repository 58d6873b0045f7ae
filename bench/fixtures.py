"""The benchmark's data: users with funded wallets, an admin, and markets, all made through the
engine's own functions except the user rows themselves (sign-up is not the engine's job).

User n (1..users) has the id 00000000-0000-0000-0000-<n in 12 digits>, so a pgbench script can
build its JWT claims from a random integer. Every call into the engine runs as a request does:
`set_config('role', 'authenticated', true)` plus the user's (or the admin's) claims.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.sql_files import statements
from wagerbase.tokens import Tokens

Connection = psycopg.Connection[tuple[Any, ...]]
QUERIES = statements("fixtures.sql")

ADMIN_ID = "00000000-0000-0000-0001-000000000001"
# A wallet balance no benchmark exhausts: 10,000,000.00 (initial_balance, in minor units).
WALLET_BALANCE = 1_000_000_000
# Large enough that a fixed-odds cap never falls to the minimum (stakes stay below it anyway).
BENCH_MARGIN = 1_000_000_000_000


def user_id(n: int) -> str:
    """The id of bench user n, the same formula as bench/scripts/place_wager.sql."""
    return f"00000000-0000-0000-0000-{n:012d}"


def user_claims(n: int) -> dict[str, Any]:
    return {"sub": user_id(n), "role": "authenticated", "aud": "authenticated"}


ADMIN_CLAIMS: dict[str, Any] = {
    "sub": ADMIN_ID,
    "role": "authenticated",
    "aud": "authenticated",
    "app_metadata": {"role": "admin"},
}


def act_as(conn: Connection, claims: dict[str, Any]) -> None:
    """For the rest of the current transaction, act as the caller these claims describe."""
    conn.execute(QUERIES["act_as"], {"role": claims["role"], "claims": json.dumps(claims)})


@dataclass(frozen=True)
class MarketRange:
    """Markets made together: ids first..first+count-1, each with `outcomes` outcomes whose ids
    are outcome_first + i * outcomes + position (checked by `check_layout`)."""

    kind: str
    first: int
    count: int
    outcome_first: int
    outcomes: int

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def pgbench_vars(self) -> list[str]:
        return [
            f"market_first={self.first}",
            f"markets={self.count}",
            f"outcome_first={self.outcome_first}",
            f"outcomes={self.outcomes}",
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "market_ids": [self.first, self.last],
            "outcomes_per_market": self.outcomes,
        }


def create_users(conn: Connection, users: int) -> None:
    """Users 1..users and an admin, as sign-up makes them (auth.users and app.profiles rows)."""
    conn.execute(QUERIES["create_users"], {"users": users})
    conn.execute(QUERIES["create_profiles"], {"users": users})
    conn.execute(QUERIES["create_admin"], {"admin_id": ADMIN_ID})
    conn.execute(QUERIES["create_admin_profile"], {"admin_id": ADMIN_ID})
    conn.commit()


def create_wallets(conn: Connection, users: int) -> int:
    """Each user's wallet, opened by the user's first call (public.get_wallet), funded with the
    configured initial balance, raised beforehand to WALLET_BALANCE. Returns the total funded."""
    conn.execute(QUERIES["set_initial_balance"], {"balance": WALLET_BALANCE})
    conn.commit()
    conn.execute(QUERIES["set_users"], {"users": str(users)})
    conn.execute(QUERIES["open_wallets"])
    conn.commit()
    row = conn.execute(QUERIES["wallets"]).fetchone()
    assert row is not None
    if row[0] != users:
        raise RuntimeError(f"expected {users} wallets, found {row[0]}")
    return int(row[1])


def sign_in(conn: Connection, users: int, secret: str) -> list[str]:
    """An access token for each of users 1..users (in that order), as a password sign-in gives
    one: a session started with app._start_session (with a refresh token nobody will use), and a
    token signed with `secret`, the API node's. No password is checked, and so no sign-in is
    counted against the limits per address (docs/api.md, "Limits on signing in")."""
    rows = conn.execute(QUERIES["start_sessions"], {"users": users}).fetchall()
    conn.commit()
    tokens = Tokens(secret)
    return [tokens.access_token(user, session)[0] for session, user in rows]


def create_markets(
    conn: Connection,
    count: int,
    *,
    kind: str,
    outcomes: int,
    title: str,
    options: dict[str, Any] | None = None,
) -> MarketRange:
    """`count` open markets of one kind, made by the admin through public.create_market in one
    statement (so their ids, and their outcomes' ids, are consecutive)."""
    labels = [f"Outcome {position + 1}" for position in range(outcomes)]
    act_as(conn, ADMIN_CLAIMS)
    params = {
        "title": title,
        "labels": Jsonb(labels),
        "kind": kind,
        "options": Jsonb(options or {}),
        "count": count,
    }
    rows = conn.execute(QUERIES["create_markets"], params).fetchall()
    conn.commit()
    ids = sorted(int(row[0]) for row in rows)
    first_outcome = conn.execute(QUERIES["first_outcome"], {"market_id": ids[0]}).fetchone()
    assert first_outcome is not None
    markets = MarketRange(kind, ids[0], count, int(first_outcome[0]), outcomes)
    check_layout(conn, markets)
    return markets


def check_layout(conn: Connection, markets: MarketRange) -> None:
    """Refuse to go on unless the ids are laid out as the pgbench script computes them."""
    rows = conn.execute(
        QUERIES["layout"], {"first": markets.first, "last": markets.last}
    ).fetchall()
    expected = [
        (
            markets.first + index,
            markets.outcome_first + index * markets.outcomes + position - 1,
            position,
        )
        for index in range(markets.count)
        for position in range(1, markets.outcomes + 1)
    ]
    if [tuple(int(value) for value in row) for row in rows] != expected:
        raise RuntimeError(
            f"markets {markets.first}..{markets.last}: ids are not consecutive as the pgbench "
            "script assumes (was something else creating markets at the same time?)"
        )


def count_wagers(conn: Connection, markets: MarketRange) -> tuple[int, int]:
    """Wagers on these markets: all of them, and the accepted ones."""
    row = conn.execute(
        QUERIES["count_wagers"], {"first": markets.first, "last": markets.last}
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0]), int(row[1])


def load_wagers(
    conn: Connection,
    market: MarketRange,
    *,
    wagers: int,
    users: int,
    stake: int,
    chunk: int,
    on_progress: Callable[[int, float], None],
) -> float:
    """Place `wagers` wagers on one market through the engine's batched placement, `chunk` per
    transaction and batch (short transactions: one that updates the same market row thousands of
    times slows itself down on the row's growing chain of versions): fixtures.sql's load_chunk says
    which user places which wager on which outcome. Returns the seconds it took."""
    assert market.count == 1
    started = time.monotonic()
    done = 0
    last_report = started
    while done < wagers:
        size = min(chunk, wagers - done)
        settings = {
            "bench.first": done,
            "bench.count": size,
            "bench.market_id": market.first,
            "bench.outcome_first": market.outcome_first,
            "bench.outcomes": market.outcomes,
            "bench.users": users,
            "bench.stake": stake,
        }
        for name, value in settings.items():
            conn.execute(QUERIES["set_setting"], {"name": name, "value": str(value)})
        conn.execute(QUERIES["load_chunk"])
        conn.commit()
        done += size
        now = time.monotonic()
        if now - last_report >= 10 or done == wagers:
            on_progress(done, now - started)
            last_report = now
    return time.monotonic() - started
