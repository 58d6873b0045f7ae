"""Races of the daily stake limit and the scheduler with a known result: wagers against a daily
stake limit (sixteen at once on four markets, held wagers counted; also while it is tightened)
never pass it, eight schedulers ticking at once on due markets close each once (one close
snapshot per outcome), and a market held by a long transaction does not queue the wagers on other
markets behind the scheduler's snapshots."""

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import all_at_once
from tests.db.helpers import balance, outcome_ids, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user


def test_concurrent_wagers_never_pass_a_daily_stake_limit(fresh_db: Callable[[], str]) -> None:
    """One user, sixteen connections, four markets (two holding wagers for approval, which
    count): with a limit of 2,000 and 300 a wager exactly six are taken. Another user, limit
    3,000, sixteen wagers sent at the instant a seventeenth connection tightens the limit to
    1,500: never more than 3,000 staked, in the order the wallet lock let them in; at least the
    five the new limit allows; and the next wager is refused."""
    url = fresh_db()
    users = make_users(url, ["solo", "duo"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        markets = [
            boss.call(
                "create_market",
                title=f"Race {i}",
                outcomes=["a", "b"],
                kind=kind,
                options={"requires_approval": i >= 2, "margin": 20000},
            )
            for i, kind in enumerate(["parimutuel", "fixed_odds"] * 2)
        ]
    for name, limit in (("solo", 2000), ("duo", 3000)):
        with Actor(url, users[name]) as me:
            me.call("set_daily_stake_limit", amount=limit)

    def wager(client: Actor, i: int) -> Any:
        market = markets[i % 4]
        return client.call(
            "place_wager", market_id=market["id"], outcome_id=outcome_ids(market)[i % 2], stake=300
        )

    with actors(url, 16, users["solo"]) as clients:
        outcomes = all_at_once(16, lambda i: wager(clients[i], i))
    placed = [o for o in outcomes if isinstance(o, dict)]
    assert Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error)) == {
        "daily_stake_limit_reached": 10
    }
    assert len(placed) == 6
    with psycopg.connect(url) as conn:
        assert (
            scalar(conn, "select sum(stake) from app.wagers where user_id = %s", [users["solo"]])
            == 1800
        )

    with actors(url, 17, users["duo"]) as clients:
        outcomes = all_at_once(
            17,
            lambda i: (
                wager(clients[i], i)
                if i < 16
                else clients[i].call("set_daily_stake_limit", amount=1500)
            ),
        )
    tightened = outcomes[16]
    assert isinstance(tightened, dict) and tightened["effect"] == "immediate", tightened
    placed = [o for o in outcomes[:16] if isinstance(o, dict)]
    assert {refusal(o) for o in outcomes[:16] if isinstance(o, psycopg.Error)} == {
        "daily_stake_limit_reached"
    }
    assert 5 <= len(placed) <= 10
    with psycopg.connect(url) as conn:
        used = 0
        for (stake,) in conn.execute(
            "select stake from app.wagers where user_id = %s order by id", [users["duo"]]
        ).fetchall():
            used += stake
            assert used <= 3000
        assert used == 300 * len(placed)
        assert_invariants(conn)
    with Actor(url, users["duo"]) as duo, pytest.raises(psycopg.Error) as caught:
        wager(duo, 0)
    assert refusal(caught.value) == "daily_stake_limit_reached"


