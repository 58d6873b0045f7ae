"""Races on one wallet with a known result: one user's sixteen wagers against a small balance;
sixteen withdrawals of one user against one balance, then two admins deciding each at once (one
wins, the other is told withdrawal_not_pending); and a credit sent by eight connections at once
with one key (credited once). Withdrawals that wait for an admin and credits are the real-money
profile's (docs/operations.md)."""

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg

from tests.db.actors import SERIALIZATION_FAILURE, Actor, actors, make_users, refusal
from tests.db.concurrent import INITIAL_BALANCE, all_at_once, balance_of
from tests.db.helpers import outcome_ids, scalar
from tests.db.invariants import assert_invariants


def test_one_user_sixteen_wagers_against_a_small_balance(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    users = make_users(url, ["solo"])
    admins = make_users(url, ["boss"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        market = boss.call("create_market", title="Race", outcomes=["a", "b"], kind="parimutuel")
    with Actor(url, users["solo"]) as solo:
        solo.call("withdraw", amount=INITIAL_BALANCE - 1050)
    balance, stake = 1050, 300

    with actors(url, 16, users["solo"]) as clients:
        outcomes = all_at_once(
            16,
            lambda i: clients[i].call(
                "place_wager",
                market_id=market["id"],
                outcome_id=outcome_ids(market)[i % 2],
                stake=stake,
            ),
        )

    placed = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    assert len(placed) == balance // stake
    assert refused == {"insufficient_funds": 16 - balance // stake}
    assert sorted(p["balance"] for p in placed) == [
        balance - stake * n for n in range(balance // stake, 0, -1)
    ]
    with psycopg.connect(url) as conn:
        assert balance_of(conn, users["solo"]) == balance % stake
        assert_invariants(conn)


def test_concurrent_withdrawals_and_decisions_keep_the_books(fresh_db: Callable[[], str]) -> None:
    """Sixteen withdrawals of one user against one balance while approval is on: the wallet never
    goes below zero, exactly the acknowledged ones are pending, each once. Then two admins decide
    each at the same instant (approve/approve, approve/reject, reject/reject): one wins, the
    other is refused with withdrawal_not_pending, never a deadlock. The ledger balances to the
    minor unit and the pending-withdrawals account ends empty."""
    url = fresh_db()
    users = make_users(url, ["solo"])
    admins = make_users(url, ["boss", "second"], admin=True)
    with Actor(url, admins["boss"], admin=True) as boss:
        boss.call("update_settings", settings={"withdrawals_require_approval": True})

    amount = 1500
    with actors(url, 16, users["solo"]) as clients:
        outcomes = all_at_once(
            16, lambda i: clients[i].call("withdraw", amount=amount, idempotency_key=f"w{i}")
        )
    pending = [o for o in outcomes if isinstance(o, dict)]
    refused = Counter(refusal(o) for o in outcomes if isinstance(o, psycopg.Error))
    fits = INITIAL_BALANCE // amount
    assert len(pending) == fits
    assert refused == {"insufficient_funds": 16 - fits}
    assert sorted(p["balance"] for p in pending) == [
        INITIAL_BALANCE - amount * n for n in range(fits, 0, -1)
    ]
    ids = sorted(p["withdrawal_id"] for p in pending)
    with psycopg.connect(url) as conn:
        assert scalar(conn, "select count(*) from app.withdrawals") == fits
        stored = conn.execute("select array_agg(id order by id) from app.withdrawals").fetchone()
        assert stored == (ids,)

    pairs = [("approve", "approve"), ("approve", "reject"), ("reject", "reject")] * 2
    with (
        actors(url, fits, admins["boss"], admin=True) as firsts,
        actors(url, fits, admins["second"], admin=True) as seconds,
    ):

        def decide(i: int) -> Any:
            index, side = divmod(i, 2)
            actor = (firsts, seconds)[side][index]
            how, withdrawal_id = pairs[index][side], ids[index]
            if how == "approve":
                return actor.call("approve_withdrawal", withdrawal_id=withdrawal_id)
            return actor.call("reject_withdrawal", withdrawal_id=withdrawal_id, reason="race")

        decisions = all_at_once(2 * fits, decide)

    final: dict[int, str] = {}
    for index, withdrawal_id in enumerate(ids):
        both = decisions[2 * index : 2 * index + 2]
        won = [d for d in both if isinstance(d, dict)]
        lost = [d for d in both if isinstance(d, psycopg.Error)]
        assert len(won) == 1 and len(lost) == 1, both
        assert refusal(lost[0]) == "withdrawal_not_pending"
        final[withdrawal_id] = won[0]["status"]
    rejected = sum(1 for status in final.values() if status == "rejected")
    approved = fits - rejected
    with psycopg.connect(url) as conn:
        assert dict(conn.execute("select id, status from app.withdrawals").fetchall()) == final
        assert balance_of(conn, users["solo"]) == INITIAL_BALANCE - approved * amount
        assert (
            scalar(conn, "select balance from app.accounts where kind = 'withdrawals_pending'") == 0
        )
        kinds = conn.execute(
            "select kind, count(*) from app.ledger_transactions"
            " where kind like 'withdrawal_%' group by kind order by kind"
        ).fetchall()
        assert kinds == [
            ("withdrawal_approval", approved),
            ("withdrawal_rejection", rejected),
            ("withdrawal_request", fits),
        ]
        assert_invariants(conn)


def test_a_credit_sent_by_eight_connections_at_once_is_credited_once(
    fresh_db: Callable[[], str],
) -> None:
    """A payment integration retrying one credit on eight connections at the same instant: one
    ledger transaction, one log row; every answer is that credit (a retry told 40001 was in
    flight behind the first and may be sent again)."""
    url = fresh_db()
    users = make_users(url, ["payee"])
    with ExitStack() as stack:
        integration = [
            stack.enter_context(Actor(url, None, role="service_role", name=f"psp{i}"))
            for i in range(8)
        ]
        outcomes = all_at_once(
            8,
            lambda i: integration[i].call(
                "credit_wallet",
                user_id=users["payee"],
                amount=4200,
                reference="psp payment 7",
                idempotency_key="psp-7",
            ),
        )
    answers = [o for o in outcomes if isinstance(o, dict)]
    retry = [o for o in outcomes if isinstance(o, psycopg.Error)]
    assert all(refusal(e) == SERIALIZATION_FAILURE for e in retry), retry
    assert [a["replayed"] for a in answers].count(False) == 1
    assert len({a["transaction_id"] for a in answers}) == 1
    with psycopg.connect(url) as conn:
        assert balance_of(conn, users["payee"]) == INITIAL_BALANCE + 4200
        assert (
            scalar(conn, "select count(*) from app.admin_actions where action = 'credit_wallet'")
            == 1
        )
        assert_invariants(conn)
