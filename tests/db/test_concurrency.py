"""Many clients at once, each on its own connection, every call a committed transaction.

The mixed run: 18 connections (14 bettor threads acting as 5 users, two approvers acting as one
admin, two lifecycle admins) work through a seeded plan on 8 shared markets of both kinds, some of
them holding wagers for approval: wagers with and without expected odds (some stale), deposits and
withdrawals, idempotency keys re-sent by two connections at the same instant and replayed later,
approvals and rejections, and markets closed, settled and voided while bets still arrive. Every
answer is recorded; afterwards the ledger must balance to the minor unit and every acknowledged
wager, deposit and withdrawal must be there exactly once, and nothing else.

Then three races with a known result: one user's sixteen wagers against a small balance, sixteen
admins settling one market, and two settlements sharing a bettor (the global lock order).

The operations of issue 5 get a mixed run of their own (twenty connections): corrections
(settle, unsettle, resettle by two admins at once, void_wager while bets arrive on the market, a
winner who spent the winnings and owes the house), settlement review (four confirmations and
settlements of one proposal at once, a confirmation racing a cancellation), a daily stake limit
tightened while its user's wagers arrive, and two scheduler nodes ticking at the same instants
while a clock passes markets' closes_at. Afterwards every acknowledged call is there exactly once,
every refusal is a catalog key, no deadlock, the invariants hold, and each wallet, debt, market,
proposal, closing and limit is what the acknowledged calls say. Then their races with a known
result: two admins resettling one market (to the same winner: corrected once; to two winners:
one after the other), corrections and settlements of markets sharing bettors (no deadlock,
queued behind a held house account in both orders), two confirmations of one proposal, wagers
against a daily stake limit (also while it is tightened), and eight schedulers ticking at once on
due markets (each closed once, one close snapshot per outcome).

Withdrawals that wait for an admin (issue 12): sixteen withdrawals of one user against one balance,
then two admins deciding each at once (one wins, the other is told withdrawal_not_pending), and a
credit sent by eight connections at once with one key (credited once).
"""

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import psycopg
import pytest

from tests.db.actors import (
    DEADLOCK_DETECTED,
    SERIALIZATION_FAILURE,
    Actor,
    actors,
    catalog_keys,
    make_users,
    refusal,
)
from tests.db.concurrent import WAIT, all_at_once, run_threads
from tests.db.helpers import outcome_ids, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import service
from tests.pgserver import Connection

SEED = 20261121
CATALOG = catalog_keys()
TOLERANCE = Decimal("0.01")
INITIAL_BALANCE = 10000


# Set-up ---------------------------------------------------------------------------------------


def balance_of(conn: Connection, user_id: uuid.UUID) -> int:
    row = conn.execute("select balance from app.accounts where user_id = %s", [user_id]).fetchone()
    assert row is not None
    conn.commit()
    return int(row[0])


# The journal: every answer of the mixed run -----------------------------------------------------


@dataclass
class Answer:
    thread: str
    user_id: uuid.UUID | None
    function: str
    args: dict[str, Any]
    result: dict[str, Any]
    # time.monotonic() when the call was sent and when its commit came back: a call sent after
    # another's commit came back sees what that one did
    sent: float = 0.0
    done: float = 0.0


@dataclass
class Refusal:
    thread: str
    user_id: uuid.UUID | None
    function: str
    args: dict[str, Any]
    key: str
    sent: float