def test_many_schedulers_close_each_due_market_once(fresh_db: Callable[[], str]) -> None:
    """Six markets past their closes_at (two of them also closed by an admin at the same instant),
    two still open; eight scheduler nodes tick at once, round after round, while bettors keep
    trying the due markets (refused, but holding each market's lock for a moment, so a tick skips
    it for the next round). Each due market is closed exactly once, by one tick or by the admin,
    with one close snapshot per outcome and one close_market log row; each open market gets one
    interval snapshot per outcome (the interval is set to a day); a tick that found another node
    holding the lock did nothing."""
    url = fresh_db()
    users = make_users(url, ["rio", "sam"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        created = {
            name: boss.call(
                "create_market",
                title=name,
                outcomes=[f"o{i}" for i in range(n)],
                kind=kind,
                options={"margin": 20000},
            )
            for name, kind, n in [
                ("due 1", "parimutuel", 2),
                ("due 2", "fixed_odds", 3),
                ("due 3", "parimutuel", 4),
                ("due 4", "fixed_odds", 2),
                ("raced 1", "parimutuel", 2),
                ("raced 2", "fixed_odds", 3),
                ("open 1", "parimutuel", 2),
                ("open 2", "fixed_odds", 2),
            ]
        }
    for name in users:
        with Actor(url, users[name]) as bettor:
            for market in created.values():
                bettor.call(
                    "place_wager",
                    market_id=market["id"],
                    outcome_id=outcome_ids(market)[0],
                    stake=200,
                )
    due = [m for name, m in created.items() if not name.startswith("open")]
    raced = [created["raced 1"], created["raced 2"]]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update app.config set snapshot_interval_seconds = 86400")
        conn.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = any(%s)",
            [[m["id"] for m in due]],
        )

    ticks: list[dict[str, Any]] = []
    closed_by_admin: list[int] = []
    with ExitStack() as stack:
        nodes = [stack.enter_context(psycopg.connect(url, autocommit=True)) for _ in range(8)]
        closers = [
            stack.enter_context(Actor(url, admins["boss"], admin=True, name=f"closer{i}"))
            for i in range(2)
        ]
        bettors = [
            stack.enter_context(Actor(url, users[name], name=f"{name}{i}"))
            for name in users
            for i in range(2)
        ]

        def tick(i: int) -> dict[str, Any]:
            row = nodes[i].execute("select app.scheduler_tick()").fetchone()
            assert row is not None
            return dict(row[0])

        def first_round(i: int) -> Any:
            if i < 8:
                return tick(i)
            if i < 10:
                return closers[i - 8].call("close_market", market_id=raced[i - 8]["id"])
            market = due[i % len(due)]
            return bettors[i - 10].call(
                "place_wager", market_id=market["id"], outcome_id=outcome_ids(market)[0], stake=100
            )

        outcomes = all_at_once(14, first_round)
        ticks += outcomes[:8]
        for i, outcome in enumerate(outcomes[8:10]):
            if isinstance(outcome, dict):
                closed_by_admin.append(raced[i]["id"])
            else:
                assert refusal(outcome) == "invalid_market_state"
        assert {refusal(o) for o in outcomes[10:]} == {"market_not_open"}
        for _ in range(10):
            more = all_at_once(8, tick)
            ticks += more
            if not any(t["closed"] for t in more):
                break

    closed = Counter(m for t in ticks for m in t["closed"]) + Counter(closed_by_admin)
    assert closed == {m["id"]: 1 for m in due}
    for t in ticks:
        if not t["locked"]:
            assert (t["closed"], t["snapshots"]) == ([], 0), t
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select m.title, m.status,
                      (select count(*) from app.outcomes as o where o.market_id = m.id),
                      (select count(*) from app.pool_snapshots as s
                       where s.market_id = m.id and s.reason = 'close'),
                      (select count(*) from app.pool_snapshots as s
                       where s.market_id = m.id and s.reason = 'interval'),
                      (select count(*) from app.admin_actions as a
                       where a.market_id = m.id and a.action = 'close_market')
               from app.markets as m order by m.id"""
        ).fetchall()
        for title, status, outcomes_count, close, interval, logged in rows:
            if title.startswith("open"):
                assert (status, close, interval, logged) == ("open", 0, outcomes_count, 0), title
            else:
                assert (status, close, logged) == ("closed", outcomes_count, 1), title
        assert_invariants(conn)


def test_a_busy_market_does_not_queue_wagers_on_other_markets_behind_the_scheduler(
    fresh_db: Callable[[], str],
) -> None:
    """While one transaction holds market B (a long settlement, say), the scheduler's snapshot of
    market A used to take a key-share lock on A through its foreign key and then wait for B, and
    every wager on A waited with it. With markets locked `for no key update`, nothing waits."""
    url = fresh_db()
    users = make_users(url, ["punter"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        a = boss.call("create_market", title="A", outcomes=["x", "y"])
        b = boss.call("create_market", title="B", outcomes=["x", "y"])
    with (
        psycopg.connect(url) as holder,
        psycopg.connect(url, autocommit=True) as scheduler,
        Actor(url, users["punter"]) as punter,
    ):
        holder.execute("select app._lock_market(%s)", [b["id"]])  # as every engine function does
        scheduler.execute("set lock_timeout = '5s'")
        scheduler.execute("select app.take_pool_snapshots()")
        punter.conn.execute("set lock_timeout = '5s'")
        placed = punter.call(
            "place_wager", market_id=a["id"], outcome_id=a["outcomes"][0]["outcome_id"], stake=100
        )
        assert placed["approval"] == "accepted"
        holder.rollback()


def test_sixteen_concurrent_wagers_never_pass_the_daily_stake_limit(
    fresh_db: Callable[[], str],
) -> None:
    """One user, sixteen connections, four markets (so the market locks do not serialise them):
    only the wallet lock stands between the wagers and the limit. 1,000 limit, 300 a wager,
    plenty of money: exactly three are placed."""
    url = fresh_db()
    with psycopg.connect(url) as setup:
        solo = create_user(setup, "solo")
        boss = create_user(setup, "boss", admin=True)
        setup.commit()
    with Actor(url, boss, admin=True) as admin:
        markets = [
            admin.call("create_market", title=f"Race {i}", outcomes=["a", "b"], kind=kind)
            for i, kind in enumerate(["parimutuel", "fixed_odds"] * 2)
        ]
    with Actor(url, solo) as me:
        me.call("set_daily_stake_limit", amount=1000)
        me.call("deposit", amount=10000)

    clients = [Actor(url, solo, name=f"solo{i}") for i in range(16)]
    try:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call(
                "place_wager",
                market_id=markets[i % 4]["id"],
                outcome_id=markets[i % 4]["outcomes"][i % 2]["outcome_id"],
                stake=300,
            ),
        )
    finally:
        for client in clients:
            client.close()

    placed = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    assert (len(placed), refused) == (3, {"daily_stake_limit_reached": 13})
    with psycopg.connect(url) as conn:
        assert scalar(conn, "select sum(stake) from app.wagers where user_id = %s", [solo]) == 900
        assert balance(conn, solo) == 20000 - 900
        assert_invariants(conn)
