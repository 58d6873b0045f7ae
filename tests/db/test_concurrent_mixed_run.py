"""Many clients at once, each on its own connection, every call a committed transaction, keep the
books.

The mixed run: 18 connections (14 bettor threads acting as 5 users, two approvers acting as one
admin, two lifecycle admins) work through a seeded plan on 8 shared markets of both kinds, some of
them holding wagers for approval: wagers with and without expected odds (some stale), deposits and
withdrawals, idempotency keys re-sent by two connections at the same instant and replayed later,
approvals and rejections, and markets closed, settled and voided while bets still arrive. Every
answer is recorded; afterwards the ledger must balance to the minor unit and every acknowledged
wager, deposit and withdrawal must be there exactly once, and nothing else. The journal, the plan
and the checks it shares with the run of issue 5 are in tests/db/mixed_run.py.
"""

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg

from tests.db.actors import Actor, make_users
from tests.db.concurrent import WAIT, run_threads
from tests.db.helpers import outcome_ids
from tests.db.invariants import assert_invariants
from tests.db.mixed_run import (
    OPS_PER_PAIR,
    SEED,
    Journal,
    Op,
    bettor_plan,
    bettor_thread,
    check_balances,
    check_transfers,
    check_wagers,
)
from tests.pgserver import Connection

MARKETS: list[tuple[str, str, int, dict[str, Any]]] = [
    # name, kind, outcomes, options
    ("fixed open", "fixed_odds", 3, {"margin": 2000, "min_cap": 500}),
    ("fixed held", "fixed_odds", 2, {"requires_approval": True, "margin": 20000}),
    ("pari open", "parimutuel", 3, {"rake_bps": 500}),
    ("pari held", "parimutuel", 2, {"requires_approval": True, "rake_bps": 250}),
    ("pari settled", "parimutuel", 4, {"rake_bps": 700}),
    ("fixed voided", "fixed_odds", 2, {"min_cap": 2000}),
    ("fixed closed", "fixed_odds", 3, {"requires_approval": True, "margin": 10000}),
    ("pari voided", "parimutuel", 3, {"requires_approval": True}),
]


BETTOR_USERS = ["alice", "bruno", "chen", "dana", "eve"]
# the user of each pair of bettor threads: alice and chen on four connections each; dana and eve
# start without a wallet, so two connections race to create it
PAIR_USERS = ["alice", "alice", "bruno", "chen", "chen", "dana", "eve"]


