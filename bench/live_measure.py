"""bench.live's measurements on one node, in order: its data (bettors with funded wallets, the
latency and throughput markets), then latency at each socket count, the sockets kept open and
grown, then throughput with the largest count connected.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import psycopg

from bench import fixtures
from bench.command import say
from bench.fixtures import BENCH_MARGIN, MarketRange
from bench.live_latency import Bettor, latency_run
from bench.live_sockets import Sockets
from bench.live_throughput import throughput_run
from bench.node import Node
from bench.server import Server


@dataclass
class Fixture:
    latency: MarketRange
    throughput: MarketRange


def prepare(url: str, args: argparse.Namespace) -> Fixture:
    with psycopg.connect(url, autocommit=False) as conn:
        say(f"creating {args.users} bettors with funded wallets and an admin")
        fixtures.create_users(conn, args.users)
        fixtures.create_wallets(conn, args.users)
        say(f"creating {args.markets} + {args.throughput_markets} fixed-odds games")
        options = {"margin": BENCH_MARGIN, "category": "virtual"}
        latency = fixtures.create_markets(
            conn, args.markets, kind="fixed_odds", outcomes=2, title="Live", options=options
        )
        throughput = fixtures.create_markets(
            conn,
            args.throughput_markets,
            kind="fixed_odds",
            outcomes=2,
            title="Live throughput",
            options=options,
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return Fixture(latency, throughput)


async def measure(
    srv: Server, url: str, node: Node, fixture: Fixture, args: argparse.Namespace
) -> dict[str, Any]:
    compression = None if args.compression == "none" or args.client == "raw" else "deflate"
    sockets = Sockets(node.ws_url, compression, args.client)
    latency: list[dict[str, Any]] = []
    throughput: dict[str, Any] | None = None
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=False, application_name="bench live"
    ) as conn:
        bettor = Bettor(conn, 1)
        await bettor.place(fixture.latency.first, fixture.latency.outcome_first, 100)  # warm up
        try:
            for count in args.sockets:
                say(f"latency: {count:,} socket(s), {args.wagers} wagers one at a time")
                result = await latency_run(sockets, bettor, fixture.latency, count, node, args)
                lat = result["latency_ms"]
                say(
                    f"  {result['messages_received']:,}/{result['messages_expected']:,} received "
                    f"({result['coalesced']} coalesced, {result['missing']} missing), "
                    f"p50 {lat['p50']} ms, p99 {lat['p99']} ms, max {lat['max']} ms; "
                    f"node CPU {result['cpu']['node_cpu_pct_of_core']}%, "
                    f"client {result['cpu']['client_cpu_pct_of_core']}%"
                )
                latency.append(result)
            if args.throughput_seconds:
                say(
                    f"throughput: {len(sockets):,} sockets, pgbench -c {args.throughput_clients} "
                    f"-T {args.throughput_seconds} over {args.throughput_markets} markets"
                )
                throughput = await throughput_run(
                    sockets, conn, srv, url, fixture.throughput, node, args
                )
                say(
                    f"  {throughput['messages_delivered']:,} of "
                    f"{throughput['messages_offered']:,} delivered, "
                    f"{throughput['delivered_per_s_during_run']:,} messages/s during the run; "
                    f"node CPU {throughput['cpu_during_run']['node_cpu_pct_of_core']}%, "
                    f"client {throughput['cpu_during_run']['client_cpu_pct_of_core']}%"
                )
        finally:
            extensions = sockets.extensions()
            closed = list(sockets.closed)
            await sockets.close()
    return {
        "negotiated_extensions": extensions,
        "sockets_closed_by_the_node": closed,
        "latency": latency,
        "throughput": throughput,
    }
