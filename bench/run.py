"""Run the Wagerbase benchmark: TPC-B, place_wager (spread and hot), house games (play_dice and
auto_bet) and settlement, on one server.

    scripts/bench [options]            (or: .venv/bin/python -m bench.run [options])

Starts an embedded PostgreSQL in a temporary folder (or uses BENCH_DATABASE_URL, a role that may
create databases), makes two fresh databases on it (one migrated Wagerbase database, one for
pgbench's TPC-B tables), runs every workload with the same clients and duration, settles markets
of --settle-wagers wagers, checks the books, writes bench/results/<date>-<label>.json and prints
a Markdown table. bench/README.md explains the scenarios and how to read the ratios.

This module is the command: its options and the run in order. The parts are bench/server.py (the
server and its databases), bench/in_database.py (TPC-B, spread, hot and batched), house.py (the
house games' bets), settlement.py,
checks.py, environment.py (what the result records of the machine, server and commit), report.py
(the result file and the table) and command.py (what the three benchmarks' commands share).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import checks, fixtures, report
from bench.command import RESULTS, add_load_options, conclude, elapsed, say
from bench.environment import machine_info, server_info
from bench.in_database import prepare, throughput
from bench.server import databases, init_tpcb, migrated, server
from bench.settlement import EXPLAIN_MIN_MS, settlement


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.run",
        description="TPC-B, place_wager (spread and hot) and settlement on one PostgreSQL.",
    )
    load = parser.add_argument_group("load, the same for TPC-B and place_wager")
    add_load_options(load)
    load.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run TPC-B, spread and hot this many times, interleaved; the median counts (1)",
    )
    data = parser.add_argument_group("data")
    data.add_argument("-s", "--scale", type=int, default=10, help="TPC-B scale factor (10)")
    data.add_argument("--users", type=int, default=1000, help="bettors (1000)")
    data.add_argument(
        "--markets", type=int, default=200, help="fixed-odds markets of the spread run (200)"
    )
    data.add_argument("--stake", type=int, default=100, help="stake in minor units (100 = 1.00)")
    settle = parser.add_argument_group("settlement")
    settle.add_argument(
        "--settle-wagers",
        type=int,
        default=100_000,
        help="wagers on each market to settle; 0 skips settlement (100000)",
    )
    settle.add_argument(
        "--settle-kinds",
        default="parimutuel,fixed_odds",
        help="kinds of market to settle, comma-separated (parimutuel,fixed_odds)",
    )
    settle.add_argument(
        "--load-chunk",
        type=int,
        default=500,
        help="wagers placed per loading transaction, one batch of the batched placement (500)",
    )
    settle.add_argument(
        "--explain-settlement",
        action="store_true",
        help="settle with auto_explain (nested statements, row counts, no timing) and record each "
        f"statement of {EXPLAIN_MIN_MS} ms or more",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--label", help="result file label (default from the load, e.g. c8-j2-T20-s10)"
    )
    out.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    out.add_argument(
        "--no-save", action="store_true", help="print the table but write no JSON file"
    )
    out.add_argument(
        "--keep",
        action="store_true",
        help="keep the databases (and the embedded server running) afterwards, to inspect",
    )
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.settle_kinds.split(",") if kind.strip()]
    unknown = set(kinds) - {"parimutuel", "fixed_odds"}
    if unknown:
        parser.error(f"--settle-kinds: unknown kind(s) {', '.join(sorted(unknown))}")
    args.settle_kinds = list(dict.fromkeys(kinds))
    for name in ("clients", "threads", "duration", "rounds", "scale", "users", "markets"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.auto_bet_count < 0:
        parser.error("--auto-bet-count cannot be negative")
    if args.threads > args.clients:
        parser.error("--threads cannot exceed --clients")
    if args.stake < 1 or args.settle_wagers < 0 or args.load_chunk < 1:
        parser.error("--stake and --load-chunk must be positive, --settle-wagers not negative")
    if args.label is None:
        args.label = f"c{args.clients}-j{args.threads}-T{args.duration}-s{args.scale}"
    return args


# ---- main ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    started_at = datetime.now(UTC)
    suffix = secrets.token_hex(3)
    wager_db, tpcb_db = f"bench_wagerbase_{suffix}", f"bench_tpcb_{suffix}"
    with server(args.keep) as srv, databases(srv, [wager_db, tpcb_db], args.keep) as urls:
        wager_url, tpcb_url = urls
        say(f"databases {wager_db} and {tpcb_db}; migrating {wager_db}")
        git = migrated(wager_url)  # the commit, and whether the files differ from it
        fixture = prepare(wager_url, args)
        init_tpcb(srv, tpcb_url, args.scale)
        measured = throughput(srv, wager_url, tpcb_url, fixture, args)
        settled = settlement(wager_url, fixture, args) if fixture.settle else []
        say("checking the whole ledger")
        with psycopg.connect(wager_url, autocommit=False) as conn:
            ledger = checks.ledger_failures(conn)
        info = server_info(wager_url, srv)
    ok = not ledger and not any(item["check_failures"] for item in settled)
    result: dict[str, Any] = {
        "format": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "arguments": sys.argv[1:],
        "ok": ok,
        "engine": git,
        "machine": machine_info(),
        "server": info,
        "parameters": {
            "clients": args.clients,
            "threads": args.threads,
            "duration_s": args.duration,
            "protocol": args.protocol,
            "rounds": args.rounds,
            "scale": args.scale,
            "users": args.users,
            "spread_markets": args.markets,
            "stake": args.stake,
            "wallet_balance": fixtures.WALLET_BALANCE,
            "settle_wagers": args.settle_wagers,
            "settle_kinds": args.settle_kinds,
            "load_chunk": args.load_chunk,
            "auto_bet_count": args.auto_bet_count,
        },
        "markets": {
            "spread": fixture.spread.as_json(),
            "hot": fixture.hot.as_json(),
            "hot_batched": fixture.batched.as_json(),
            **{f"settle_{kind}": market.as_json() for kind, market in fixture.settle.items()},
        },
        **measured,
        "settlement": settled,
        "ledger_check_failures": ledger,
        "total_s": elapsed(),
    }
    return result, ok


def check_failures(result: dict[str, Any]) -> list[str]:
    """What failed of this benchmark's checks: the ledger's, then each settlement's."""
    lines = [f"CHECKS FAILED: {result['ledger_check_failures']}"]
    for item in result["settlement"]:
        if item["check_failures"]:
            lines.append(f"  {item['kind']}: {item['check_failures']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    say(
        f"Wagerbase benchmark: -c {args.clients} -j {args.threads} -T {args.duration}, "
        f"{args.rounds} round(s), settling {args.settle_wagers:,} wagers per market"
    )
    return conclude(args, run, report.markdown, check_failures)


if __name__ == "__main__":
    sys.exit(main())
