"""The in-database runs of bench.run (and of bench.over_http, beside its HTTP runs): pgbench's
TPC-B, place_wager spread over many markets and on one hot market (bench/scripts/place_wager.sql),
and the hot market's placements gathered into batches as an API node gathers them
(bench/batched.py); the data they run on (`prepare`), and the medians of several rounds.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import fixtures
from bench.batched import BatchedResult, batched_run, open_sessions
from bench.command import BenchError, say
from bench.environment import REPO_ROOT
from bench.fixtures import BENCH_MARGIN, MarketRange
from bench.house import HouseRun, house_json, house_run
from bench.pgbench import PgbenchResult
from bench.server import Server, checkpoint, timed_pgbench

SCRIPT = REPO_ROOT / "bench" / "scripts" / "place_wager.sql"


def echo_pgbench(line: str) -> None:
    shown = ("progress:", "tps =", "latency average", "number of transactions", "number of failed")
    if line.startswith(shown) or "aborted" in line or "error" in line.lower():
        print(f"          {line}", flush=True)


@dataclass
class Fixture:
    spread: MarketRange
    hot: MarketRange
    settle: dict[str, MarketRange]
    funded: int
    batched: MarketRange


def prepare(url: str, args: argparse.Namespace) -> Fixture:
    with psycopg.connect(url, autocommit=False) as conn:
        say(f"creating {args.users:,} users and an admin")
        fixtures.create_users(conn, args.users)
        say(f"opening {args.users:,} wallets through public.get_wallet")
        funded = fixtures.create_wallets(conn, args.users)
        say(f"creating {args.markets} fixed-odds markets (spread) and 1 (hot)")
        options = {"margin": BENCH_MARGIN, "category": "virtual"}
        spread = fixtures.create_markets(
            conn, args.markets, kind="fixed_odds", outcomes=2, title="Spread", options=options
        )
        hot = fixtures.create_markets(
            conn, 1, kind="fixed_odds", outcomes=2, title="Hot", options=options
        )
        batched = fixtures.create_markets(
            conn, 1, kind="fixed_odds", outcomes=2, title="Hot, batched", options=options
        )
        settle: dict[str, MarketRange] = {}
        if args.settle_wagers:
            for kind in args.settle_kinds:
                outcomes = 3 if kind == "parimutuel" else 2
                extra = {"margin": BENCH_MARGIN} if kind == "fixed_odds" else {}
                settle[kind] = fixtures.create_markets(
                    conn, 1, kind=kind, outcomes=outcomes, title=f"Settle {kind}", options=extra
                )
    open_sessions(url, args.users)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return Fixture(spread, hot, settle, funded, batched)


def wager_run(
    srv: Server, url: str, name: str, markets: MarketRange, args: argparse.Namespace
) -> PgbenchResult:
    """One pgbench run of bench/scripts/place_wager.sql over `markets`; refuses a result unless
    every transaction pgbench counted left exactly one accepted wager behind."""
    with psycopg.connect(url, autocommit=False) as conn:
        before, _ = fixtures.count_wagers(conn, markets)
    variables = [f"users={args.users}", f"stake={args.stake}", *markets.pgbench_vars()]
    options = ["-n", "-P", "5", "-M", args.protocol, "-f", str(SCRIPT)]
    for variable in variables:
        options += ["-D", variable]
    result = timed_pgbench(srv, url, name, options, args, echo_pgbench)
    with psycopg.connect(url, autocommit=False) as conn:
        after, accepted = fixtures.count_wagers(conn, markets)
    placed = after - before
    if placed != result.transactions or result.failed:
        raise BenchError(
            f"{name}: pgbench counted {result.transactions} transactions "
            f"({result.failed} failed) but {placed} wagers were placed"
        )
    if accepted != after:
        raise BenchError(f"{name}: {after - accepted} wagers were not accepted")
    return result


def tpcb_run(srv: Server, url: str, args: argparse.Namespace) -> PgbenchResult:
    return timed_pgbench(srv, url, "tpcb", ["-P", "5", "-M", args.protocol], args, echo_pgbench)


def median_run(runs: list[PgbenchResult]) -> PgbenchResult:
    """The run with the median tps (the lower middle one for an even count)."""
    return sorted(runs, key=lambda run: run.tps)[(len(runs) - 1) // 2]


def throughput(
    srv: Server, wager_url: str, tpcb_url: str, fixture: Fixture, args: argparse.Namespace
) -> dict[str, Any]:
    runs: dict[str, list[PgbenchResult]] = {"tpcb": [], "spread": [], "hot": []}
    batched: list[BatchedResult] = []
    house: dict[str, list[HouseRun]] = {"play_dice": [], "auto_bet": []}
    load = f"-c {args.clients} -j {args.threads} -T {args.duration}"
    for round_number in range(1, args.rounds + 1):
        prefix = f"round {round_number}/{args.rounds}: " if args.rounds > 1 else ""
        say(f"{prefix}TPC-B, {load}")
        runs["tpcb"].append(tpcb_run(srv, tpcb_url, args))
        say(f"{prefix}place_wager spread over {args.markets} markets, {load}")
        runs["spread"].append(wager_run(srv, wager_url, "spread", fixture.spread, args))
        say(f"{prefix}place_wager on one hot market, {load}")
        runs["hot"].append(wager_run(srv, wager_url, "hot", fixture.hot, args))
        if args.batched_clients:
            say(
                f"{prefix}one hot market, {args.batched_clients} clients, placements gathered"
                f" into batches as an API node does, {args.duration} s"
            )
            checkpoint(wager_url)
            batched.append(
                batched_run(
                    wager_url,
                    fixture.batched,
                    users=args.users,
                    stake=args.stake,
                    clients=args.batched_clients,
                    duration=args.duration,
                )
            )
            say(
                f"{prefix}batched: {batched[-1].tps:,.0f} wagers/s in {batched[-1].batches:,}"
                f" batches ({batched[-1].alone:,} alone)"
            )
        if args.auto_bet_count:
            say(f"{prefix}house games: play_dice, one bet a call, {load}")
            house["play_dice"].append(house_run(srv, wager_url, "play_dice", 1, args, echo_pgbench))
            say(f"{prefix}house games: auto_bet, {args.auto_bet_count} bets a call, {load}")
            house["auto_bet"].append(
                house_run(srv, wager_url, "auto_bet", args.auto_bet_count, args, echo_pgbench)
            )
            say(
                f"{prefix}play_dice {house['play_dice'][-1].bets_per_s:,.0f} bets/s, auto_bet "
                f"{house['auto_bet'][-1].bets_per_s:,.0f} bets/s"
            )
        say(
            f"{prefix}TPC-B {runs['tpcb'][-1].tps:,.0f} tps, spread "
            f"{runs['spread'][-1].tps:,.0f} tps, hot {runs['hot'][-1].tps:,.0f} tps"
        )
    tpcb = median_run(runs["tpcb"])
    chosen = {key: median_run(runs[key]) for key in ("spread", "hot")}
    result: dict[str, Any] = {
        "tpcb": tpcb.as_json(),
        "place_wager": {key: run.as_json() for key, run in chosen.items()},
        "ratios": {key: round(run.tps / tpcb.tps, 4) for key, run in chosen.items()},
        "rounds": [
            {
                "tpcb_tps": runs["tpcb"][index].tps,
                "spread_tps": runs["spread"][index].tps,
                "hot_tps": runs["hot"][index].tps,
                "spread_ratio": round(runs["spread"][index].tps / runs["tpcb"][index].tps, 4),
                "hot_ratio": round(runs["hot"][index].tps / runs["tpcb"][index].tps, 4),
                **(
                    {
                        "hot_batched_tps": batched[index].tps,
                        "hot_batched_ratio": round(batched[index].tps / runs["tpcb"][index].tps, 4),
                    }
                    if batched
                    else {}
                ),
            }
            for index in range(args.rounds)
        ],
    }
    if batched:
        middle = sorted(batched, key=lambda run: run.tps)[(len(batched) - 1) // 2]
        result["place_wager"]["hot_batched"] = middle.as_json()
        result["ratios"]["hot_batched"] = round(middle.tps / tpcb.tps, 4)
    if args.auto_bet_count:
        result["house"] = house_json(house, runs["tpcb"])
    return result
