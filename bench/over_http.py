"""Wager placement through the API, beside the same placements inside the database, in one run.

    scripts/bench-http [options]       (or: .venv/bin/python -m bench.over_http [options])

Starts an embedded PostgreSQL in a temporary folder (or uses BENCH_DATABASE_URL), makes a
migrated Wagerbase database with bench.run's users, wallets and markets, and a TPC-B database.
Then, on that server:

1. in the database, as bench.run measures it: pgbench's TPC-B, then place_wager spread over the
   markets and on one hot market (bench/scripts/place_wager.sql), the same -c/-j/-T for all;
2. through the API: one `wagerbase serve` node on 127.0.0.1 (--workers, the CPU count by default)
   on the same database, and, for each surface (`POST /rest/v1/rpc/place_wager` as supabase-js
   sends it, BetMarket's `POST /api/bet`), each client count (8 and 64) and each set of markets
   (spread, hot), the load generator of bench/loadgen.py placing wagers for --http-duration
   seconds after a --warmup, every answer counted by status;
3. the books: each scenario's new wagers must be exactly its 2xx answers, all accepted, and at
   the end the whole ledger must balance (bench/checks.py).

Writes bench/results/<date>-<label>.json and prints Markdown tables: each HTTP scenario's rate as
a ratio of the in-database spread rate of the same run, its latencies, its answers, and the CPU
the clients, the node and the database spent per request. bench/README.md explains the numbers.

This module is the command: its options and the run. The parts are bench/over_http_scenarios.py
(the runs through the API), over_http_report.py (the tables), bench/node.py and bench/loadgen.py,
with the server.py, in_database.py and checks.py bench.run uses.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import checks, fixtures, wager_requests
from bench.command import RESULTS, add_load_options, conclude, listed_problems, say
from bench.environment import machine_info, server_info
from bench.in_database import prepare, throughput
from bench.node import Node, api_changed, node_checkout, node_commit, shown_python
from bench.over_http_report import markdown
from bench.over_http_scenarios import http_runs, node_settings
from bench.server import databases, init_tpcb, migrated, server

_STARTED = time.monotonic()


# ---- arguments ----------------------------------------------------------------------------------


def _numbers(text: str, option: str, parser: argparse.ArgumentParser) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        parser.error(f"{option}: whole numbers, comma-separated")
    if not values or any(value < 1 for value in values):
        parser.error(f"{option}: positive numbers")
    return values


def _names(
    text: str, option: str, known: tuple[str, ...], parser: argparse.ArgumentParser
) -> list[str]:
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = set(names) - set(known)
    if not names or unknown:
        parser.error(f"{option}: some of {', '.join(known)}")
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(
        prog="bench.over_http",
        description="place_wager through the API (/rest and BetMarket's /api), beside TPC-B and "
        "place_wager in the database, on one PostgreSQL.",
    )
    db = parser.add_argument_group("in the database (pgbench, as bench.run)")
    add_load_options(db)
    db.add_argument(
        "--rounds", type=int, default=1, help="TPC-B, spread and hot this many times (1)"
    )
    db.add_argument("-s", "--scale", type=int, default=10, help="TPC-B scale factor (10)")
    data = parser.add_argument_group("data")
    data.add_argument("--users", type=int, default=1000, help="bettors (1000)")
    data.add_argument("--markets", type=int, default=200, help="markets of the spread runs (200)")
    data.add_argument("--stake", type=int, default=100, help="stake in minor units (100 = 1.00)")
    http = parser.add_argument_group("through the API")
    http.add_argument(
        "--surfaces",
        default="rest,betmarket",
        help="rest (POST /rest/v1/rpc/place_wager), betmarket (POST /api/bet) (both)",
    )
    http.add_argument(
        "--http-clients", default="8,64", help="concurrent clients, comma-separated (8,64)"
    )
    http.add_argument("--http-markets", default="spread,hot", help="spread, hot, or both (both)")
    http.add_argument(
        "--http-duration",
        type=float,
        help="measured seconds per scenario (the -T of the pgbench runs)",
    )
    http.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds of placements before each scenario's measured window (2)",
    )
    http.add_argument(
        "--client-processes",
        type=int,
        default=cpus,
        help=f"processes the clients are spread over (the CPU count, {cpus})",
    )
    http.add_argument("--seed", type=int, default=1, help="the clients' random choices (1)")
    node = parser.add_argument_group("the node")
    node.add_argument(
        "--workers",
        type=int,
        default=cpus,
        help=f"the node's worker processes, `wagerbase serve --workers` (the CPU count, {cpus})",
    )
    node.add_argument(
        "--node-python",
        default=sys.executable,
        help="the Python that runs the node, and so its API and SQL: another checkout's "
        "`.venv/bin/python` to compare versions (bench/README.md, bench-live) (this one's)",
    )
    node.add_argument(
        "--pool-money",
        type=int,
        help="the node's connections for money calls, WAGERBASE_POOL_MONEY, shared by its "
        "workers (the pgbench clients, -c, so that the node may hold as many placements at "
        "once as pgbench did; the node's own default is 4)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--label", default="http", help="result file label (http)")
    out.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON goes")
    out.add_argument("--no-save", action="store_true", help="print the tables, write no JSON")
    out.add_argument(
        "--keep", action="store_true", help="keep the databases (and the server) afterwards"
    )
    args = parser.parse_args(argv)
    args.surfaces = _names(args.surfaces, "--surfaces", wager_requests.SURFACES, parser)
    args.http_clients = _numbers(args.http_clients, "--http-clients", parser)
    args.http_markets = _names(args.http_markets, "--http-markets", ("spread", "hot"), parser)
    if args.http_duration is None:
        args.http_duration = float(args.duration)
    if args.pool_money is None:
        args.pool_money = args.clients
    positive = ("clients", "threads", "duration", "rounds", "scale", "users", "markets")
    for name in (*positive, "client_processes", "workers", "pool_money", "stake"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.threads > args.clients:
        parser.error("--threads cannot exceed --clients")
    if args.http_duration <= 0 or args.warmup < 0:
        parser.error("--http-duration must be positive, --warmup not negative")
    if args.users < max(args.http_clients):
        parser.error("--users must be at least the largest --http-clients (a user per client)")
    # what in_database's prepare and throughput read (bench.run's): no settlement here
    args.settle_wagers, args.settle_kinds = 0, []
    return args


# ---- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    started_at = datetime.now(UTC)
    suffix = secrets.token_hex(3)
    wager_db, tpcb_db = f"bench_http_{suffix}", f"bench_http_tpcb_{suffix}"
    folder = Path(tempfile.mkdtemp(prefix="wagerbase-bench-http-"))
    node: Node | None = None
    with server(args.keep) as srv, databases(srv, [wager_db, tpcb_db], args.keep) as urls:
        wager_url, tpcb_url = urls
        say(f"databases {wager_db} and {tpcb_db}; migrating {wager_db}")
        engine = migrated(wager_url, node_checkout(args.node_python))
        engine["api_changed_since_commit"] = api_changed()  # the node serves this tree's API
        fixture = prepare(wager_url, args)
        init_tpcb(srv, tpcb_url, args.scale)
        in_database = throughput(srv, wager_url, tpcb_url, fixture, args)
        secret = secrets.token_urlsafe(48)
        say(
            f"signing in {args.users:,} users (a session each, a token signed by the node's secret)"
        )
        with psycopg.connect(wager_url, autocommit=False) as conn:
            tokens = fixtures.sign_in(conn, args.users, secret)
        node = Node(
            wager_url,
            secret,
            folder / "serve.log",
            env=node_settings(args),
            workers=args.workers,
            python=args.node_python,
        )
        say(f"starting one `wagerbase serve` node on {node.url}, {args.workers} worker(s)")
        try:
            node.start()
            http = http_runs(srv, wager_url, node, fixture, tokens, args)
        finally:
            node.stop()
            if node.process is not None and node.process.returncode not in (0, -15, None):
                say(f"the node exited with {node.process.returncode}: {node.log_tail()}")
        say("checking the whole ledger")
        with psycopg.connect(wager_url, autocommit=False) as conn:
            ledger = checks.ledger_failures(conn)
        info = server_info(wager_url, srv)
    if args.keep:
        say(f"the node's log is {folder / 'serve.log'}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    spread_tps = in_database["place_wager"]["spread"]["tps"]
    same = {key: in_database["place_wager"][key]["tps"] for key in ("spread", "hot")}
    for item in http:
        tps = item["tps"] or 0.0
        item["ratio_to_in_database_spread"] = round(tps / spread_tps, 4)
        item["ratio_to_in_database_same_markets"] = round(tps / same[item["markets"]], 4)
    problems = [problem for item in http for problem in item["problems"]]
    if ledger:
        problems.append(f"the ledger check failed: {', '.join(ledger)}")
    result: dict[str, Any] = {
        "format": 1,
        "started_at": started_at.isoformat(timespec="seconds"),
        "label": args.label,
        "arguments": sys.argv[1:],
        "ok": not problems,
        "problems": problems,
        "engine": engine,
        "machine": machine_info(),
        "server": info,
        "node": {
            "workers": args.workers,
            "command": f"wagerbase serve --workers {args.workers} on 127.0.0.1 (uvicorn, h11)",
            "settings": node_settings(args),
            "python": shown_python(args.node_python),
            "commit": node_commit(args.node_python),
        },
        "client": {
            "library": "bench/loadgen.py: keep-alive HTTP/1.1 connections written by hand on "
            "asyncio (one request in flight per connection)",
            "processes": args.client_processes,
            "python": platform.python_version(),
        },
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
            "surfaces": args.surfaces,
            "http_clients": args.http_clients,
            "http_markets": args.http_markets,
            "http_duration_s": args.http_duration,
            "warmup_s": args.warmup,
            "client_processes": args.client_processes,
            "seed": args.seed,
        },
        "markets": {"spread": fixture.spread.as_json(), "hot": fixture.hot.as_json()},
        **in_database,
        "http": http,
        "ledger_check_failures": ledger,
        "total_s": round(time.monotonic() - _STARTED, 1),
    }
    return result, not problems


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    say(
        f"Wagerbase HTTP benchmark: in the database -c {args.clients} -j {args.threads} "
        f"-T {args.duration}; through the API {', '.join(args.surfaces)} with "
        f"{', '.join(map(str, args.http_clients))} clients, {', '.join(args.http_markets)}"
    )
    return conclude(args, run, markdown, listed_problems)


if __name__ == "__main__":
    sys.exit(main())