@dataclass
class Journal:
    """What every client was told, shared by all threads."""

    bettor_steps: int
    lock: threading.Condition = field(default_factory=threading.Condition)
    acks: list[Answer] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    unexpected: list[tuple[str, dict[str, Any], str | None, str | None]] = field(
        default_factory=list
    )
    deadlocks: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    steps: int = 0

    def attempt(self, actor: Actor, function: str, **args: Any) -> dict[str, Any] | None:
        """Call and record: the result when acknowledged, None when refused."""
        sent = time.monotonic()
        try:
            result = actor.call(function, **args)
        except psycopg.Error as error:
            key = refusal(error)
            with self.lock:
                self.refusals[key] += 1
                self.refused.append(Refusal(actor.name, actor.user_id, function, args, key, sent))
                if key == DEADLOCK_DETECTED:
                    self.deadlocks.append((actor.name, function, args, error.diag.message_detail))
                elif key not in CATALOG | {SERIALIZATION_FAILURE}:
                    self.unexpected.append(
                        (function, args, error.sqlstate, error.diag.message_primary)
                    )
            return None
        done = time.monotonic()
        with self.lock:
            self.acks.append(
                Answer(actor.name, actor.user_id, function, args, result, sent=sent, done=done)
            )
            if function == "place_wager" and result["approval"] == "pending":
                self.pending.append(result["wager_id"])
        return dict(result)

    def step(self) -> None:
        with self.lock:
            self.steps += 1
            self.lock.notify_all()

    def wait_for(self, steps: int) -> None:
        with self.lock:
            self.lock.wait_for(lambda: self.steps >= min(steps, self.bettor_steps), timeout=WAIT)

    def take_pending(self, rng: random.Random) -> int | None:
        """A pending wager to decide; it stays in the pool now and then, so that the two
        approvers sometimes race on the same one."""
        with self.lock:
            if not self.pending:
                return None
            wager_id = rng.choice(self.pending)
            if rng.random() < 0.7:
                self.pending.remove(wager_id)
            return wager_id

    def answers(self, function: str) -> list[Answer]:
        return [a for a in self.acks if a.function == function]


# The plan ---------------------------------------------------------------------------------------


@dataclass
class Op:
    who: str  # "a", "b" or "both" (the same call from both connections of a pair at once)
    function: str
    args: dict[str, Any]
    preview: bool = False  # place_wager: quote first and send the quoted odds back


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
STAKES = [100, 200, 300, 500, 800, 1200, 2000, 3500, 6000]


def bettor_plan(
    rng: random.Random, pair: int, markets: list[dict[str, Any]], size: int
) -> list[Op]:
    """A pair's calls in order: each for one connection of the pair, or for both at once."""
    plan: list[Op] = []
    keyed: list[Op] = []
    for i in range(size):
        key = f"pair{pair}-op{i}"
        roll = rng.random()
        who = rng.choice(["a", "b"])
        if roll < 0.62:
            market = rng.choice(markets)
            args: dict[str, Any] = {
                "market_id": market["id"],
                "outcome_id": rng.choice(outcome_ids(market)),
                "stake": rng.choice(STAKES),
            }
            mode = rng.choice(["live", "live", "live", "preview", "preview", "stale"])
            if mode == "stale":
                args["expected_odds"] = Decimal(rng.choice(["1.01", "7.77", "25"]))
            sent = rng.random()
            if mode != "preview" and sent < 0.3:
                who = "both"
                args["idempotency_key"] = key
            elif mode != "preview" and sent < 0.5:
                args["idempotency_key"] = key
            op = Op(who, "place_wager", args, preview=mode == "preview")
        elif roll < 0.82:
            function = rng.choice(["deposit", "deposit", "withdraw"])
            args = {"amount": rng.choice([500, 1500, 4000, 9000]), "idempotency_key": key}
            if rng.random() < 0.4:
                who = "both"
            op = Op(who, function, args)
        elif keyed:
            # a later re-send of an earlier keyed call, the same arguments (sometimes others)
            earlier = rng.choice(keyed)
            args = dict(earlier.args)
            if rng.random() < 0.25:
                field_name = "stake" if earlier.function == "place_wager" else "amount"
                args[field_name] += 1
            op = Op(who, earlier.function, args)
        else:
            continue
        plan.append(op)
        if "idempotency_key" in op.args and op.args["idempotency_key"] == key:
            keyed.append(op)
    return plan


def bettor_thread(
    journal: Journal,
    start: threading.Barrier,
    actor: Actor,
    plan: list[Op],
    me: str,
    pair: threading.Barrier,
) -> Callable[[], None]:
    """One connection of a pair working through the pair's plan: its own calls (`me`), and the
    calls for both connections, sent at the same instant as the other one's."""

    def run() -> None:
        start.wait()
        try:
            for op in plan:
                if op.who not in (me, "both"):
                    continue
                if op.who == "both":
                    pair.wait()
                args = dict(op.args)
                if op.preview:
                    quote = journal.attempt(actor, "preview_wager", **args)
                    if quote is not None:
                        args["expected_odds"] = Decimal(str(quote["effective_odds"]))
                journal.attempt(actor, op.function, **args)
                journal.step()
        except BaseException:
            pair.abort()
            raise

    return run


