"""The batched hot market: wagers on one market from many concurrent clients, gathered into
batches exactly as an API node gathers them (wagerbase.placements.Placements over
wagerbase.money_calls.MoneyCalls and the node's pool), with no HTTP in between.

Each of `clients` asyncio clients places wagers one after another for `duration` seconds (user
n at random, outcome at random, `stake`), each with its own idempotency key and its user's
session, through Placements.place: a placement that finds its market idle runs alone
(public.place_wager, as the caller), the ones that arrive meanwhile queue and go in the next
batch (server.place_wagers), at most WAGERBASE_BATCH_MOST (64) at a time. What is measured is
wagers decided per second in the database, comparable with pgbench's TPC-B of the same run.
Every answer must be an accepted wager (else BenchError), and the wagers counted afterwards must
equal the answers.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

from bench.fixtures import MarketRange, count_wagers, user_claims, user_id
from bench.sql_files import statements
from wagerbase.database import Conn, Database
from wagerbase.limits import Lanes
from wagerbase.money_calls import MoneyCall, MoneyCalls
from wagerbase.placements import DEFAULT_MOST, Placement, Placements

SESSION_PREFIX = "00000000-0000-0000-0001-"
QUERIES = statements("batched.sql")


@dataclass
class BatchedResult:
    name: str
    clients: int
    duration_s: int
    transactions: int  # wagers decided (all accepted)
    tps: float  # wagers decided per second
    latency_avg_ms: float
    latency_p99_ms: float
    batches: int
    batched_wagers: int
    alone: int
    most: int
    elapsed_s: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def session_id(n: int) -> str:
    return f"{SESSION_PREFIX}{n:012d}"


def open_sessions(url: str, users: int) -> None:
    """A live session for every bench user (each request's session is checked)."""
    with psycopg.connect(url) as conn:
        conn.execute(QUERIES["open_sessions"], {"prefix": SESSION_PREFIX, "users": users})


def _claims(n: int) -> dict[str, Any]:
    return {**user_claims(n), "session_id": session_id(n)}


async def _run(
    url: str, market: MarketRange, users: int, stake: int, clients: int, duration: int, most: int
) -> BatchedResult:
    lanes = Lanes(money=max(4, clients), wait=60.0)
    db = Database(url, lanes=lanes)
    await db.open()
    calls = MoneyCalls(db)
    placements = Placements(calls, most=most)
    latencies: list[float] = []
    refused: list[BaseException] = []
    rng = random.Random(20261204)
    deadline = time.monotonic() + duration

    async def client() -> None:
        while time.monotonic() < deadline:
            n = rng.randint(1, users)
            key = f"bench-{uuid.uuid4()}"
            params = {
                "market_id": market.first,
                "outcome_id": market.outcome_first + rng.randrange(market.outcomes),
                "stake": stake,
                "idempotency_key": key,
            }

            async def single(conn: Conn, params: dict[str, Any] = params) -> str:
                row = await (await conn.execute(QUERIES["place_wager"], params)).fetchone()
                assert row is not None
                return str(row["result"])

            call = MoneyCall(
                function="place_wager",
                claims=_claims(n),
                run=single,
                key=key,
                key_source="client",
                path="/bench",
            )
            wager = {
                "outcome_id": params["outcome_id"],
                "stake": stake,
                "expected_odds": None,
                "idempotency_key": key,
            }
            started = time.monotonic()
            try:
                await placements.place(Placement(call, market.first, wager, answer=str))
            except Exception as exc:  # reported after the run
                refused.append(exc)
                return
            latencies.append(time.monotonic() - started)

    began = time.monotonic()
    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        elapsed = time.monotonic() - began
        await calls.drain()
        await db.close()
    if refused:
        raise RuntimeError(f"batched: {len(refused)} placements refused, e.g. {refused[0]!r}")
    latencies.sort()
    counters = calls.counters
    return BatchedResult(
        name="hot_batched",
        clients=clients,
        duration_s=duration,
        transactions=len(latencies),
        tps=round(len(latencies) / elapsed, 1),
        latency_avg_ms=round(1000 * sum(latencies) / max(len(latencies), 1), 2),
        latency_p99_ms=round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2),
        batches=counters.batches,
        batched_wagers=counters.batched,
        alone=counters.calls - counters.batched,
        most=most,
        elapsed_s=round(elapsed, 2),
    )


def batched_run(
    url: str,
    market: MarketRange,
    *,
    users: int,
    stake: int,
    clients: int,
    duration: int,
    most: int = DEFAULT_MOST,
) -> BatchedResult:
    """One run on `market`; refuses a result unless every answer was an accepted wager and the
    wagers placed equal the answers."""
    with psycopg.connect(url) as conn:
        before, _ = count_wagers(conn, market)
    result = asyncio.run(_run(url, market, users, stake, clients, duration, most))
    with psycopg.connect(url) as conn:
        after, accepted = count_wagers(conn, market)
    if after - before != result.transactions or accepted != after:
        raise RuntimeError(
            f"batched: {result.transactions} answers but {after - before} wagers placed "
            f"({after - accepted} not accepted)"
        )
    return result


__all__ = ["BatchedResult", "batched_run", "open_sessions", "user_id"]