def test_many_clients_at_once_keep_the_books(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    rng = random.Random(SEED)
    bettors = make_users(url, BETTOR_USERS)
    admins = make_users(url, ["approver", "operator"], admin=True)

    with Actor(url, admins["operator"], admin=True) as operator:
        markets = [
            operator.call(
                "create_market",
                title=name,
                outcomes=[f"o{i}" for i in range(n)],
                kind=kind,
                options=options,
            )
            for name, kind, n, options in MARKETS
        ]
    plans = [bettor_plan(rng, pair, markets, OPS_PER_PAIR) for pair in range(len(PAIR_USERS))]
    total_steps = sum(2 if op.who == "both" else 1 for plan in plans for op in plan)
    journal = Journal(bettor_steps=total_steps)
    bettors_done = threading.Event()
    for name in ["alice", "bruno", "chen"]:
        with Actor(url, bettors[name]) as client:
            assert journal.attempt(client, "deposit", amount=20000, idempotency_key="setup")
    by_name = {m["title"]: m for m in markets}

    def winner(name: str) -> dict[str, Any]:
        market = by_name[name]
        return {"market_id": market["id"], "outcome_id": rng.choice(outcome_ids(market))}

    fixed_closed = winner("fixed closed")
    # (share of the bettors' calls done, call, arguments, settle at once with the other operator)
    schedule = {
        "operator-1": [
            (0.20, "close_market", {"market_id": by_name["fixed closed"]["id"]}, False),
            (
                0.40,
                "void_market",
                {"market_id": by_name["pari voided"]["id"], "reason": "rain"},
                False,
            ),
            (0.50, "settle_market", winner("pari settled"), True),
            (0.85, "settle_market", fixed_closed, True),
        ],
        "operator-2": [
            (0.50, "settle_market", winner("fixed held"), True),
            (
                0.60,
                "void_market",
                {"market_id": by_name["fixed held"]["id"], "reason": "late"},
                False,
            ),
            (
                0.70,
                "void_market",
                {"market_id": by_name["fixed voided"]["id"], "reason": "off"},
                False,
            ),
            (0.85, "settle_market", fixed_closed, True),
        ],
    }
    settle_together = threading.Barrier(2, timeout=WAIT)
    start = threading.Barrier(len(PAIR_USERS) * 2 + 4, timeout=WAIT)

    with ExitStack() as stack:

        def connect(user: uuid.UUID, name: str, *, admin: bool = False) -> Actor:
            return stack.enter_context(Actor(url, user, admin=admin, name=name))

        def bettor(
            actor: Actor, plan: list[Op], me: str, pair: threading.Barrier
        ) -> Callable[[], None]:
            return bettor_thread(journal, start, actor, plan, me, pair)

        def approver(actor: Actor, seed: int) -> Callable[[], None]:
            choices = random.Random(seed)

            def run() -> None:
                start.wait()
                decisions = 0
                while decisions < 40:
                    wager_id = journal.take_pending(choices)
                    if wager_id is None:
                        if bettors_done.is_set():
                            return
                        time.sleep(0.003)
                        continue
                    decisions += 1
                    if choices.random() < 0.7:
                        journal.attempt(actor, "approve_wager", wager_id=wager_id)
                    else:
                        journal.attempt(actor, "reject_wager", wager_id=wager_id, reason="no")

            return run

        def lifecycle(
            actor: Actor, steps: list[tuple[float, str, dict[str, Any], bool]]
        ) -> Callable[[], None]:
            def run() -> None:
                start.wait()
                try:
                    for share, function, args, together in steps:
                        journal.wait_for(int(share * total_steps))
                        if together:
                            settle_together.wait()
                        journal.attempt(actor, function, **args)
                except BaseException:
                    settle_together.abort()
                    raise

            return run

        targets: list[Callable[[], None]] = []
        for pair, (user, plan) in enumerate(zip(PAIR_USERS, plans, strict=True)):
            pair_barrier = threading.Barrier(2, timeout=WAIT)
            for me in ("a", "b"):
                actor = connect(bettors[user], f"{user}/{pair}{me}")
                targets.append(bettor(actor, plan, me, pair_barrier))
        for i in range(2):
            targets.append(
                approver(connect(admins["approver"], f"approver-{i}", admin=True), SEED + i)
            )
        for name, steps in schedule.items():
            targets.append(lifecycle(connect(admins["operator"], name, admin=True), steps))

        bettor_targets = targets[: len(PAIR_USERS) * 2]
        other_targets = targets[len(PAIR_USERS) * 2 :]

        def bettors_then_done() -> None:
            try:
                run_threads(bettor_targets)
            finally:
                bettors_done.set()
                with journal.lock:
                    journal.steps = total_steps
                    journal.lock.notify_all()

        run_threads([bettors_then_done, *other_targets])

    assert len(journal.acks) + sum(journal.refusals.values()) >= 300
    assert not journal.deadlocks, journal.deadlocks
    assert not journal.unexpected, journal.unexpected
    assert journal.answers("place_wager"), journal.refusals

    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        check_wagers(conn, journal)
        check_transfers(conn, journal)
        check_lifecycle(conn, journal, by_name)
        check_balances(conn, journal, bettors)


def check_lifecycle(conn: Connection, journal: Journal, by_name: dict[str, dict[str, Any]]) -> None:
    """Each market ended where the operators took it, each settled or voided exactly once."""
    status: dict[str, str] = dict(conn.execute("select title, status from app.markets").fetchall())
    assert status == {
        "fixed open": "open",
        "fixed held": "settled",
        "pari open": "open",
        "pari held": "open",
        "pari settled": "settled",
        "fixed voided": "void",
        "fixed closed": "settled",
        "pari voided": "void",
    }
    settled = Counter(a.args["market_id"] for a in journal.answers("settle_market"))
    assert settled == {
        by_name[name]["id"]: 1 for name in ("fixed held", "pari settled", "fixed closed")
    }
    ledger = Counter(
        market_id
        for (market_id,) in conn.execute(
            "select market_id from app.ledger_transactions where kind in ('settlement', 'void')"
        ).fetchall()
    )
    assert all(count == 1 for count in ledger.values()), ledger
    assert journal.refusals["already_settled"] >= 2  # the settle race and the late void
