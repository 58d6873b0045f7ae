"""Corrections, reviews, limits and schedulers keep the books while bets arrive: the mixed run of
issue 5 (twenty connections).

Corrections (settle, unsettle, resettle by two admins at once, void_wager while bets arrive on the
market, a winner who spent the winnings and owes the house), settlement review (four
confirmations and settlements of one proposal at once, a confirmation racing a cancellation), a
daily stake limit tightened while its user's wagers arrive, and two scheduler nodes ticking at
the same instants while a clock passes markets' closes_at. Afterwards every acknowledged call is
there exactly once, every refusal is a catalog key, no deadlock, the invariants hold, and each
wallet, debt, market, proposal, closing and limit is what the acknowledged calls say. The
journal and the bettors' plan are in tests/db/mixed_run.py, the markets and the checks in
tests/db/corrections_run.py.
"""

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psycopg

from tests.db.actors import SERIALIZATION_FAILURE, Actor, make_users
from tests.db.concurrent import WAIT, run_threads
from tests.db.corrections_run import (
    CORRECTED_BETTORS,
    CORRECTED_MARKETS,
    DUE,
    LIM_LIMITS,
    LIM_STAKE,
    check_corrections,
    check_reviews,
    check_scheduled_closing,
    check_stake_limit,
)
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


@dataclass(frozen=True)
class Step:
    """One call of an operator's thread: when (the share of the bettors' calls done), on which
    connection, what; `group` names the barrier it waits at with the other steps of that group,
    so that they are sent at the same instant."""

    share: float
    thread: str
    actor: str
    function: str
    args: dict[str, Any]
    group: str | None = None


def operator_schedule(m: dict[str, dict[str, Any]]) -> list[Step]:
    """What the operators do, and when. `m` maps a market's name to its row."""

    def out(name: str, i: int) -> int:
        return int(m[name]["outcomes"][i]["outcome_id"])

    def on(name: str, i: int) -> dict[str, Any]:
        return {"market_id": m[name]["id"], "outcome_id": out(name, i)}

    return [
        # resettled: settled with o0 (paying deb), deb spends it, then two admins resettle it to
        # o1 at the same instant: one corrects it, the other is told it is the winner already
        Step(0.15, "op1-a", "op1", "settle_market", on("resettled", 0)),
        Step(0.20, "op1-a", "deb", "withdraw everything", {}),
        Step(0.50, "op1-a", "op1", "resettle_market", {**on("resettled", 1), "reason": "r1"}, "R"),
        Step(0.50, "op2-a", "op2", "resettle_market", {**on("resettled", 1), "reason": "r2"}, "R"),
        # unsettled: settled, then unsettled at the instant another market with the same bettors
        # settles, then settled again with another winner
        Step(0.25, "op1-b", "op1", "settle_market", on("unsettled", 0)),
        Step(
            0.35,
            "op1-b",
            "op1",
            "unsettle_market",
            {"market_id": m["unsettled"]["id"], "reason": "wrong"},
            "U",
        ),
        Step(0.35, "op3-a", "op3", "settle_market", on("plain", 1), "U"),
        Step(0.80, "op1-b", "op1", "settle_market", on("unsettled", 2)),
        # voids: wagers voided one by one while bets still arrive on it, then settled
        *(
            Step(share, "op2-b", "op2", "void a wager", {"market": m["voids"]["id"]})
            for share in (0.30, 0.40, 0.50, 0.60, 0.70, 0.80)
        ),
        Step(0.92, "op2-b", "op2", "settle_market", on("voids", 0)),
        # reviewed (requires confirmation): op1 proposes o0; then at once op2 and op3 confirm,
        # op1 confirms his own proposal (same_admin, or already_settled once it is) and op3
        # settles directly (refused by the gate, or already_settled)
        Step(0.45, "op1-a", "op1", "propose_settlement", on("reviewed", 0)),
        Step(0.55, "op1-a", "op1", "confirm_settlement", {"market_id": m["reviewed"]["id"]}, "C"),
        Step(0.55, "op2-a", "op2", "confirm_settlement", {"market_id": m["reviewed"]["id"]}, "C"),
        Step(0.55, "op3-a", "op3", "confirm_settlement", {"market_id": m["reviewed"]["id"]}, "C"),
        Step(0.55, "op3-b", "op3", "settle_market", on("reviewed", 1), "C"),
        # cancelled: op1 proposes o1; op2 confirms it at the instant op3 cancels it; op3 then
        # proposes o1 again and op2 confirms (both refused when the confirmation won)
        Step(0.45, "op1-b", "op1", "propose_settlement", on("cancelled", 1)),
        Step(0.60, "op2-b", "op2", "confirm_settlement", {"market_id": m["cancelled"]["id"]}, "X"),
        Step(
            0.60,
            "op3-b",
            "op3",
            "cancel_settlement_proposal",
            {"market_id": m["cancelled"]["id"], "reason": "check again"},
            "X",
        ),
        Step(0.70, "op3-b", "op3", "propose_settlement", on("cancelled", 1)),
        Step(0.85, "op2-b", "op2", "confirm_settlement", {"market_id": m["cancelled"]["id"]}),
        # the clock: each due market's closes_at passes (as the superuser)
        *(
            Step(share, "clock", "superuser", "closes_at passes", {"market": m[name]["id"]})
            for share, name in zip((0.30, 0.50, 0.70), DUE, strict=True)
        ),
        # lim tightens his limit while his wagers arrive, later asks to loosen it (pending)
        Step(0.40, "lim-limits", "lim", "set_daily_stake_limit", {"amount": LIM_LIMITS[1]}),
        Step(0.70, "lim-limits", "lim", "set_daily_stake_limit", {"amount": LIM_LIMITS[2]}),
    ]


