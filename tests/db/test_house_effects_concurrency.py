"""The side effects of house bets under concurrency, committed, each on a database of its own:
workers running the same jobs at once (and every job again) count each bet once, and two claims
of one player's rakeback at once pay it once. The invariants hold after each."""

from collections.abc import Callable
from math import floor
from typing import Any

import psycopg

from tests.db.actors import Actor, actors, make_users
from tests.db.concurrent import all_at_once
from tests.db.house_effects import HANDLERS, counted, expected, small_bets, work_until_idle
from tests.db.invariants import assert_invariants


def play_all(url: str, users: dict[str, Any], count: int) -> None:
    for name, user in users.items():
        with Actor(url, user) as player:
            for i, (game, params) in enumerate(small_bets(count)):
                player.call(f"play_{game}", **params, idempotency_key=f"{name}-{i}")


def test_workers_at_once_count_each_bet_once_however_often_the_jobs_run(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    users = make_users(url, ["ann", "bob", "cyd"])
    play_all(url, users, 20)
    changed = all_at_once(4, lambda _: work_until_idle(url))
    # each bet counted by each handler exactly once, by whichever worker took it
    assert sum(changed) == 3 * 20 * len(HANDLERS)
    with psycopg.connect(url, autocommit=True) as conn:
        assert counted(conn) == expected(conn)
        conn.execute("update app.side_effect_jobs set status = 'pending', done_at = null")
    assert all_at_once(4, lambda _: work_until_idle(url)) == [0, 0, 0, 0]
    with psycopg.connect(url, autocommit=True) as conn:
        assert counted(conn) == expected(conn)
        volume = "select game, bets, wins, staked, paid from app.house_game_stats order by game"
        assert (
            conn.execute(volume).fetchall()
            == conn.execute(
                """select game, count(*), count(*) filter (where payout > 0), sum(stake),
                      sum(payout)
               from app.house_bets where status = 'settled' group by game order by game"""
            ).fetchall()
        )
        assert conn.execute("select count(*) from app.live_bets").fetchone() == (60,)
        assert_invariants(conn)


def test_two_claims_at_once_pay_the_rakeback_once(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    users = make_users(url, ["ann"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update app.config set rakeback_bps = 10000")
    play_all(url, users, 60)
    work_until_idle(url)
    with psycopg.connect(url, autocommit=True) as conn:
        owed = floor(expected(conn)[users["ann"]][2])
    assert owed > 0
    with actors(url, 2, users["ann"]) as clients:
        claims = all_at_once(
            2, lambda i: clients[i].call("claim_rakeback", idempotency_key=f"claim-{i}")
        )
    assert sorted(c["paid"] for c in claims) == [0, owed]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """select count(*), sum(e.amount) from app.ledger_transactions as t
               inner join app.ledger_entries as e on e.transaction_id = t.id
               inner join app.accounts as a on a.id = e.account_id
               where t.kind = 'rakeback' and a.user_id = %s""",
            [users["ann"]],
        ).fetchone()
        assert rows == (1, owed)
        assert_invariants(conn)
