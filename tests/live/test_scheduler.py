"""The scheduler (api/wagerbase/live/scheduler.py): nodes racing to close a market past its
closes_at close it exactly once, with one audit row, one `closed` message and its final snapshot;
their snapshots are written by one node at a time, never twice; a scheduler carries on after
the database restarts under it; and the side-effect workers of two nodes share the jobs, each run
once. Two in-process schedulers stand for two nodes on one database.

Nothing here asserts a timing: each wait has a generous deadline, and the assertions are counts."""

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg

from tests.db.actors import Actor
from tests.db.personas import create_user
from tests.db.side_effects import counted_figures, expected_figures
from tests.db.stream import StreamReader
from wagerbase.live.scheduler import Scheduler
from wagerbase.operations.embedded import EmbeddedServer

WAIT = 60.0
SERVICE = json.dumps({"role": "service_role"})


def create_market(conn: psycopg.Connection[Any], closes_in: float | None) -> int:
    """A parimutuel market made by the service role, closing `closes_in` seconds from now."""
    options: dict[str, Any] = {}
    with conn.transaction():
        conn.execute(
            "select set_config('role', 'service_role', true),"
            " set_config('request.jwt.claims', %s, true)",
            [SERVICE],
        )
        if closes_in is not None:
            row = conn.execute(
                "select (now() + %s)::text", [timedelta(seconds=closes_in)]
            ).fetchone()
            assert row is not None
            options["closes_at"] = row[0]
        row = conn.execute(
            "select public.create_market('Closes soon', '[\"Yes\", \"No\"]', 'parimutuel', %s)",
            [json.dumps(options)],
        ).fetchone()
    assert row is not None
    return int(row[0]["id"])


def scalar(conn: psycopg.Connection[Any], query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return row[0]


async def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.1)


def closed_messages(stream: StreamReader, market_id: int) -> int:
    return sum(
        1
        for _, payload in stream.read()
        if payload.get("type") == "closed" and payload.get("market_id") == market_id
    )


def test_two_nodes_close_a_due_market_exactly_once_and_never_duplicate_snapshots(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    with (
        psycopg.connect(url, autocommit=True) as conn,
        StreamReader(url, channels=("wagerbase_market",)) as stream,
    ):
        conn.execute("update app.config set snapshot_interval_seconds = 1")
        due = create_market(conn, closes_in=2)
        steady = create_market(conn, closes_in=None)

        def is_closed() -> bool:
            status: str = scalar(conn, "select status from app.markets where id = %s", [due])
            return status == "closed"

        def steady_rounds(n: int) -> Callable[[], bool]:
            query = """select count(distinct taken_at) from app.pool_snapshots
                       where market_id = %s and reason = 'interval'"""
            return lambda: scalar(conn, query, [steady]) >= n

        async def race() -> tuple[Scheduler, Scheduler]:
            nodes = (Scheduler(url, interval=0.05), Scheduler(url, interval=0.05))
            for node in nodes:
                await node.start()
            try:
                await wait_until(is_closed, "the due market closes")
                # several more snapshot rounds, both nodes still racing
                await wait_until(steady_rounds(4), "four snapshot rounds of the open market")
            finally:
                for node in nodes:
                    await node.stop()
            return nodes

        first, second = asyncio.run(race())

        assert first.counters.rounds > 0 and second.counters.rounds > 0
        assert first.counters.failures == second.counters.failures == 0
        assert first.counters.closed + second.counters.closed == 1
        audit = conn.execute(
            "select actor, actor_role from app.admin_actions"
            " where market_id = %s and action = 'close_market'",
            [due],
        ).fetchall()
        assert audit == [(None, "scheduler")]
        assert closed_messages(stream, due) == 1
        assert (
            scalar(
                conn,
                "select count(*) from app.pool_snapshots where market_id = %s and reason = 'close'",
                [due],
            )
            == 2
        )

        # one row per outcome per round, and rounds at least the interval apart: no node wrote
        # a snapshot another had just written
        per_round = conn.execute(
            """select taken_at, count(*) from app.pool_snapshots
               where market_id = %s and reason = 'interval' group by taken_at order by taken_at""",
            [steady],
        ).fetchall()
        assert len(per_round) >= 4
        assert {count for _, count in per_round} == {2}
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(per_round)]
        assert all(gap >= timedelta(seconds=1) for gap in gaps), gaps


def test_the_scheduler_carries_on_after_the_database_restarts(own_server: EmbeddedServer) -> None:
    async def scenario() -> Scheduler:
        node = Scheduler(own_server.url, interval=0.05)
        await node.start()
        try:
            await wait_until(lambda: node.counters.rounds > 0, "a first round")
            await asyncio.to_thread(own_server.restart, "immediate")
            with psycopg.connect(own_server.url, autocommit=True) as conn:
                due = create_market(conn, closes_in=1)

                def is_closed() -> bool:
                    query = "select status from app.markets where id = %s"
                    status: str = scalar(conn, query, [due])
                    return status == "closed"

                await wait_until(is_closed, "the market closes after the restart")
        finally:
            await node.stop()
        return node

    node = asyncio.run(scenario())
    assert node.counters.failures >= 1, "the restart went unnoticed"
    assert node.counters.closed == 1


def test_the_workers_of_two_nodes_run_each_side_effect_job_once(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    with psycopg.connect(url) as su:
        admin_id = create_user(su, "chief", admin=True)
        players = [create_user(su, f"player{i}") for i in range(3)]
        su.commit()
    settled = 0
    with Actor(url, admin_id, admin=True) as admin:
        for m in range(5):
            market = admin.call("create_market", title=f"Side effects {m}", outcomes=["A", "B"])
            outcomes = [o["outcome_id"] for o in market["outcomes"]]
            for i, player in enumerate(players):
                with Actor(url, player) as bettor:
                    bettor.call(
                        "place_wager",
                        market_id=market["id"],
                        outcome_id=outcomes[(i + m) % 2],
                        stake=150 + i,
                    )
            admin.call("settle_market", market_id=market["id"], outcome_id=outcomes[0])
            settled += 1

    with psycopg.connect(url, autocommit=True) as conn:

        def all_done() -> bool:
            query = "select count(*) from app.side_effect_jobs where status <> 'done'"
            pending: int = scalar(conn, query)
            return pending == 0

        async def run() -> tuple[Scheduler, Scheduler]:
            nodes = (Scheduler(url, interval=0.05), Scheduler(url, interval=0.05))
            for node in nodes:
                await node.start()
            try:
                await wait_until(all_done, "every side-effect job done")
            finally:
                for node in nodes:
                    await node.stop()
            return nodes

        first, second = asyncio.run(run())
        assert first.counters.jobs_done + second.counters.jobs_done == 4 * settled
        assert first.counters.jobs_retrying == second.counters.jobs_retrying == 0
        assert scalar(conn, "select count(*) from app.side_effect_jobs where attempts <> 1") == 0
        assert counted_figures(conn) == expected_figures(conn)
        assert scalar(conn, "select count(*) from app.user_stats where wagers = 5") == 3
