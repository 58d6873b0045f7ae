"""Races of settlement with a known result: sixteen admins settling one market (once), two
settlements sharing a bettor (the global lock order: no deadlock), two confirmations of one
proposal (settled once, each bettor paid what the proposal showed), concurrent proposals (one
left pending), and concurrent confirmations and direct settlements of a market that requires
confirmation (one confirmation settles it, a direct settlement never)."""

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, actors, make_users, refusal
from tests.db.concurrent import WAIT, all_at_once, balance_of, wait_until_blocked
from tests.db.helpers import RECORD, outcome_ids, scalar
from tests.db.invariants import assert_invariants


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_sixteen_admins_settle_one_market_once(fresh_db: Callable[[], str], kind: str) -> None:
    url = fresh_db()
    users = make_users(url, ["ana", "ben", "cleo"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        market = boss.call("create_market", title="Final", outcomes=["x", "y"], kind=kind)
    first, second = outcome_ids(market)
    bets = [("ana", first, 1000), ("ana", second, 500), ("ben", first, 700), ("cleo", second, 900)]
    placed: list[tuple[str, dict[str, Any]]] = []
    for name, outcome, stake in bets:
        with Actor(url, users[name]) as bettor:
            placed.append(
                (
                    name,
                    bettor.call(
                        "place_wager", market_id=market["id"], outcome_id=outcome, stake=stake
                    ),
                )
            )
    with psycopg.connect(url) as conn:
        before = {name: balance_of(conn, user) for name, user in users.items()}

    with actors(url, 16, admins["boss"], admin=True) as clients:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call("settle_market", market_id=market["id"], outcome_id=first),
        )

    settled = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    assert len(settled) == 1
    assert set(refused) <= {"already_settled", "invalid_market_state"}
    assert sum(refused.values()) == 15

    total = sum(stake for _, _, stake in bets)
    winning = sum(stake for _, outcome, stake in bets if outcome == first)
    net = total - total * 500 // 10000 if kind == "parimutuel" else total
    payouts: Counter[str] = Counter()
    for name, wager in placed:
        if wager["outcome_id"] == first:
            payouts[name] += (
                wager["potential_payout"]
                if kind == "fixed_odds"
                else wager["stake"] * net // winning
            )
    assert settled[0]["total_paid"] == sum(payouts.values())
    with psycopg.connect(url) as conn:
        after = {name: balance_of(conn, user) for name, user in users.items()}
        assert after == {name: before[name] + payouts[name] for name in users}
        (count,) = conn.execute(
            "select count(*) from app.ledger_transactions where kind = 'settlement'"
            " and market_id = %s",
            [market["id"]],
        ).fetchone() or (0,)
        assert count == 1
        assert_invariants(conn)


def test_two_settlements_sharing_a_bettor_do_not_deadlock(fresh_db: Callable[[], str]) -> None:
    """Two markets settle at once; the bettor has a winning wager in one and a pending wager
    (refunded at settlement) in the other. A third transaction holds the house account (as a
    settlement of a third market would) so that both settlements queue behind it, the one
    without refunds first. With every lock taken in the global order (market, then accounts by
    id) both settle; taking the bettor's wallet (refund) before the house account (payout)
    deadlocks."""
    url = fresh_db()
    users = make_users(url, ["shared", "other"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        held = boss.call(
            "create_market",
            title="Held",
            outcomes=["a", "b"],
            kind="parimutuel",
            options={"requires_approval": True},
        )
        plain = boss.call("create_market", title="Plain", outcomes=["a", "b"], kind="parimutuel")
        with Actor(url, users["shared"]) as shared, Actor(url, users["other"]) as other:
            shared.call(
                "place_wager", market_id=plain["id"], outcome_id=outcome_ids(plain)[0], stake=1000
            )
            other.call(
                "place_wager", market_id=plain["id"], outcome_id=outcome_ids(plain)[1], stake=1000
            )
            accepted = other.call(
                "place_wager", market_id=held["id"], outcome_id=outcome_ids(held)[1], stake=500
            )
            shared.call(
                "place_wager", market_id=held["id"], outcome_id=outcome_ids(held)[0], stake=700
            )
        boss.call("approve_wager", wager_id=accepted["wager_id"])

    with (
        psycopg.connect(url) as house,
        psycopg.connect(url, autocommit=True) as watcher,
        Actor(url, admins["boss"], admin=True, name="settle plain") as first,
        Actor(url, admins["boss"], admin=True, name="settle held") as second,
    ):
        house.execute("select 1 from app.accounts where kind = 'house' for update")
        results: dict[str, Any] = {}

        def settle(actor: Actor, market: dict[str, Any], winner: int) -> Callable[[], None]:
            def run() -> None:
                try:
                    results[actor.name] = actor.call(
                        "settle_market",
                        market_id=market["id"],
                        outcome_id=outcome_ids(market)[winner],
                    )
                except psycopg.Error as error:
                    results[actor.name] = refusal(error)

            return run

        threads = [
            threading.Thread(target=settle(first, plain, 0), daemon=True),
            threading.Thread(target=settle(second, held, 1), daemon=True),
        ]
        threads[0].start()
        wait_until_blocked(watcher, first)
        threads[1].start()
        wait_until_blocked(watcher, second)
        house.commit()
        for thread in threads:
            thread.join(timeout=WAIT)

    assert {name: r if isinstance(r, str) else "settled" for name, r in results.items()} == {
        "settle plain": "settled",
        "settle held": "settled",
    }
    with psycopg.connect(url) as conn:
        assert_invariants(conn)


def confirm(clients: list[Actor], market_id: int, named: tuple[int | None, ...], i: int) -> Any:
    """Client i confirms the market's pending proposal, naming it when named[i] is an id."""
    return clients[i].call("confirm_settlement", market_id=market_id, proposal_id=named[i])


def test_two_confirmations_of_one_proposal_settle_once(fresh_db: Callable[[], str]) -> None:
    """On four markets (both kinds, requiring confirmation or not), admin1 proposes; then admin2
    and admin3 confirm at the same instant (admin3 naming the proposal). One confirmation settles
    the market, once; the other finds it settled. Each bettor is paid what the proposal showed,
    once."""
    url = fresh_db()
    users = make_users(url, ["pia", "quin"])
    admins = make_users(url, ["admin1", "admin2", "admin3"], admin=True)
    with ExitStack() as stack:
        proposer = stack.enter_context(Actor(url, admins["admin1"], admin=True, name="admin1"))
        clients = [
            stack.enter_context(Actor(url, admins[name], admin=True, name=name))
            for name in ("admin2", "admin3")
        ]
        bettors = {n: stack.enter_context(Actor(url, users[n], name=n)) for n in users}
        for kind in ("fixed_odds", "parimutuel"):
            for required in (False, True):
                market = proposer.call(
                    "create_market", title=f"{kind} {required}", outcomes=["h", "a"], kind=kind
                )
                h, away = outcome_ids(market)
                if required:
                    proposer.call(
                        "require_settlement_confirmation", market_id=market["id"], required=True
                    )
                bettors["pia"].call("place_wager", market_id=market["id"], outcome_id=h, stake=700)
                bettors["quin"].call(
                    "place_wager", market_id=market["id"], outcome_id=away, stake=1100
                )
                with psycopg.connect(url) as conn:
                    before = {n: balance_of(conn, u) for n, u in users.items()}
                proposal = proposer.call("propose_settlement", market_id=market["id"], outcome_id=h)
                paid: Counter[str] = Counter()
                for row in proposal["preview"]["wagers"]:
                    paid[row["username"]] += row["payout"]

                outcomes = all_at_once(
                    2, partial(confirm, clients, market["id"], (None, proposal["id"]))
                )

                settled = [o for o in outcomes if isinstance(o, dict)]
                assert len(settled) == 1
                assert settled[0]["matches_proposal"] is True
                confirmer = admins[("admin2", "admin3")[outcomes.index(settled[0])]]
                assert [refusal(o) for o in outcomes if isinstance(o, psycopg.Error)] == [
                    "already_settled"
                ]
                with psycopg.connect(url) as conn:
                    after = {n: balance_of(conn, u) for n, u in users.items()}
                    assert after == {n: before[n] + paid[n] for n in users}
                    assert conn.execute(
                        """select status, decided_by from app.settlement_proposals
                           where market_id = %s""",
                        [market["id"]],
                    ).fetchall() == [("confirmed", confirmer)]
                    assert (
                        scalar(
                            conn,
                            "select count(*) from app.ledger_transactions"
                            " where kind = 'settlement' and market_id = %s",
                            [market["id"]],
                        )
                        == 1
                    )
                    assert_invariants(conn)


def test_concurrent_proposals_leave_exactly_one_pending(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    url, users = committed
    admins = [users["admin1"], users["admin2"], users["admin3"]]
    with ExitStack() as stack:
        actors = [
            stack.enter_context(Actor(url, admins[i % 3], admin=True, name=f"a{i}"))
            for i in range(9)
        ]
        market = actors[0].call("create_market", title="M", outcomes=["A", "B", "C"])
        outcomes = [o["outcome_id"] for o in market["outcomes"]]

        results = all_at_once(
            9,
            lambda i: actors[i].call(
                "propose_settlement", market_id=market["id"], outcome_id=outcomes[i % 3]
            ),
        )

        made = [r for r in results if isinstance(r, dict)]
        assert len(made) == 1
        assert Counter(refusal(r) for r in results if not isinstance(r, dict)) == {
            "proposal_exists": 8
        }
        with psycopg.connect(url) as conn:
            assert conn.execute(
                "select id, status from app.settlement_proposals where market_id = %s",
                [market["id"]],
            ).fetchall() == [(made[0]["id"], "pending")]


def test_concurrent_confirmations_settle_once_and_direct_settlements_never(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    """admin1 proposes; then at once eight connections of admin2 and admin3 confirm, two of
    admin1 (the proposer) confirm, and four call settle_market directly. Exactly one
    confirmation settles; the ledger balances and each bettor is paid once."""
    url, users = committed
    with ExitStack() as stack:
        proposer = stack.enter_context(Actor(url, users["admin1"], admin=True))
        bettors = [stack.enter_context(Actor(url, users[n])) for n in ("bettor1", "bettor2")]
        market = proposer.call("create_market", title="M", outcomes=["A", "B"], kind="parimutuel")
        a, b = (o["outcome_id"] for o in market["outcomes"])
        proposer.call("require_settlement_confirmation", market_id=market["id"], required=True)
        bettors[0].call("place_wager", market_id=market["id"], outcome_id=a, stake=1234)
        bettors[1].call("place_wager", market_id=market["id"], outcome_id=b, stake=3333)
        preview = proposer.call("propose_settlement", market_id=market["id"], outcome_id=a)[
            "preview"
        ]

        plan: list[tuple[uuid.UUID, str]] = (
            [(users["admin2"], "confirm")] * 4
            + [(users["admin3"], "confirm")] * 4
            + [(users["admin1"], "confirm")] * 2
            + [(users["admin2"], "settle")] * 2
            + [(users["admin3"], "settle")] * 2
        )
        actors = [
            stack.enter_context(Actor(url, who, admin=True, name=f"{what}{i}"))
            for i, (who, what) in enumerate(plan)
        ]

        def call(i: int) -> Any:
            if plan[i][1] == "confirm":
                return actors[i].call("confirm_settlement", market_id=market["id"])
            return actors[i].call("settle_market", market_id=market["id"], outcome_id=b)

        results = all_at_once(len(plan), call)

        settled = [(plan[i], r) for i, r in enumerate(results) if isinstance(r, dict)]
        assert len(settled) == 1
        (who, what), result = settled[0]
        assert what == "confirm" and who != users["admin1"]
        assert {k: result[k] for k in RECORD} == {k: preview[k] for k in RECORD}
        refused = Counter(
            (plan[i][1], refusal(r)) for i, r in enumerate(results) if not isinstance(r, dict)
        )
        assert set(refused) <= {
            ("confirm", "already_settled"),
            ("confirm", "same_admin"),
            ("settle", "already_settled"),
            ("settle", "settlement_needs_confirmation"),
        }
        assert sum(refused.values()) == len(plan) - 1

        with psycopg.connect(url) as conn:
            assert_invariants(conn)
            assert conn.execute(
                "select status, decided_by from app.settlement_proposals where market_id = %s",
                [market["id"]],
            ).fetchall() == [("confirmed", who)]
            assert conn.execute(
                """select user_id, balance from app.accounts
                   where user_id = any(%s) order by balance""",
                [[users["bettor1"], users["bettor2"]]],
            ).fetchall() == [
                (users["bettor2"], 10000 - 3333),
                (users["bettor1"], 10000 - 1234 + preview["total_paid"]),
            ]
