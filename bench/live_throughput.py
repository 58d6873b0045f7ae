"""bench.live's throughput run: pgbench places wagers as fast as it can (or at --throughput-rate)
with every socket connected; every odds_update received is counted, and after the run every
socket must hold the last version of every market (odds may be coalesced, never lost).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
from collections import Counter
from typing import Any

import psycopg

from bench.fixtures import MarketRange
from bench.in_database import SCRIPT
from bench.live_sockets import BenchError, Sockets, market_of, parse
from bench.node import CLOCK, Cpu, Node
from bench.pgbench import run_pgbench
from bench.server import Server
from bench.sql_files import statements

QUERIES = statements("live_throughput.sql")


async def market_versions(
    conn: psycopg.AsyncConnection[Any], markets: MarketRange
) -> dict[int, int]:
    cursor = await conn.execute(
        QUERIES["market_versions"], {"first": markets.first, "last": markets.last}
    )
    rows = await cursor.fetchall()
    await conn.commit()
    return {int(row[0]): int(row[1]) for row in rows}


async def wager_count(conn: psycopg.AsyncConnection[Any], markets: MarketRange) -> tuple[int, int]:
    cursor = await conn.execute(
        QUERIES["wager_count"], {"first": markets.first, "last": markets.last}
    )
    row = await cursor.fetchone()
    await conn.commit()
    assert row is not None
    return int(row[0]), int(row[1])


async def throughput_run(
    sockets: Sockets,
    conn: psycopg.AsyncConnection[Any],
    srv: Server,
    url: str,
    markets: MarketRange,
    node: Node,
    args: argparse.Namespace,
) -> dict[str, Any]:
    count = len(sockets)
    sockets.take()
    versions_before = await market_versions(conn, markets)
    wagers_before, _ = await wager_count(conn, markets)
    options = ["-n", "-M", "prepared", "-f", str(SCRIPT)]
    if args.throughput_rate:
        options += ["-R", str(args.throughput_rate)]
    for variable in [f"users={args.users}", "stake=100", *markets.pgbench_vars()]:
        options += ["-D", variable]

    def echo(line: str) -> None:
        if line.startswith(("tps =", "number of transactions", "number of failed")):
            print(f"          {line}", flush=True)

    cpu_start = Cpu.now(node)
    started = CLOCK()
    pgbench = await asyncio.to_thread(
        run_pgbench,
        srv.bin_path,
        url,
        "live-throughput",
        options,
        clients=args.throughput_clients,
        threads=min(2, args.throughput_clients),
        duration_s=args.throughput_seconds,
        on_line=echo,
        sample_waits=False,
    )
    ended = CLOCK()
    cpu_load = Cpu.now(node)
    versions_after = await market_versions(conn, markets)
    changed = {m: v for m, v in versions_after.items() if v != versions_before[m]}
    drained = await sockets.wait_latest(changed, args.drain_limit)
    cpu_drain = Cpu.now(node)
    logs = sockets.take()
    wagers_after, accepted_after = await wager_count(conn, markets)
    placed = wagers_after - wagers_before
    if placed != pgbench.transactions or accepted_after != wagers_after:
        raise BenchError(
            f"throughput: pgbench counted {pgbench.transactions} transactions, "
            f"{placed} wagers were placed, {wagers_after - accepted_after} not accepted"
        )
    updates = sum(versions_after[m] - versions_before[m] for m in versions_after)
    delivered = during = 0
    other: Counter[str] = Counter()
    stale_sockets = stale_markets = 0
    per_second: Counter[int] = Counter()
    first_receipt = math.inf
    last_receipt = 0.0
    for log in logs:
        latest: dict[Any, int] = {}
        for at, text in log:
            message = parse(text)
            if message.get("opcode") != "odds_update":
                other[str(message.get("opcode"))] += 1
                continue
            delivered += 1
            if at <= ended:
                during += 1
            per_second[int(at - started)] += 1
            first_receipt = min(first_receipt, at)
            last_receipt = max(last_receipt, at)
            market = market_of(message)
            latest[market] = max(latest.get(market, 0), int(message.get("version", 0)))
        behind = sum(1 for market, version in changed.items() if latest.get(market) != version)
        stale_markets += behind
        stale_sockets += 1 if behind else 0
    receipts = sorted(at for log in logs for at, _ in log)
    gaps = [later - earlier for earlier, later in itertools.pairwise(receipts)]
    gaps_run = [
        later - earlier
        for earlier, later in itertools.pairwise([started, *receipts])
        if later <= ended
    ]
    run_s = ended - started
    offered = updates * count
    load_cpu = cpu_load.since(cpu_start)
    return {
        "sockets": count,
        "markets": markets.count,
        "pgbench": {
            "rate_limit": args.throughput_rate or None,
            "clients": pgbench.clients,
            "duration_s": pgbench.duration_s,
            "transactions": pgbench.transactions,
            "tps": pgbench.tps,
            "latency_avg_ms": pgbench.latency_avg_ms,
        },
        "odds_updates_committed": updates,
        "messages_offered": offered,
        "messages_delivered": delivered,
        "messages_delivered_during_run": during,
        "coalesced": offered - delivered,
        "coalesced_fraction": round((offered - delivered) / offered, 4) if offered else None,
        "delivered_per_s_during_run": round(during / run_s, 1) if run_s > 0 else None,
        "delivered_per_s_first_to_last": (
            round(delivered / (last_receipt - first_receipt), 1)
            if delivered > 1 and last_receipt > first_receipt
            else None
        ),
        "delivered_per_second": [per_second[s] for s in range(max(per_second, default=-1) + 1)],
        "run_s": round(run_s, 3),
        # after the run: until every socket held every market's last version (or the limit)
        "drain_s": round(cpu_drain.at - ended, 3),
        "drained": drained,
        # the longest time in which no socket received anything: while pgbench ran, and after
        "longest_silence_during_run_s": round(max(gaps_run, default=0.0), 3),
        "longest_silence_s": round(max(gaps, default=0.0), 3),
        "sockets_missing_a_final_version": stale_sockets,
        "socket_markets_missing_the_final_version": stale_markets,
        "other_messages": dict(other),
        "cpu_during_run": load_cpu,
        "cpu_during_drain": cpu_drain.since(cpu_load),
        "node_cpu_us_per_message": (
            round((cpu_drain.node - cpu_start.node) * 1e6 / delivered, 1)
            if cpu_drain.node is not None and cpu_start.node is not None and delivered
            else None
        ),
        "client_cpu_us_per_message": (
            round((cpu_drain.client - cpu_start.client) * 1e6 / delivered, 1) if delivered else None
        ),
    }
