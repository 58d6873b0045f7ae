"""The database server's CPU per placement: one wager per call of public.place_wager, and batches
of wagers through app._place_wagers (what server.place_wagers runs for an API node's batches).

    .venv/bin/python -m bench.placement_cpu                      # sizes 1, 2, 8, 64; 2 rounds
    .venv/bin/python -m bench.placement_cpu --root ../previous   # migrated with another checkout
    .venv/bin/python -m bench.placement_cpu --sizes '' --house   # and a house bet (play_dice)

One embedded server, one database migrated with the SQL of `--root` (this checkout by default),
1,000 users and 50 fixed-odds markets as bench.run makes them. Each measurement runs on one
connection, one transaction per call or batch, spread over the markets (so no lock is waited
for), after 300 wagers to warm up; the CPU is the backend process's user and system time from
/proc over `--wagers` wagers, per wager. Every wager must be accepted. Rounds alternate the
single calls and the batch sizes, so that a busy machine slows them alike.
"""

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench import fixtures
from bench.server import create_database, migrated, server
from bench.sql_files import statements

WARM_UP = 300
QUERIES = statements("placement_cpu.sql")
# places wagers first .. first + size - 1
Place = Callable[[int, int], None]


def backend_cpu(conn: psycopg.Connection[Any]) -> float:
    """Seconds of CPU the connection's backend process has used (Linux /proc)."""
    fields = Path(f"/proc/{conn.info.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wager(markets: fixtures.MarketRange, users: int, i: int) -> tuple[int, int, int]:
    """Wager i: (user, market, outcome), users taking turns (7919 is prime), markets round."""
    market = markets.first + i % markets.count
    outcome = markets.outcome_first + (market - markets.first) * markets.outcomes + i % 2
    return 1 + (i * 7919) % users, market, outcome


def measured(conn: psycopg.Connection[Any], place: Place, size: int, n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per wager of `n` wagers placed `size` at a time by `place(first, size)`,
    after a warm-up."""
    warm = max(WARM_UP // size, 1)
    for b in range(warm):
        place(b * size, size)
    started_cpu, started = backend_cpu(conn), time.monotonic()
    for b in range(n // size):
        place(1_000_000 + b * size, size)
    count = (n // size) * size
    return (
        (backend_cpu(conn) - started_cpu) / count * 1000,
        (time.monotonic() - started) / count * 1000,
    )


def single(conn: psycopg.Connection[Any], markets: fixtures.MarketRange, users: int) -> Place:
    def place(first: int, size: int) -> None:
        for i in range(first, first + size):
            user, market, outcome = wager(markets, users, i)
            fixtures.act_as(conn, fixtures.user_claims(user))
            conn.execute(QUERIES["place_wager"], {"market_id": market, "outcome_id": outcome})
            conn.commit()

    return place


def plays(conn: psycopg.Connection[Any], users: int) -> Place:
    """House bets (play_dice), users taking turns as wagers do."""

    def place(first: int, size: int) -> None:
        for i in range(first, first + size):
            fixtures.act_as(conn, fixtures.user_claims(1 + (i * 7919) % users))
            conn.execute(QUERIES["play_dice"])
            conn.commit()

    return place


def batched(conn: psycopg.Connection[Any], markets: fixtures.MarketRange, users: int) -> Place:
    def place(first: int, size: int) -> None:
        market = wager(markets, users, first)[1]
        wagers = []
        for i in range(first, first + size):
            user = wager(markets, users, i)[0]
            claims = fixtures.user_claims(user)
            outcome = markets.outcome_first + (market - markets.first) * markets.outcomes + i % 2
            wagers.append(
                {"user_id": claims["sub"], "claims": claims, "outcome_id": outcome, "stake": 100}
            )
        row = conn.execute(
            QUERIES["place_wagers"], {"market_id": market, "wagers": json.dumps(wagers)}
        ).fetchone()
        assert row is not None and all("result" in answer for answer in row[0]), row
        conn.commit()

    return place


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.placement_cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="checkout whose SQL to migrate")
    parser.add_argument("--wagers", type=int, default=1500, help="wagers per measurement (1500)")
    parser.add_argument("--sizes", default="1,2,8,64", help="batch sizes (1,2,8,64); '' for none")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (2)")
    parser.add_argument("--users", type=int, default=1000, help="bettors (1000)")
    parser.add_argument("--house", action="store_true", help="also house bets: play_dice alone")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    with server(False) as srv:
        url = create_database(srv, "placement_cpu")
        migrated(url, args.root)
        with psycopg.connect(url) as conn:
            fixtures.create_users(conn, args.users)
            fixtures.create_wallets(conn, args.users)
            markets = fixtures.create_markets(
                conn,
                50,
                kind="fixed_odds",
                outcomes=2,
                title="Placement CPU",
                options={"margin": fixtures.BENCH_MARGIN, "category": "virtual"},
            )
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
        with psycopg.connect(url) as conn:
            for round_ in range(1, args.rounds + 1):
                cpu, wall = measured(conn, single(conn, markets, args.users), 1, args.wagers)
                print(f"round {round_}: place_wager alone: {cpu:.3f} ms CPU, {wall:.3f} ms wall")
                if args.house:
                    cpu, wall = measured(conn, plays(conn, args.users), 1, args.wagers)
                    print(f"round {round_}: play_dice alone: {cpu:.3f} ms CPU, {wall:.3f} ms wall")
                for size in sizes:
                    place = batched(conn, markets, args.users)
                    cpu, wall = measured(conn, place, size, args.wagers)
                    print(
                        f"round {round_}: batches of {size}: {cpu:.3f} ms CPU, {wall:.3f} ms wall"
                        " per wager",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
