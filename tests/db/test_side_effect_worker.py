"""Side effects after settlement (docs/side-effects.md), the worker's failures and retries: a
handler that fails twice then succeeds counts once, a job that keeps failing is failed, shown to
admins and can be retried, and two workers with corrections at once count every wager once.
Committed, each on a database of its own."""

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor
from tests.db.personas import create_user
from tests.db.side_effects import (
    assert_side_effects_match,
    counted_figures,
    drain,
    expected_figures,
    jobs,
    work_due,
)
from tests.db.stream import StreamReader
from tests.pgserver import Connection

# failures and retries, committed, on a database of their own ------------------------------------


def setup_settled_market(url: str, stakes: list[int]) -> tuple[uuid.UUID, int]:
    """An admin and a bettor; a fixed-odds market with the bettor's `stakes` on its first outcome,
    settled for it; all committed. Returns (the bettor's id, the market id)."""
    with psycopg.connect(url) as su:
        admin_id = create_user(su, "ops", admin=True)
        bettor_id = create_user(su, "lucky")
        su.commit()
    with Actor(url, admin_id, admin=True) as admin, Actor(url, bettor_id) as bettor:
        market = admin.call("create_market", title="Retried", outcomes=["Yes", "No"])
        yes = market["outcomes"][0]["outcome_id"]
        for amount in stakes:
            bettor.call("place_wager", market_id=market["id"], outcome_id=yes, stake=amount)
        admin.call("settle_market", market_id=market["id"], outcome_id=yes)
    return bettor_id, market["id"]


def job(conn: Connection, market_id: int, handler: str) -> dict[str, Any]:
    (found,) = [j for j in jobs(conn, market_id) if j["handler"] == handler]
    return found


def work_until(conn: Connection, done: Any, what: str, wait: float = 30.0) -> None:
    """Call the worker until `done()` holds; the backoff decides when a job is due again."""
    deadline = time.monotonic() + wait
    while not done():
        assert time.monotonic() < deadline, f"never happened: {what}"
        work_due(conn)
        time.sleep(0.05)


def test_a_handler_that_fails_twice_then_succeeds_counts_once(
    fresh_db: Any,
) -> None:
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as worker, psycopg.connect(url) as maintenance:
        worker.execute(
            "update app.config set side_effect_lock_timeout_ms = 100, side_effect_backoff_ms = 200"
        )
        bettor_id, market_id = setup_settled_market(url, [300, 200])

        # a maintenance job holds the statistics table; the user_stats handler cannot get it
        maintenance.execute("lock table app.user_stats in access exclusive mode")
        first = {r["handler"]: (r["status"], r["changed"]) for r in work_due(worker)}
        assert first == {
            "user_stats": ("pending", None),
            "leaderboard": ("done", 2),
            "big_wins": ("done", 2),
            "market_stats": ("done", 2),
        }
        failing = job(worker, market_id, "user_stats")
        assert (failing["status"], failing["attempts"]) == ("pending", 1)
        assert failing["last_error"].startswith("55P03: ")  # lock_not_available
        assert failing["next_attempt_at"] - failing["last_attempt_at"] == timedelta(
            milliseconds=200
        )

        work_until(
            worker, lambda: job(worker, market_id, "user_stats")["attempts"] == 2, "attempt 2"
        )
        failing = job(worker, market_id, "user_stats")
        assert failing["status"] == "pending"
        # exponential: the second wait is twice the first
        assert failing["next_attempt_at"] - failing["last_attempt_at"] == timedelta(
            milliseconds=400
        )

        maintenance.rollback()
        work_until(worker, lambda: job(worker, market_id, "user_stats")["status"] == "done", "done")
        succeeded = job(worker, market_id, "user_stats")
        assert (succeeded["attempts"], succeeded["changed"]) == (3, 2)
        stats = worker.execute(
            "select wagers, wins, wagered from app.user_stats where user_id = %s", [bettor_id]
        ).fetchone()
        assert stats == (2, 2, 500)
        # the other handlers ran once, on the first pass
        assert {
            (j["handler"], j["attempts"])
            for j in jobs(worker, market_id)
            if j["handler"] != "user_stats"
        } == {("leaderboard", 1), ("big_wins", 1), ("market_stats", 1)}
        assert_side_effects_match(worker)


