"""bench.live's latency run: wagers committed one at a time as a request places them (`Bettor`),
each update's arrival on every socket matched to its wager, from the moment its COMMIT returned
(`analyse_latency`), at one socket count (`latency_run`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter, defaultdict
from typing import Any

import psycopg

from bench import fixtures
from bench.fixtures import MarketRange
from bench.live_sockets import BenchError, Sockets, market_of, parse
from bench.node import CLOCK, Cpu, Node
from bench.report import summary
from bench.sql_files import statements

QUERIES = statements("live_latency.sql")

# ---- placing wagers -----------------------------------------------------------------------------


class Bettor:
    """place_wager as a request calls it, on one connection of this process's event loop."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], n: int) -> None:
        self.conn = conn
        self.claims = json.dumps(fixtures.user_claims(n))

    async def place(
        self, market_id: int, outcome_id: int, stake: int
    ) -> tuple[int, float, float, float]:
        """Place and commit one wager: the market version it made, the moment COMMIT was sent,
        the moment it returned, and the seconds from the first statement to then."""
        started = CLOCK()
        await self.conn.execute(QUERIES["act_as_bettor"], {"claims": self.claims})
        cursor = await self.conn.execute(
            QUERIES["place_wager"],
            {"market_id": market_id, "outcome_id": outcome_id, "stake": stake},
        )
        row = await cursor.fetchone()
        sending = CLOCK()
        await self.conn.commit()
        committed = CLOCK()
        assert row is not None
        answer: dict[str, Any] = row[0]
        if answer.get("approval", "accepted") != "accepted":
            raise BenchError(f"wager not accepted: {answer}")
        return int(answer["market"]["version"]), sending, committed, committed - started


# ---- latency ------------------------------------------------------------------------------------


def analyse_latency(
    sockets: int, sent: list[tuple[int, int, float, float]], logs: list[list[tuple[float, str]]]
) -> dict[str, Any]:
    """Match every socket's odds_update to the wager that made it (market, version). Latency
    counts from the moment COMMIT returned; `from_commit_sent_ms` from the moment it was sent
    (the change became visible somewhere between the two)."""
    committed = {(market, version): at for market, version, _, at in sent}
    commit_sent = {(market, version): at for market, version, at, _ in sent}
    latencies: list[float] = []
    from_sent: list[float] = []
    per_update: dict[tuple[int, int], list[float]] = defaultdict(list)
    other: Counter[str] = Counter()
    duplicates = coalesced = missing = out_of_order = 0
    for log in logs:
        got: dict[tuple[int, int], float] = {}
        latest: dict[int, int] = {}
        for at, text in log:
            message = parse(text)
            if message.get("opcode") != "odds_update":
                other[str(message.get("opcode"))] += 1
                continue
            key = (market_of(message), message.get("version"))
            if key not in committed:
                other["odds_update of another wager"] += 1
                continue
            if key in got:
                duplicates += 1
                continue
            if key[1] <= latest.get(key[0], 0):
                out_of_order += 1
            latest[key[0]] = max(key[1], latest.get(key[0], 0))
            got[key] = at
        for key, at_commit in committed.items():
            arrived = got.get(key)
            if arrived is None:
                if latest.get(key[0], 0) > key[1]:
                    coalesced += 1  # a later version of that market reached the socket
                else:
                    missing += 1
                continue
            latency = (arrived - at_commit) * 1000
            latencies.append(latency)
            from_sent.append((arrived - commit_sent[key]) * 1000)
            per_update[key].append(latency)
    firsts = [min(values) for values in per_update.values()]
    lasts = [max(values) for values in per_update.values()]
    return {
        "sockets": sockets,
        "updates": len(sent),
        "messages_expected": sockets * len(sent),
        "messages_received": len(latencies),
        "coalesced": coalesced,
        "missing": missing,
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "other_messages": dict(other),
        "latency_ms": summary(latencies),
        # received before this process saw COMMIT return (the hub read the event first)
        "negative_latencies": sum(1 for value in latencies if value < 0),
        "from_commit_sent_ms": summary(from_sent),
        "commit_ms": summary([(at - sent_at) * 1000 for _, _, sent_at, at in sent]),
        # per update: when the first socket had it, and when the last one did
        "first_socket_ms": summary(firsts),
        "last_socket_ms": summary(lasts),
    }


async def latency_run(
    sockets: Sockets,
    bettor: Bettor,
    markets: MarketRange,
    count: int,
    node: Node,
    args: argparse.Namespace,
) -> dict[str, Any]:
    opened_s = await sockets.grow(count)
    await asyncio.sleep(0.5)  # let the handshakes' tasks settle on both sides
    spread = await asyncio.to_thread(node.sockets_per_worker)
    sockets.take()
    sent: list[tuple[int, int, float, float]] = []
    place_s: list[float] = []
    timeouts = 0
    before = Cpu.now(node)
    for i in range(args.wagers):
        index = i % markets.count
        position = (i // markets.count) % markets.outcomes
        outcome = markets.outcome_first + index * markets.outcomes + position
        received = sockets.received
        version, sending, at, took = await bettor.place(markets.first + index, outcome, 100)
        sent.append((markets.first + index, version, sending, at))
        place_s.append(took * 1000)
        if not await sockets.wait_for(received + count, args.timeout):
            timeouts += 1
        if args.gap_ms:
            await asyncio.sleep(args.gap_ms / 1000)
    await sockets.wait_for(sockets.received + 1, 0.5 if timeouts else 0.05)  # stragglers
    cpu = Cpu.now(node).since(before)
    result = analyse_latency(count, sent, sockets.take())
    delivered = result["messages_received"]
    result.update(
        {
            "sockets_open_s": round(opened_s, 2),
            # per worker (by process id), as its /health counted them once all were open
            "sockets_per_worker": {str(pid): n for pid, n in sorted(spread.items())},
            "waits_timed_out": timeouts,
            "place_wager_ms": summary(place_s),
            "cpu": cpu,
            "node_cpu_ms_per_update": (
                round(cpu["node_cpu_s"] * 1000 / len(sent), 3)
                if cpu["node_cpu_s"] is not None
                else None
            ),
            "node_cpu_us_per_message": (
                round(cpu["node_cpu_s"] * 1e6 / delivered, 1)
                if cpu["node_cpu_s"] is not None and delivered
                else None
            ),
            "client_cpu_us_per_message": (
                round(cpu["client_cpu_s"] * 1e6 / delivered, 1) if delivered else None
            ),
        }
    )
    return result