# The mixed run ----------------------------------------------------------------------------------


BETTOR_USERS = ["alice", "bruno", "chen", "dana", "eve"]
# the user of each pair of bettor threads: alice and chen on four connections each; dana and eve
# start without a wallet, so two connections race to create it
PAIR_USERS = ["alice", "alice", "bruno", "chen", "chen", "dana", "eve"]
OPS_PER_PAIR = 36


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


def check_wagers(conn: Connection, journal: Journal) -> None:
    """Every acknowledged wager exists exactly once, as acknowledged; nothing else exists."""
    rows = conn.execute(
        "select id, user_id, market_id, outcome_id, stake, idempotency_key, odds from app.wagers"
    ).fetchall()
    stored = {row[0]: row for row in rows}
    answers = journal.answers("place_wager")
    fresh = [a for a in answers if not a.result["replayed"]]
    assert sorted(a.result["wager_id"] for a in fresh) == sorted(stored), (
        "the wagers stored are not exactly the ones acknowledged"
    )
    by_key: dict[tuple[uuid.UUID | None, str], set[int]] = defaultdict(set)
    for answer in answers:
        wager_id = answer.result["wager_id"]
        _, user_id, market_id, outcome_id, stake, key, odds = stored[wager_id]
        assert (user_id, market_id, outcome_id, stake) == (
            answer.user_id,
            answer.args["market_id"],
            answer.args["outcome_id"],
            answer.args["stake"],
        )
        assert key == answer.args.get("idempotency_key")
        expected = answer.args.get("expected_odds")
        if expected is not None:
            assert abs(odds - expected) <= TOLERANCE, (wager_id, odds, expected)
        if key is not None:
            by_key[(user_id, key)].add(wager_id)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    replayed = [a for a in answers if a.result["replayed"]]
    assert replayed, "no idempotency key was ever replayed"
    originals = {a.result["wager_id"]: a.result for a in fresh}
    for answer in replayed:
        assert {**answer.result, "replayed": False} == originals[answer.result["wager_id"]]


def check_transfers(conn: Connection, journal: Journal) -> None:
    """Every acknowledged deposit and withdrawal is one ledger transaction; nothing else is."""
    rows = conn.execute(
        """select t.id, t.kind, e.user_id, e.amount
           from app.ledger_transactions as t
           inner join app.ledger_entries as e on e.transaction_id = t.id and e.user_id is not null
           where t.kind in ('deposit', 'withdrawal')"""
    ).fetchall()
    stored = {row[0]: row for row in rows}
    assert len(stored) == len(rows), "a transfer moved more than one wallet"
    answers = journal.answers("deposit") + journal.answers("withdraw")
    fresh = [a for a in answers if not a.result["replayed"]]
    assert sorted(a.result["transaction_id"] for a in fresh) == sorted(stored)
    by_key: dict[tuple[uuid.UUID | None, str], set[int]] = defaultdict(set)
    for answer in answers:
        tx = answer.result["transaction_id"]
        _, kind, user_id, amount = stored[tx]
        sign = 1 if answer.function == "deposit" else -1
        assert (kind, user_id, amount) == (
            "deposit" if sign > 0 else "withdrawal",
            answer.user_id,
            sign * answer.args["amount"],
        )
        by_key[(user_id, answer.args["idempotency_key"])].add(tx)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    assert any(a.result["replayed"] for a in answers), "no transfer key was ever replayed"


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


def check_balances(conn: Connection, journal: Journal, bettors: dict[str, uuid.UUID]) -> None:
    """Each wallet is what its acknowledged calls say: the initial balance, plus deposits, less
    withdrawals and stakes, plus what each wager pays now (its current settlement, its refund,
    its void), plus what the user still owes the house (a reversal that found the wallet short
    took that much less; a collection took it back); all accounts together sum to zero."""
    expected: dict[uuid.UUID | None, int] = defaultdict(lambda: INITIAL_BALANCE)
    for answer in journal.acks:
        if answer.result.get("replayed"):
            continue
        if answer.function == "deposit":
            expected[answer.user_id] += answer.args["amount"]
        elif answer.function == "withdraw":
            expected[answer.user_id] -= answer.args["amount"]
        elif answer.function == "place_wager":
            expected[answer.user_id] -= answer.args["stake"]
    for user_id, paid in conn.execute(
        "select user_id, sum(payout) from app.wagers where payout is not null group by user_id"
    ).fetchall():
        expected[user_id] += int(paid)
    for user_id, owed in conn.execute(
        "select user_id, sum(amount) from app.user_debts group by user_id"
    ).fetchall():
        expected[user_id] += int(owed)
    actual: dict[uuid.UUID, int] = dict(
        conn.execute("select user_id, balance from app.accounts where kind = 'user'").fetchall()
    )
    assert actual == {user: expected[user] for user in bettors.values()}
    assert min(actual.values()) >= 0
    (total,) = conn.execute("select sum(balance) from app.accounts").fetchone() or (None,)
    assert total == 0