def test_a_job_that_keeps_failing_is_failed_shown_to_admins_and_can_be_retried(
    fresh_db: Any,
) -> None:
    url = fresh_db()
    with (
        psycopg.connect(url, autocommit=True) as worker,
        psycopg.connect(url) as maintenance,
        StreamReader(url, channels=("wagerbase_admin",)) as stream,
    ):
        worker.execute(
            """update app.config set side_effect_lock_timeout_ms = 50, side_effect_backoff_ms = 1,
               side_effect_max_attempts = 2"""
        )
        bettor_id, market_id = setup_settled_market(url, [250])
        maintenance.execute("lock table app.market_stats in access exclusive mode")
        work_until(
            worker, lambda: job(worker, market_id, "market_stats")["status"] == "failed", "failed"
        )
        failed = job(worker, market_id, "market_stats")
        assert failed["attempts"] == 2

        messages = [m for _, m in stream.read()]
        told = [m for m in messages if m["type"] == "side_effect_failed"]
        assert [(m["job_id"], m["handler"], m["market_id"], m["attempts"]) for m in told] == [
            (failed["id"], "market_stats", market_id, 2)
        ]
        assert told[0]["error"].startswith("55P03")

        with psycopg.connect(url) as su:
            admin_id = create_user(su, "fixer", admin=True)
            su.commit()
        with Actor(url, admin_id, admin=True) as admin, Actor(url, bettor_id) as bettor:
            # the worker leaves a failed job alone
            assert work_due(worker) == []
            with pytest.raises(psycopg.Error) as refused:
                bettor.call("retry_side_effects", job_id=failed["id"])
            assert refused.value.diag.message_primary == "not_admin"
            done_job = job(worker, market_id, "user_stats")["id"]
            for job_id, key in (
                (done_job, "job_not_failed"),
                (failed["id"] + 10_000, "job_not_found"),
            ):
                with pytest.raises(psycopg.Error) as refused:
                    admin.call("retry_side_effects", job_id=job_id)
                assert refused.value.diag.message_primary == key

            maintenance.rollback()
            assert admin.call("retry_side_effects", job_id=failed["id"]) == {"retried": 1}
            retried = job(worker, market_id, "market_stats")
            assert (retried["status"], retried["attempts"], retried["retried_by"]) == (
                "pending",
                0,
                admin_id,
            )
            assert [r["status"] for r in work_due(worker)] == ["done"]
            assert job(worker, market_id, "market_stats")["status"] == "done"
            assert worker.execute(
                "select count(*) from app.admin_actions where action = 'retry_side_effects'"
            ).fetchone() == (1,)
        assert_side_effects_match(worker)


def test_two_workers_and_corrections_at_once_count_every_wager_once(fresh_db: Any) -> None:
    url = fresh_db()
    with psycopg.connect(url) as su:
        admin_id = create_user(su, "boss", admin=True)
        bettors = [create_user(su, f"punter{i}") for i in range(4)]
        su.commit()
    markets: list[dict[str, Any]] = []
    with Actor(url, admin_id, admin=True) as admin:
        for m in range(12):
            market = admin.call(
                "create_market",
                title=f"Race {m}",
                outcomes=["A", "B", "C"],
                kind="parimutuel" if m % 2 else "fixed_odds",
            )
            outcomes = [o["outcome_id"] for o in market["outcomes"]]
            for i, user in enumerate(bettors):
                with Actor(url, user) as punter:
                    punter.call(
                        "place_wager",
                        market_id=market["id"],
                        outcome_id=outcomes[(i + m) % 3],
                        stake=100 + 10 * i,
                    )
            admin.call("settle_market", market_id=market["id"], outcome_id=outcomes[0])
            markets.append({"id": market["id"], "outcomes": outcomes})

    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while not stop.is_set():
                    conn.execute("select app.work_side_effect()")
        except BaseException as error:
            errors.append(error)

    def corrector() -> None:
        try:
            with Actor(url, admin_id, admin=True) as admin:
                for market in markets:
                    admin.call(
                        "resettle_market",
                        market_id=market["id"],
                        outcome_id=market["outcomes"][1],
                        reason="photo finish",
                    )
                for market in markets[::3]:
                    admin.call(
                        "unsettle_market", market_id=market["id"], reason="steward's inquiry"
                    )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    corrections = threading.Thread(target=corrector)
    corrections.start()
    corrections.join(timeout=120)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    with psycopg.connect(url, autocommit=True) as conn:
        drain(conn)
        # one job per transaction, rows locked in key order: no job ever had to be retried
        retried = conn.execute(
            "select count(*) from app.side_effect_jobs where attempts > 1 or status <> 'done'"
        ).fetchone()
        assert retried == (0,)
        assert counted_figures(conn) == expected_figures(conn)
        assert_side_effects_match(conn)
