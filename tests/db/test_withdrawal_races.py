"""Withdrawals that wait for an admin, under concurrency: each on its own connection, every call a
committed transaction (tests/db/actors.py), released together by a barrier.

- Many withdrawals of one user against one balance: the wallet never goes below zero, exactly
  the acknowledged ones are pending, each once, the refusals are insufficient_funds.
- Concurrent decisions on each of those withdrawals (approve/approve, approve/reject,
  reject/reject): one wins, the other is refused with withdrawal_not_pending, never a deadlock.
- Credits sent twice at once with the same key (a payment integration retrying): credited once.
Afterwards the ledger balances to the minor unit, the pending-withdrawals account holds exactly
the pending ones, and every wallet is what the acknowledged calls say.
"""

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg

from tests.db.actors import Actor, refusal
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user

WAIT = 30.0  # seconds a thread waits for the others at the barrier before the test gives up
INITIAL_BALANCE = 10000


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Every call in its own thread, released together; each slot the answer or the error."""
    barrier = threading.Barrier(len(calls), timeout=WAIT)
    outcomes: list[Any] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            try:
                outcomes[i] = calls[i]()
            except psycopg.Error as error:
                outcomes[i] = error
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a client thread hung"
    if failures:
        raise failures[0]
    return outcomes


@contextmanager
def connections(
    url: str, count: int, user_id: uuid.UUID | None, **kind: Any
) -> Iterator[list[Actor]]:
    with ExitStack() as stack:
        yield [stack.enter_context(Actor(url, user_id, **kind)) for _ in range(count)]


def one_value(url: str, query: str, params: list[Any] | None = None) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params or []).fetchone()
        assert row is not None
        return row[0]


def test_concurrent_withdrawals_and_decisions_keep_the_books(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    with psycopg.connect(url) as conn:
        solo = create_user(conn, "solo")
        boss, second = (create_user(conn, name, admin=True) for name in ("boss", "second"))
        conn.commit()
    with Actor(url, boss, admin=True) as admin:
        admin.call("update_settings", settings={"withdrawals_require_approval": True})

    # sixteen withdrawals of 1,500 against 10,000: six fit
    amount = 1500
    with connections(url, 16, solo) as clients:
        outcomes = all_at_once(
            [
                lambda c=c, i=i: c.call("withdraw", amount=amount, idempotency_key=f"w{i}")
                for i, c in enumerate(clients)
            ]
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
    assert len(set(ids)) == fits
    assert one_value(url, "select array_agg(id order by id) from app.withdrawals") == ids

    # two decisions at once on each: approve/approve, approve/reject, reject/reject
    pairs = [("approve", "approve"), ("approve", "reject"), ("reject", "reject")] * 2

    def decide(actor: Actor, how: str, withdrawal_id: int) -> Any:
        if how == "approve":
            return actor.call("approve_withdrawal", withdrawal_id=withdrawal_id)
        return actor.call("reject_withdrawal", withdrawal_id=withdrawal_id, reason="race")

    with (
        connections(url, len(ids), boss, admin=True) as firsts,
        connections(url, len(ids), second, admin=True) as seconds,
    ):
        calls: list[Callable[[], Any]] = []
        for (first_how, second_how), withdrawal_id, a, b in zip(
            pairs, ids, firsts, seconds, strict=True
        ):
            calls.append(lambda a=a, h=first_how, w=withdrawal_id: decide(a, h, w))
            calls.append(lambda b=b, h=second_how, w=withdrawal_id: decide(b, h, w))
        decisions = all_at_once(calls)

    final: dict[int, str] = {}
    for index, withdrawal_id in enumerate(ids):
        both = decisions[2 * index : 2 * index + 2]
        won = [d for d in both if isinstance(d, dict)]
        lost = [d for d in both if isinstance(d, psycopg.Error)]
        assert len(won) == 1 and len(lost) == 1, both
        assert refusal(lost[0]) == "withdrawal_not_pending"
        final[withdrawal_id] = won[0]["status"]
    with psycopg.connect(url) as conn:
        shown = dict(conn.execute("select id, status from app.withdrawals").fetchall())
    assert shown == final
    rejected = sum(1 for status in final.values() if status == "rejected")
    approved = fits - rejected
    assert approved >= 2 and rejected >= 2  # approve/approve and reject/reject pairs decide alike

    with psycopg.connect(url) as conn:
        wallet = conn.execute(
            "select balance from app.accounts where user_id = %s", [solo]
        ).fetchone()
        assert wallet == (INITIAL_BALANCE - approved * amount,)
        held = conn.execute(
            "select balance from app.accounts where kind = 'withdrawals_pending'"
        ).fetchone()
        assert held == (0,)
        decided = conn.execute(
            "select kind, count(*) from app.ledger_transactions"
            " where kind like 'withdrawal_%' group by kind order by kind"
        ).fetchall()
        assert decided == [
            ("withdrawal_approval", approved),
            ("withdrawal_rejection", rejected),
            ("withdrawal_request", fits),
        ]
        assert_invariants(conn)


def test_a_credit_sent_twice_at_once_is_credited_once(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    with psycopg.connect(url) as conn:
        payee = create_user(conn, "payee")
        conn.commit()
    with connections(url, 8, None, role="service_role") as integration:
        outcomes = all_at_once(
            [
                lambda c=c: c.call(
                    "credit_wallet",
                    user_id=payee,
                    amount=4200,
                    reference="psp payment 7",
                    idempotency_key="psp-7",
                )
                for c in integration
            ]
        )
    # a retry that met the first call in flight is told to retry (40001) or gets its answer
    answers = [o for o in outcomes if isinstance(o, dict)]
    retry = [o for o in outcomes if isinstance(o, psycopg.Error)]
    assert all(refusal(e) == "40001" for e in retry), retry
    assert [a["replayed"] for a in answers].count(False) == 1
    assert len({a["transaction_id"] for a in answers}) == 1
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select balance from app.accounts where user_id = %s", [payee]
        ).fetchone() == (INITIAL_BALANCE + 4200,)
        assert conn.execute(
            "select count(*) from app.admin_actions where action = 'credit_wallet'"
        ).fetchone() == (1,)
        assert_invariants(conn)