# The mixed run of issue 5: corrections, reviews, limits and schedulers while bets arrive --------


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


CORRECTED_MARKETS: list[tuple[str, str, int, dict[str, Any]]] = [
    # name, kind, outcomes, options
    ("resettled", "fixed_odds", 3, {"margin": 20000}),
    ("unsettled", "parimutuel", 3, {"rake_bps": 500}),
    ("plain", "fixed_odds", 2, {"margin": 20000}),
    ("voids", "fixed_odds", 2, {"margin": 20000}),
    ("reviewed", "parimutuel", 2, {}),
    ("cancelled", "fixed_odds", 2, {"margin": 20000}),
    ("due 1", "parimutuel", 2, {}),
    ("due 2", "fixed_odds", 3, {"margin": 20000}),
    ("due 3", "parimutuel", 3, {}),
    ("open", "parimutuel", 3, {"rake_bps": 300}),
]
DUE = ["due 1", "due 2", "due 3"]
# four bettors on two connections each; lim bets 300 at a time on two connections against a daily
# stake limit his third connection tightens (6,000 to 3,000) and then tries to loosen (pending);
# deb stakes once on `resettled` and takes every unit out once it has paid him
CORRECTED_BETTORS = ["fay", "gus", "hal", "ivy"]
LIM_STAKE = 300
LIM_LIMITS = (6000, 3000, 20000)


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


def refusals_of(journal: Journal, function: str, market_id: int) -> list[str]:
    return [
        r.key
        for r in journal.refused
        if r.function == function and r.args.get("market_id") == market_id
    ]


def acks_of(journal: Journal, function: str, market_id: int) -> list[Answer]:
    return [a for a in journal.answers(function) if a.args.get("market_id") == market_id]


def check_corrections(
    conn: Connection,
    journal: Journal,
    by_name: dict[str, dict[str, Any]],
    bettors: dict[str, uuid.UUID],
) -> None:
    """Each market settled as often as a settlement was acknowledged, reversed as often as a
    correction was; the resettle race corrected `resettled` once; deb, who spent his winnings,
    owes the house exactly what the reversal could not take back; each acknowledged void is
    one reversal."""
    resettled, unsettled = by_name["resettled"], by_name["unsettled"]
    winners = {
        title: winner
        for title, winner in conn.execute(
            "select m.title, o.position from app.markets as m"
            " left join app.outcomes as o on o.id = m.winning_outcome_id"
        ).fetchall()
    }
    status: dict[str, str] = dict(conn.execute("select title, status from app.markets").fetchall())
    assert {t: (status[t], winners[t]) for t in status if t not in DUE} == {
        "resettled": ("settled", 2),
        "unsettled": ("settled", 3),
        "plain": ("settled", 2),
        "voids": ("settled", 1),
        "reviewed": ("settled", 1),
        "cancelled": ("settled", 2),
        "open": ("open", None),
    }
    # the race: one resettle corrected the market, the other found o1 the winner already
    assert len(acks_of(journal, "resettle_market", resettled["id"])) == 1
    assert refusals_of(journal, "resettle_market", resettled["id"]) == ["invalid_argument"]
    assert len(acks_of(journal, "unsettle_market", unsettled["id"])) == 1
    for market in by_name.values():
        settled = sum(
            len(acks_of(journal, f, market["id"]))
            for f in ("settle_market", "confirm_settlement", "resettle_market")
        )
        reversed_ = len(acks_of(journal, "resettle_market", market["id"])) + len(
            acks_of(journal, "unsettle_market", market["id"])
        )
        rows = conn.execute(
            """select (select count(*) from app.settlements where market_id = %(m)s)
                    + (select count(*) from app.settlement_history where market_id = %(m)s),
                      (select count(*) from app.ledger_reversals
                       where market_id = %(m)s and kind = 'unsettle_market')""",
            {"m": market["id"]},
        ).fetchone()
        assert rows == (settled, reversed_), market["title"]
    # deb was paid by the first settlement, took it all out, and owes it all
    (correction,) = acks_of(journal, "resettle_market", resettled["id"])
    owed = [
        u for u in correction.result["unsettled"]["users"] if u["user_id"] == str(bettors["deb"])
    ]
    assert len(owed) == 1 and owed[0]["debited"] == 0 and owed[0]["debt"] == owed[0]["reversed"] > 0
    debts = conn.execute(
        """select d.user_id, r.market_id, d.amount from app.user_debts as d
           inner join app.ledger_reversals as r on r.id = d.reversal_id
           where d.user_id = %s""",
        [bettors["deb"]],
    ).fetchall()
    assert debts == [(bettors["deb"], resettled["id"], owed[0]["debt"])]
    # every acknowledged void is one void_wager reversal of that wager, and nothing else is
    voided = sorted(a.args["wager_id"] for a in journal.answers("void_wager"))
    assert voided, "no wager was voided"
    assert voided == sorted(
        wager_id
        for (wager_id,) in conn.execute(
            "select wager_id from app.ledger_reversals where kind = 'void_wager'"
        ).fetchall()
    )
    assert set(refusals_of_any(journal, "void_wager")) <= {"wager_not_voidable"}