def lim_plan(rng: random.Random, markets: list[dict[str, Any]], size: int) -> list[Op]:
    return [
        Op(
            "a" if i % 2 else "b",
            "place_wager",
            {
                "market_id": (market := rng.choice(markets))["id"],
                "outcome_id": rng.choice(outcome_ids(market)),
                "stake": LIM_STAKE,
            },
        )
        for i in range(size)
    ]


def test_corrections_reviews_limits_and_schedulers_keep_the_books_while_bets_arrive(
    fresh_db: Callable[[], str],
) -> None:
    """Twenty threads: eight bettor threads (four users) and two of lim placing wagers,
    deposits and withdrawals (keys re-sent, some by two connections at once); six operator
    connections settling, unsettling, resettling (two at once), voiding wagers, proposing,
    confirming (four at once, with the proposer and a direct settlement refused) and cancelling
    (at the instant of a confirmation); lim's limit tightened while his wagers arrive; a clock
    passing three markets' closes_at and two scheduler nodes ticking at the same instants. Every
    acknowledged call is there exactly once, every refusal is a catalog key, no deadlock, the
    books balance, each wallet is what the acknowledged calls say (debts included), each market
    ends where the operators took it, each due market closed exactly once, and no wager of lim
    passed the limit it could see."""
    url = fresh_db()
    rng = random.Random(SEED + 5)
    bettors = make_users(url, [*CORRECTED_BETTORS, "lim", "deb"])
    admins = make_users(url, ["op1", "op2", "op3"], admin=True)
    journal = Journal(bettor_steps=0)
    with Actor(url, admins["op1"], admin=True, name="setup") as op1:
        markets = [
            op1.call(
                "create_market",
                title=name,
                outcomes=[f"o{i}" for i in range(n)],
                kind=kind,
                options=options,
            )
            for name, kind, n, options in CORRECTED_MARKETS
        ]
        by_name = {m["title"]: m for m in markets}
        op1.call(
            "require_settlement_confirmation", market_id=by_name["reviewed"]["id"], required=True
        )
    for name in [*CORRECTED_BETTORS, "lim"]:
        with Actor(url, bettors[name], name=name) as client:
            assert journal.attempt(client, "deposit", amount=20000, idempotency_key="setup")
    with Actor(url, bettors["lim"], name="lim") as lim:
        lim.call("set_daily_stake_limit", amount=LIM_LIMITS[0])
    with Actor(url, bettors["deb"], name="deb") as deb:
        resettled = by_name["resettled"]
        assert journal.attempt(
            deb,
            "place_wager",
            market_id=resettled["id"],
            outcome_id=outcome_ids(resettled)[0],
            stake=1000,
        )

    pair_users = list(CORRECTED_BETTORS)
    plans = [bettor_plan(rng, pair, markets, OPS_PER_PAIR) for pair in range(len(pair_users))]
    takers = [by_name[n] for n in ("open", "voids", "plain", "due 1", "resettled")]
    plans.append(lim_plan(rng, takers, 40))
    pair_users.append("lim")
    total_steps = sum(2 if op.who == "both" else 1 for plan in plans for op in plan)
    journal.bettor_steps = total_steps
    schedule = operator_schedule(by_name)
    groups = Counter(step.group for step in schedule if step.group)
    barriers = {name: threading.Barrier(count, timeout=WAIT) for name, count in groups.items()}
    threads = sorted({step.thread for step in schedule})
    bettors_done = threading.Event()
    operators_done = threading.Event()
    ticks: list[tuple[str, dict[str, Any]]] = []
    start = threading.Barrier(len(pair_users) * 2 + len(threads) + 2, timeout=WAIT)

    with ExitStack() as stack:

        def connect(user: uuid.UUID, name: str, *, admin: bool = False) -> Actor:
            return stack.enter_context(Actor(url, user, admin=admin, name=name))

        superuser = stack.enter_context(psycopg.connect(url, autocommit=True))

        def operator(thread: str) -> Callable[[], None]:
            mine = sorted((s for s in schedule if s.thread == thread), key=lambda s: s.share)
            actors_here = {
                s.actor: connect(
                    bettors[s.actor] if s.actor in bettors else admins[s.actor],
                    f"{thread}/{s.actor}",
                    admin=s.actor in admins,
                )
                for s in mine
                if s.actor != "superuser"
            }
            choices = random.Random(f"{SEED}-{thread}")

            def run() -> None:
                start.wait()
                try:
                    for step in mine:
                        journal.wait_for(int(step.share * total_steps))
                        if step.group:
                            barriers[step.group].wait()
                        actor = actors_here.get(step.actor)
                        if step.function == "closes_at passes":
                            superuser.execute(
                                "update app.markets set closes_at = now() - interval '1 second'"
                                " where id = %s",
                                [step.args["market"]],
                            )
                        elif step.function == "withdraw everything":
                            assert actor is not None
                            wallet = actor.call("get_wallet")
                            journal.attempt(
                                actor,
                                "withdraw",
                                amount=wallet["balance"],
                                idempotency_key="spends it all",
                            )
                        elif step.function == "void a wager":
                            assert actor is not None
                            with journal.lock:
                                placed = [
                                    a.result["wager_id"]
                                    for a in journal.answers("place_wager")
                                    if a.args["market_id"] == step.args["market"]
                                ]
                            if placed:
                                journal.attempt(
                                    actor,
                                    "void_wager",
                                    wager_id=choices.choice(placed),
                                    reason="palpable error",
                                )
                        else:
                            assert actor is not None
                            journal.attempt(actor, step.function, **step.args)
                except BaseException:
                    for barrier in barriers.values():
                        barrier.abort()
                    raise

            return run

        def scheduler(node: str, together: threading.Barrier) -> Callable[[], None]:
            conn = stack.enter_context(psycopg.connect(url, autocommit=True))

            def run() -> None:
                start.wait()
                try:
                    while not (bettors_done.is_set() and operators_done.is_set()):
                        together.wait()
                        row = conn.execute("select app.scheduler_tick()").fetchone()
                        assert row is not None
                        with journal.lock:
                            ticks.append((node, row[0]))
                        time.sleep(0.002)
                except threading.BrokenBarrierError:
                    pass  # the other node saw the end first

            return run

        def bettor(
            actor: Actor, plan: list[Op], me: str, pair: threading.Barrier
        ) -> Callable[[], None]:
            return bettor_thread(journal, start, actor, plan, me, pair)

        bettor_targets: list[Callable[[], None]] = []
        for pair, (user, plan) in enumerate(zip(pair_users, plans, strict=True)):
            pair_barrier = threading.Barrier(2, timeout=WAIT)
            for me in ("a", "b"):
                actor = connect(bettors[user], f"{user}/{pair}{me}")
                bettor_targets.append(bettor(actor, plan, me, pair_barrier))
        operator_targets = [operator(thread) for thread in threads]
        together = threading.Barrier(2, timeout=WAIT)
        scheduler_targets = [scheduler(node, together) for node in ("node-1", "node-2")]

        def all_then(
            targets: list[Callable[[], None]], done: threading.Event
        ) -> Callable[[], None]:
            def run() -> None:
                try:
                    run_threads(targets)
                finally:
                    done.set()
                    if done is bettors_done:
                        with journal.lock:
                            journal.steps = total_steps
                            journal.lock.notify_all()
                    if bettors_done.is_set() and operators_done.is_set():
                        together.abort()

            return run

        run_threads(
            [
                all_then(bettor_targets, bettors_done),
                all_then(operator_targets, operators_done),
                *scheduler_targets,
            ]
        )
        # whatever a scheduler had to leave (a market locked by a wager at that instant) the
        # next rounds close
        for _ in range(20):
            row = superuser.execute("select app.scheduler_tick()").fetchone()
            assert row is not None
            ticks.append(("node-1", row[0]))
            if not row[0]["closed"]:
                break

    assert not journal.deadlocks, journal.deadlocks
    assert not journal.unexpected, journal.unexpected
    assert journal.refusals[SERIALIZATION_FAILURE] == 0, journal.refusals
    assert len(journal.acks) + sum(journal.refusals.values()) >= total_steps

    with psycopg.connect(url) as conn:
        assert_invariants(conn)
        check_wagers(conn, journal)
        check_transfers(conn, journal)
        check_balances(conn, journal, bettors)
        check_corrections(conn, journal, by_name, bettors)
        check_reviews(conn, journal, by_name, admins)
        check_scheduled_closing(conn, ticks, by_name)
        check_stake_limit(conn, journal, bettors["lim"])
