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

from wagerbase.tokens import Tokens

Connection = psycopg.Connection[tuple[Any, ...]]

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
    conn.execute(
        "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
        [claims["role"], json.dumps(claims)],
    )


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
    conn.execute(
        """
        insert into auth.users (id, email, raw_app_meta_data)
        select ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
               'bench' || n || '@example.test',
               '{"provider": "email", "providers": ["email"]}'
        from generate_series(1, %s) as n
        """,
        [users],
    )
    conn.execute(
        """
        insert into app.profiles (user_id, username)
        select ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
               'bench_' || lpad(n::text, 6, '0')
        from generate_series(1, %s) as n
        """,
        [users],
    )
    conn.execute(
        """
        insert into auth.users (id, email, raw_app_meta_data)
        values (%s, 'bench-admin@example.test',
                '{"provider": "email", "providers": ["email"], "role": "admin"}');
        """,
        [ADMIN_ID],
    )
    conn.execute(
        "insert into app.profiles (user_id, username) values (%s, 'bench_admin')", [ADMIN_ID]
    )
    conn.commit()


def create_wallets(conn: Connection, users: int) -> int:
    """Each user's wallet, opened by the user's first call (public.get_wallet), funded with the
    configured initial balance, raised beforehand to WALLET_BALANCE. Returns the total funded."""
    conn.execute("update app.config set initial_balance = %s", [WALLET_BALANCE])
    conn.commit()
    conn.execute("select set_config('bench.users', %s, true)", [str(users)])
    conn.execute(
        """
        do $wallets$
        declare
            v_users integer := current_setting('bench.users')::integer;
        begin
            perform set_config('role', 'authenticated', true);
            for v_n in 1 .. v_users loop
                perform set_config('request.jwt.claims', json_build_object(
                    'sub', '00000000-0000-0000-0000-' || lpad(v_n::text, 12, '0'),
                    'role', 'authenticated', 'aud', 'authenticated')::text, true);
                perform public.get_wallet();
            end loop;
        end
        $wallets$
        """
    )
    conn.commit()
    row = conn.execute(
        "select count(*), coalesce(sum(balance), 0) from app.accounts where kind = 'user'"
    ).fetchone()
    assert row is not None
    if row[0] != users:
        raise RuntimeError(f"expected {users} wallets, found {row[0]}")
    return int(row[1])


def sign_in(conn: Connection, users: int, secret: str) -> list[str]:
    """An access token for each of users 1..users (in that order), as a password sign-in gives
    one: a session started with app._start_session (with a refresh token nobody will use), and a
    token signed with `secret`, the API node's. No password is checked, and so no sign-in is
    counted against the limits per address (docs/api.md, "Limits on signing in")."""
    rows = conn.execute(
        """
        select s.session_id, app._start_session(s.user_id, s.session_id, s.refresh_hash)
        from (
            select n,
                   ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid as user_id,
                   gen_random_uuid() as session_id,
                   md5(gen_random_uuid()::text) as refresh_hash
            from generate_series(1, %s) as n
        ) as s
        order by s.n
        """,
        [users],
    ).fetchall()
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
    rows = conn.execute(
        """
        select (public.create_market(
                    title => %s || ' ' || i, outcomes => %s, kind => %s, options => %s
                ) ->> 'id')::bigint
        from generate_series(1, %s) as i
        """,
        [title, Jsonb(labels), kind, Jsonb(options or {}), count],
    ).fetchall()
    conn.commit()
    ids = sorted(int(row[0]) for row in rows)
    first_outcome = conn.execute(
        "select min(id) from app.outcomes where market_id = %s", [ids[0]]
    ).fetchone()
    assert first_outcome is not None
    markets = MarketRange(kind, ids[0], count, int(first_outcome[0]), outcomes)
    check_layout(conn, markets)
    return markets


def check_layout(conn: Connection, markets: MarketRange) -> None:
    """Refuse to go on unless the ids are laid out as the pgbench script computes them."""
    rows = conn.execute(
        """
        select m.id, o.id, o.position
        from app.markets as m
        inner join app.outcomes as o on o.market_id = m.id
        where m.id between %s and %s
        order by m.id, o.position
        """,
        [markets.first, markets.last],
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
        """
        select count(*), count(*) filter (where approval = 'accepted')
        from app.wagers where market_id between %s and %s
        """,
        [markets.first, markets.last],
    ).fetchone()
    conn.commit()
    assert row is not None
    return int(row[0]), int(row[1])


# Places wagers number bench.first .. bench.first + bench.count - 1 on one market in one batch
# of the engine's batched placement (app._place_wagers, what server.place_wagers runs for the API's
# batches): each wager decided as its own call of place_wager would have been, by the same rules,
# and written set-based. Wager i is user 1 + (i * 7919) % users (7919 is prime, so the users take
# turns) on the outcome ((i % 7) * outcomes) / 7: with three outcomes 3/7, 2/7 and 2/7 of the
# wagers, with two 3/7 and 4/7. i % 7 and i % users vary independently, so every user wins some
# wagers and loses others. A wager refused fails the load (none should be).
_LOAD_CHUNK = """
do $load$
declare
    v_first bigint := current_setting('bench.first')::bigint;
    v_count bigint := current_setting('bench.count')::bigint;
    v_market bigint := current_setting('bench.market_id')::bigint;
    v_outcome_first bigint := current_setting('bench.outcome_first')::bigint;
    v_outcomes integer := current_setting('bench.outcomes')::integer;
    v_users integer := current_setting('bench.users')::integer;
    v_stake bigint := current_setting('bench.stake')::bigint;
    v_refused jsonb;
begin
    select a.answer into v_refused
    from jsonb_array_elements(app._place_wagers(v_market, (
        select jsonb_agg(jsonb_build_object(
                'user_id', w.user_id,
                'claims', jsonb_build_object(
                    'sub', w.user_id, 'role', 'authenticated', 'aud', 'authenticated'),
                'outcome_id', v_outcome_first + ((w.i % 7) * v_outcomes) / 7,
                'stake', v_stake
            ) order by w.i)
        from (
            -- i is a bigint: past wager 271,183 its product with 7919 overflows an integer
            select g.i, ('00000000-0000-0000-0000-'
                    || lpad((1 + (g.i * 7919) % v_users)::text, 12, '0'))::uuid as user_id
            from generate_series(v_first, v_first + v_count - 1) as g (i)
        ) as w
    ))) as a (answer)
    where not a.answer ? 'result'
    limit 1;
    if v_refused is not null then
        raise exception 'a wager of the loader was refused: %', v_refused;
    end if;
end
$load$
"""


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
    times slows itself down on the row's growing chain of versions). Returns the seconds it took."""
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
            conn.execute("select set_config(%s, %s, true)", [name, str(value)])
        conn.execute(_LOAD_CHUNK)
        conn.commit()
        done += size
        now = time.monotonic()
        if now - last_report >= 10 or done == wagers:
            on_progress(done, now - started)
            last_report = now
    return time.monotonic() - started