def refusals_of_any(journal: Journal, function: str) -> list[str]:
    return [r.key for r in journal.refused if r.function == function]


def check_reviews(
    conn: Connection,
    journal: Journal,
    by_name: dict[str, dict[str, Any]],
    admins: dict[str, uuid.UUID],
) -> None:
    """Four at once on `reviewed`: one confirmation by op2 or op3 settled it; op1's own was
    same_admin (or already_settled), the direct settlement and the other confirmation refused. On
    `cancelled` either the confirmation or the cancellation won the race, and the market ended
    settled with o1 once, confirmed by op2."""
    reviewed, cancelled = by_name["reviewed"], by_name["cancelled"]
    (confirmed,) = acks_of(journal, "confirm_settlement", reviewed["id"])
    assert confirmed.user_id in (admins["op2"], admins["op3"])
    refused = Counter(
        (r.thread.split("/")[1], r.function, r.key)
        for r in journal.refused
        if r.args.get("market_id") == reviewed["id"]
        and r.function in ("confirm_settlement", "settle_market")
    )
    assert (
        refused[("op1", "confirm_settlement", "same_admin")]
        + refused[("op1", "confirm_settlement", "already_settled")]
        == 1
    )
    assert set(refused) <= {
        ("op1", "confirm_settlement", "same_admin"),
        ("op1", "confirm_settlement", "already_settled"),
        ("op2", "confirm_settlement", "already_settled"),
        ("op3", "confirm_settlement", "already_settled"),
        ("op3", "settle_market", "already_settled"),
        ("op3", "settle_market", "settlement_needs_confirmation"),
    }
    assert sum(refused.values()) == 3
    proposals = conn.execute(
        "select market_id, status, proposed_by, decided_by from app.settlement_proposals"
        " order by id"
    ).fetchall()
    mine = [p for p in proposals if p[0] == reviewed["id"]]
    assert mine == [(reviewed["id"], "confirmed", admins["op1"], confirmed.user_id)]
    # cancelled: the confirmation won (one proposal, confirmed; the cancellation, the second
    # proposal and the late confirmation refused) or the cancellation did (cancelled, proposed
    # again by op3, confirmed by op2), in whatever order the four calls met the market's lock
    race = [p[1:] for p in proposals if p[0] == cancelled["id"]]
    assert race in (
        [("confirmed", admins["op1"], admins["op2"])],
        [
            ("cancelled", admins["op1"], admins["op3"]),
            ("confirmed", admins["op3"], admins["op2"]),
        ],
    )
    calls = [
        *(
            r.key
            for r in journal.refused
            if r.args.get("market_id") == cancelled["id"] and r.user_id in admins.values()
        ),
        *(
            a.function
            for a in journal.acks
            if a.args.get("market_id") == cancelled["id"] and a.user_id in admins.values()
        ),
    ]
    assert Counter(calls)["confirm_settlement"] == 1
    assert len(calls) == 5  # op1's proposal, then the four
    assert set(calls) <= {
        "propose_settlement",
        "confirm_settlement",
        "cancel_settlement_proposal",
        "already_settled",
        "no_pending_proposal",
        "proposal_exists",
    }


