"""Races of corrections with a known result: two admins resettling one market (to the same
winner: corrected once; to two winners: one after the other), and corrections and settlements of
markets sharing bettors (no deadlock, queued behind a held house account in both orders)."""

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import WAIT, all_at_once, wait_until_blocked
from tests.db.helpers import balance, house, outcome_ids, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import service
from tests.pgserver import Connection


def money(conn: Connection, users: dict[str, uuid.UUID]) -> dict[str, Any]:
    """Everything a correction moves: each wallet, the house, the debts, the wagers' results."""
    row = conn.execute("select balance from app.accounts where kind = 'house'").fetchone()
    assert row is not None
    names = {user_id: name for name, user_id in users.items()}
    return {
        "wallets": {
            names[user_id]: balance
            for user_id, balance in conn.execute(
                "select user_id, balance from app.accounts where user_id = any(%s)",
                [list(users.values())],
            ).fetchall()
        },
        "house": row[0],
        "debts": sorted(
            (names[user_id], amount)
            for user_id, amount in conn.execute(
                "select user_id, amount from app.user_debts"
            ).fetchall()
        ),
        "wagers": conn.execute(
            "select id, settlement, payout from app.wagers order by id"
        ).fetchall(),
    }


def settled_market_with_a_spender(
    url: str, kind: str, users: dict[str, uuid.UUID], boss: uuid.UUID
) -> tuple[int, list[int]]:
    """A market with outcomes x, y, z, settled with x; ana, who won on x and has a wager on y
    too, then took every unit out of her wallet. Returns the market id and its outcomes."""
    with Actor(url, boss, admin=True) as admin:
        market = admin.call("create_market", title="Final", outcomes=["x", "y", "z"], kind=kind)
        x, y, z = outcome_ids(market)
        for name, outcome, stake in [
            ("ana", x, 1000),
            ("ben", y, 600),
            ("cleo", y, 300),
            ("ana", y, 200),
            ("cleo", z, 400),
        ]:
            with Actor(url, users[name]) as bettor:
                bettor.call("place_wager", market_id=market["id"], outcome_id=outcome, stake=stake)
        admin.call("settle_market", market_id=market["id"], outcome_id=x)
    with Actor(url, users["ana"]) as ana:
        ana.call("withdraw", amount=ana.call("get_wallet")["balance"])
    return int(market["id"]), [x, y, z]


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_two_admins_resettle_one_market_at_once_and_it_is_corrected_once(
    fresh_db: Callable[[], str], kind: str
) -> None:
    """Settled with x, its winner ana spent the winnings; two admins resettle it to y at the same
    instant. Exactly one corrects it; the other is refused with invalid_argument (y is the winner
    already); wallets, house, debts and wagers are those of a single resettle, done first in a
    transaction rolled back."""
    url = fresh_db()
    users = make_users(url, ["ana", "ben", "cleo"])
    admins = make_users(url, ["boss", "deputy"], admin=True)
    market_id, (x, y, _) = settled_market_with_a_spender(url, kind, users, admins["boss"])
    with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
        service(conn).call("resettle_market", market_id=market_id, outcome_id=y, reason="once")
        once = money(conn, users)
    assert once["debts"], "ana's debt"

    with ExitStack() as stack:
        clients = [
            stack.enter_context(Actor(url, admins[name], admin=True, name=name))
            for name in ("boss", "deputy")
        ]
        outcomes = all_at_once(
            2,
            lambda i: clients[i].call(
                "resettle_market", market_id=market_id, outcome_id=y, reason=f"admin {i}"
            ),
        )

    corrected = [o for o in outcomes if isinstance(o, dict)]
    assert len(corrected) == 1
    assert corrected[0]["unsettled"]["previous_winning_outcome_id"] == x
    assert [refusal(o) for o in outcomes if isinstance(o, psycopg.Error)] == ["invalid_argument"]
    with psycopg.connect(url) as conn:
        assert money(conn, users) == once
        assert scalar(conn, "select count(*) from app.ledger_reversals") == 1
        assert_invariants(conn)


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_two_admins_resettle_one_market_to_different_winners_one_after_the_other(
    fresh_db: Callable[[], str], kind: str
) -> None:
    """Settled with x, its winner ana spent the winnings; at the same instant one admin resettles
    it to y and another to z. The market's lock puts one after the other: both are corrections,
    the second reverses the first, and the books end as the two resettles in that order, done
    first (both orders) in transactions rolled back."""
    url = fresh_db()
    users = make_users(url, ["ana", "ben", "cleo"])
    admins = make_users(url, ["boss", "deputy"], admin=True)
    market_id, (x, y, z) = settled_market_with_a_spender(url, kind, users, admins["boss"])
    expected: dict[tuple[int, int], dict[str, Any]] = {}
    for order in ((y, z), (z, y)):
        with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
            for outcome in order:
                service(conn).call(
                    "resettle_market", market_id=market_id, outcome_id=outcome, reason="serial"
                )
            expected[order] = money(conn, users)

    with ExitStack() as stack:
        clients = [
            stack.enter_context(Actor(url, admins[name], admin=True, name=name))
            for name in ("boss", "deputy")
        ]
        outcomes = all_at_once(
            2,
            lambda i: clients[i].call(
                "resettle_market", market_id=market_id, outcome_id=(y, z)[i], reason=f"admin {i}"
            ),
        )

    assert all(isinstance(o, dict) for o in outcomes), outcomes
    previous = {
        o["settled"]["winning_outcome_id"]: o["unsettled"]["previous_winning_outcome_id"]
        for o in outcomes
    }
    first = next(outcome for outcome, before in previous.items() if before == x)
    second = y if first == z else z
    assert previous == {first: x, second: first}
    with psycopg.connect(url) as conn:
        assert money(conn, users) == expected[(first, second)]
        assert scalar(conn, "select count(*) from app.ledger_reversals") == 2
        assert_invariants(conn)


