"""Side effects after settlement (docs/side-effects.md): the jobs a settlement writes in its own
transaction, the worker that runs them with retries and backoff, and the four handlers (user
statistics, the leaderboard per period, the big-wins feed, market statistics), each counting a
wager once whatever is retried, re-delivered or corrected; persona by persona."""

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor
from tests.db.helpers import make_market, scalar
from tests.db.personas import Persona, create_user
from tests.db.side_effects import (
    assert_side_effects_match,
    counted_figures,
    drain,
    expected_figures,
    figures_after,
    work_due,
)
from tests.db.stream import StreamReader
from tests.pgserver import Connection

HANDLERS = {"user_stats", "leaderboard", "big_wins", "market_stats"}


def jobs(conn: Connection, market_id: int) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "select * from app.side_effect_jobs where market_id = %s order by id", [market_id]
    )
    assert cursor.description is not None
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def bet(who: Persona, market_id: int, outcome_id: int, stake: int) -> dict[str, Any]:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=stake
    )
    return placed


# the outbox --------------------------------------------------------------------------------------


def test_a_settlement_writes_one_job_per_handler_in_its_own_transaction(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    assert jobs(conn, market.id) == []

    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    written = jobs(conn, market.id)
    assert {j["handler"] for j in written} == HANDLERS and len(written) == 4
    assert {(j["event"], j["status"], j["attempts"]) for j in written} == {
        ("settled", "pending", 0)
    }

    # a refused settlement rolls back with everything it would have written
    admin.refused(
        "already_settled", "settle_market", market_id=market.id, outcome_id=market.outcomes[1]
    )
    assert len(jobs(conn, market.id)) == 4


def test_voiding_an_unsettled_market_counts_nothing_and_writes_no_job(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    admin.call("void_market", market_id=market.id, reason="called off")
    assert jobs(conn, market.id) == []
    assert_side_effects_match(conn)


# the handlers, by hand ---------------------------------------------------------------------------


def test_the_handlers_count_a_settled_market_as_computed_by_hand(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    conn.execute("update app.config set big_win_min_profit = 400")
    # parimutuel, rake 5%: pool 3000; Yes 2000 (bettor 1500, other 500), No 1000 (other)
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    yes, no = market.outcomes
    bet(bettor, market.id, yes, 1500)
    bet(other, market.id, yes, 500)
    bet(other, market.id, no, 1000)
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    # net pool 3000 - 150 = 2850; bettor 1500 * 2850 / 2000 = 2137 (.5 down); other 712 (.5 down)
    assert drain(conn) == 4

    stats = {
        row[0]: row[1:]
        for row in conn.execute(
            "select user_id, wagers, wins, wagered, won, profit from app.user_stats"
        ).fetchall()
    }
    assert stats[bettor.user_id] == (1, 1, 1500, 2137, 637)
    assert stats[other.user_id] == (2, 1, 1500, 712, -788)
    assert conn.execute(
        """select wagers, wins, staked, paid, house_result
           from public.market_stats where market_id = %s""",
        [market.id],
    ).fetchone() == (3, 2, 3000, 2849, 151)

    today = conn.execute("select (now() at time zone 'UTC')::date").fetchone()
    assert today is not None
    board = anon.rows(
        """select rank, player, wagers, profit from public.leaderboard
           where period = 'day' and period_start = %s order by rank""",
        [today[0]],
    )
    assert board == [(1, "bettor", 1, 637), (2, "other", 2, -788)]
    for period in ("week", "month"):
        assert anon.rows(
            "select player, profit from public.leaderboard where period = %s order by rank",
            [period],
        ) == [("bettor", 637), ("other", -788)]

    # a profit of 637 reaches the 400 minimum; the other's 212 does not; the feed names the
    # player by username, never by email or id
    feed = anon.rows(
        "select market_title, outcome_label, player, stake, payout, profit from public.big_wins"
    )
    assert feed == [(market.row["title"], "Yes", "bettor", 1500, 2137, 637)]
    anon.denied("select user_id from app.big_wins")
    anon.denied("select user_id from app.leaderboard")
    assert_side_effects_match(conn)


def test_a_fixed_odds_market_counts_the_locked_payouts(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    yes, no = market.outcomes
    won = bet(bettor, market.id, yes, 1000)
    bet(other, market.id, no, 400)
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    drain(conn)
    payout = won["potential_payout"]
    assert conn.execute(
        "select wagers, wins, wagered, won, profit from app.user_stats where user_id = %s",
        [bettor.user_id],
    ).fetchone() == (1, 1, 1000, payout, payout - 1000)
    assert conn.execute(
        "select wagers, wins, staked, paid from app.market_stats where market_id = %s", [market.id]
    ).fetchone() == (2, 1, 1400, payout)
    assert_side_effects_match(conn)


def test_a_refunded_parimutuel_market_counts_no_wager(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, kind="parimutuel")
    bet(bettor, market.id, market.outcomes[0], 700)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])
    drain(conn)
    assert scalar(conn, "select count(*) from app.user_stats where wagers > 0") == 0
    assert_side_effects_match(conn)


# idempotency -------------------------------------------------------------------------------------


def test_a_job_run_again_or_delivered_twice_counts_nothing_twice(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 900)
    bet(other, market.id, market.outcomes[1], 300)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)
    before = counted_figures(conn)

    # the same jobs again, as a re-delivery would bring them, and once more
    for _ in range(2):
        conn.execute(
            """insert into app.side_effect_jobs (handler, market_id, event)
               select handler, market_id, event from app.side_effect_jobs where market_id = %s
               and id in (select min(id) from app.side_effect_jobs
                             where market_id = %s group by handler)""",
            [market.id, market.id],
        )
        assert drain(conn) == 4
    assert counted_figures(conn) == before
    changed = conn.execute(
        "select changed from app.side_effect_jobs where market_id = %s order by id", [market.id]
    ).fetchall()
    assert [c for (c,) in changed] == [2, 2, 2, 2] + [0] * 8
    assert_side_effects_match(conn)


# corrections -------------------------------------------------------------------------------------


def test_a_resettled_market_counts_as_if_the_right_winner_had_come_first(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    conn.execute("update app.config set big_win_min_profit = 100")
    market = make_market(admin, kind="parimutuel")
    yes, no = market.outcomes
    bet(bettor, market.id, yes, 1000)
    bet(other, market.id, no, 1000)
    bet(other, market.id, yes, 200)

    right = figures_after(
        conn, lambda: admin.call("settle_market", market_id=market.id, outcome_id=no)
    )
    admin.call("settle_market", market_id=market.id, outcome_id=yes)
    drain(conn)
    assert (
        scalar(conn, "select count(*) from app.big_wins where user_id = %s", [bettor.user_id]) == 1
    )

    admin.call("resettle_market", market_id=market.id, outcome_id=no, reason="wrong result")
    assert {(j["event"], j["status"]) for j in jobs(conn, market.id)} == {
        ("settled", "done"),
        ("unsettled", "pending"),
        ("settled", "pending"),
    }
    drain(conn)
    assert counted_figures(conn) == right
    # the bettor's win is gone from the feed; the other's win on No is in it
    assert {row[0] for row in conn.execute("select user_id from app.big_wins").fetchall()} == {
        other.user_id
    }
    assert_side_effects_match(conn)


def test_an_unsettled_market_counts_nothing_until_it_is_settled_again(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 800)
    bet(other, market.id, market.outcomes[1], 800)
    nothing = counted_figures(conn)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)
    assert counted_figures(conn) != nothing

    admin.call("unsettle_market", market_id=market.id, reason="result under review")
    drain(conn)
    assert counted_figures(conn) == nothing
    assert conn.execute(
        "select wagers, wins, staked, paid from app.market_stats where market_id = %s", [market.id]
    ).fetchone() == (0, 0, 0, 0)
    assert_side_effects_match(conn)


# who sees what -----------------------------------------------------------------------------------


def test_bettors_read_their_own_statistics_and_admins_read_the_jobs(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    bet(other, market.id, market.outcomes[1], 500)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)

    assert bettor.rows("select user_id from public.user_stats") == [(bettor.user_id,)]
    assert other.rows("select user_id from public.user_stats") == [(other.user_id,)]
    assert len(admin.rows("select user_id from public.user_stats")) == 2
    assert (
        len(admin.rows("select id from public.side_effect_jobs where market_id = %s", [market.id]))
        == 4
    )
    assert len(service_role.rows("select id from public.side_effect_jobs")) >= 4
    assert bettor.rows("select id from public.side_effect_jobs") == []
    anon.denied("select * from public.user_stats")
    anon.denied("select * from public.side_effect_jobs")
    for who in (anon, bettor, admin):
        who.denied("select app.work_side_effect()")
    assert (
        len(
            anon.rows("select market_id from public.market_stats where market_id = %s", [market.id])
        )
        == 1
    )
    bettor.refused("not_admin", "retry_side_effects")
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        anon.call("retry_side_effects")
    assert caught.value.sqlstate == "42501"  # not granted to anon at all


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