def check_scheduled_closing(
    conn: Connection, ticks: list[tuple[str, dict[str, Any]]], by_name: dict[str, dict[str, Any]]
) -> None:
    """Every due market was closed by exactly one tick of one node, with one close snapshot per
    outcome and one log row; no tick closed anything else; a tick that found the other node
    holding the lock did nothing."""
    due = {by_name[name]["id"] for name in DUE}
    closed = Counter(market_id for _, tick in ticks for market_id in tick["closed"])
    assert closed == dict.fromkeys(due, 1), closed
    for _, tick in ticks:
        if not tick["locked"]:
            assert (tick["closed"], tick["snapshots"]) == ([], 0)
    rows = conn.execute(
        """select m.id, m.status, count(distinct o.id),
                  (select count(*) from app.pool_snapshots as s
                   where s.market_id = m.id and s.reason = 'close'),
                  (select count(*) from app.admin_actions as a
                   where a.market_id = m.id and a.action = 'close_market'
                     and a.actor_role = 'scheduler')
           from app.markets as m inner join app.outcomes as o on o.market_id = m.id
           where m.id = any(%s) group by m.id""",
        [sorted(due)],
    ).fetchall()
    assert sorted(rows) == sorted(
        (market_id, "closed", n, n, 1)
        for market_id, n in ((by_name[name]["id"], len(by_name[name]["outcomes"])) for name in DUE)
    )


def check_stake_limit(conn: Connection, journal: Journal, lim: uuid.UUID) -> None:
    """lim's wagers, in the order his wallet lock let them in (their ids), never took his stakes
    of the day past the limit in force: 6,000 for all; 3,000 for every wager sent after the
    tightening had committed. The loosening stayed pending. Every refusal of his is one the
    rules allow."""
    stakes = conn.execute(
        "select id, stake from app.wagers where user_id = %s and approval <> 'rejected'"
        " order by id",
        [lim],
    ).fetchall()
    used: dict[int, int] = {}
    total = 0
    for wager_id, stake in stakes:
        total += stake
        used[wager_id] = total
    assert total <= LIM_LIMITS[0]
    tightened = [
        a for a in journal.answers("set_daily_stake_limit") if a.args["amount"] == LIM_LIMITS[1]
    ]
    assert len(tightened) == 1 and tightened[0].result["effect"] == "immediate"
    later = [
        a.result["wager_id"]
        for a in journal.answers("place_wager")
        if a.user_id == lim and a.sent > tightened[0].done
    ]
    assert all(used[w] <= LIM_LIMITS[1] for w in later), (later, used)
    loosened = [
        a for a in journal.answers("set_daily_stake_limit") if a.args["amount"] == LIM_LIMITS[2]
    ]
    assert len(loosened) == 1 and loosened[0].result["effect"] == "pending"
    assert loosened[0].result["daily_stake_limit"] == LIM_LIMITS[1]
    # each request once in the history: the setup's, then the two acknowledged
    assert conn.execute(
        "select requested_value, effect from app.play_limit_changes where user_id = %s order by id",
        [lim],
    ).fetchall() == [
        (LIM_LIMITS[0], "immediate"),
        (LIM_LIMITS[1], "immediate"),
        (LIM_LIMITS[2], "pending"),
    ]
    keys = {r.key for r in journal.refused if r.user_id == lim}
    assert "daily_stake_limit_reached" in keys
    assert keys <= {"daily_stake_limit_reached", "market_not_open", "stake_above_cap"}


# Races with a known winner ----------------------------------------------------------------------


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


def wait_until_blocked(conn: Connection, actor: Actor) -> None:
    """Wait until `actor`'s connection is waiting for a lock."""
    pid = actor.conn.info.backend_pid
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        row = conn.execute(
            "select wait_event_type from pg_catalog.pg_stat_activity where pid = %s", [pid]
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError(f"{actor.name} never waited for a lock")


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


# Races of issue 5 with a known result ------------------------------------------------------------


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


# Withdrawals that wait for an admin, and credits (the real-money profile, docs/operations.md) -----


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