def queued_behind_the_house(
    url: str,
    first: tuple[Actor, Callable[[Actor], Any]],
    second: tuple[Actor, Callable[[Actor], Any]],
) -> dict[str, Any]:
    """Hold the house account, start `first` and wait until it waits for it, then `second`, then
    let go: both queue behind the same lock, in that order, as they would behind a third
    settlement. Returns each actor's answer or refusal key."""
    results: dict[str, Any] = {}

    def run(actor: Actor, call: Callable[[Actor], Any]) -> Callable[[], None]:
        def target() -> None:
            try:
                results[actor.name] = call(actor)
            except psycopg.Error as error:
                results[actor.name] = refusal(error)

        return target

    with (
        psycopg.connect(url) as house,
        psycopg.connect(url, autocommit=True) as watcher,
    ):
        house.execute("select 1 from app.accounts where kind = 'house' for update")
        threads = [threading.Thread(target=run(*pair), daemon=True) for pair in (first, second)]
        threads[0].start()
        wait_until_blocked(watcher, first[0])
        threads[1].start()
        wait_until_blocked(watcher, second[0])
        house.commit()
        for thread in threads:
            thread.join(timeout=WAIT)
            assert not thread.is_alive(), "a correction hung"
    return results


def test_corrections_and_settlements_of_markets_sharing_bettors_do_not_deadlock(
    fresh_db: Callable[[], str],
) -> None:
    """Markets A (parimutuel) and B (fixed odds) with the same three bettors on both, and
    winners who take their money out between rounds (so reversals leave debts and later
    corrections collect them). Six rounds of two operations at once, one on each market: unsettle
    A / settle B and settle A / unsettle B queued behind a held house account in both orders,
    then resettle, settle, unsettle and void_wager released together. Every call succeeds (none
    is chosen as a deadlock victim), and the books balance after each round."""
    url = fresh_db()
    users = make_users(url, ["una", "vic", "wes"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        a = boss.call("create_market", title="A", outcomes=["a1", "a2"], kind="parimutuel")
        b = boss.call(
            "create_market",
            title="B",
            outcomes=["b1", "b2"],
            kind="fixed_odds",
            options={"margin": 20000},
        )
        wagers: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(users):
            with Actor(url, users[name]) as bettor:
                for market in (a, b, a, b):
                    placed = bettor.call(
                        "place_wager",
                        market_id=market["id"],
                        outcome_id=outcome_ids(market)[(i + len(wagers[name])) % 2],
                        stake=300 + 100 * i,
                    )
                    wagers[name].append(placed["wager_id"])
        boss.call("settle_market", market_id=a["id"], outcome_id=outcome_ids(a)[0])
    a1, a2 = outcome_ids(a)
    b1, b2 = outcome_ids(b)

    def spend() -> None:
        for name in users:
            with Actor(url, users[name]) as bettor:
                balance = bettor.call("get_wallet")["balance"]
                if balance:
                    bettor.call("withdraw", amount=balance)

    def do(function: str, **args: Any) -> Callable[[Actor], Any]:
        return lambda actor: actor.call(function, **args)

    def both(calls: tuple[tuple[Callable[[Actor], Any], Actor], ...], i: int) -> Any:
        call, actor = calls[i]
        return call(actor)

    reason = {"reason": "correction"}
    rounds: list[tuple[bool, Callable[[Actor], Any], Callable[[Actor], Any]]] = [
        (
            True,
            do("unsettle_market", market_id=a["id"], **reason),
            do("settle_market", market_id=b["id"], outcome_id=b1),
        ),
        (
            True,
            do("unsettle_market", market_id=b["id"], **reason),
            do("settle_market", market_id=a["id"], outcome_id=a2),
        ),
        (
            False,
            do("resettle_market", market_id=a["id"], outcome_id=a1, **reason),
            do("settle_market", market_id=b["id"], outcome_id=b2),
        ),
        (
            False,
            do("resettle_market", market_id=a["id"], outcome_id=a2, **reason),
            do("resettle_market", market_id=b["id"], outcome_id=b1, **reason),
        ),
        (
            False,
            do("unsettle_market", market_id=a["id"], **reason),
            do("unsettle_market", market_id=b["id"], **reason),
        ),
        (
            False,
            do("void_wager", wager_id=wagers["vic"][0], **reason),
            do("void_wager", wager_id=wagers["vic"][1], **reason),
        ),
    ]
    with ExitStack() as stack:
        first, second = (
            stack.enter_context(Actor(url, admins["boss"], admin=True, name=name))
            for name in ("first", "second")
        )
        for queued, one, other in rounds:
            spend()
            if queued:
                results = queued_behind_the_house(url, (first, one), (second, other))
                answers = [results["first"], results["second"]]
            else:
                answers = all_at_once(2, partial(both, ((one, first), (other, second))))
            assert all(isinstance(answer, dict) for answer in answers), [
                answer if isinstance(answer, dict | str) else refusal(answer) for answer in answers
            ]
            with psycopg.connect(url) as conn:
                assert_invariants(conn)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "select count(*) from app.user_debts") > 0
        assert (
            scalar(
                conn, "select count(*) from app.ledger_transactions where kind = 'debt_repayment'"
            )
            > 0
        )


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_eight_admins_resettle_at_once_and_the_market_is_corrected_once(
    fresh_db: Callable[[], str], kind: str
) -> None:
    url = fresh_db()
    users = make_users(url, ["ana", "ben"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        market = boss.call("create_market", title="Final", outcomes=["x", "y"], kind=kind)
        first, second = outcome_ids(market)
        for name, outcome, amount in (
            ("ana", first, 1000),
            ("ben", second, 600),
            ("ana", second, 50),
        ):
            with Actor(url, users[name]) as bettor:
                bettor.call("place_wager", market_id=market["id"], outcome_id=outcome, stake=amount)
        with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
            service(conn).call("settle_market", market_id=market["id"], outcome_id=second)
            right = {n: balance(conn, u) for n, u in users.items()} | {"house": house(conn)}
        boss.call("settle_market", market_id=market["id"], outcome_id=first)

    with actors(url, 8, admins["boss"], admin=True) as clients:
        outcomes = all_at_once(
            8,
            lambda i: clients[i].call(
                "resettle_market", market_id=market["id"], outcome_id=second, reason=f"admin {i}"
            ),
        )

    assert len([o for o in outcomes if isinstance(o, dict)]) == 1
    assert {refusal(o) for o in outcomes if isinstance(o, psycopg.Error)} == {"invalid_argument"}
    with psycopg.connect(url) as conn:
        now = {n: balance(conn, u) for n, u in users.items()} | {"house": house(conn)}
        assert now == right
        assert scalar(conn, "select count(*) from app.ledger_reversals") == 1
        assert_invariants(conn)
