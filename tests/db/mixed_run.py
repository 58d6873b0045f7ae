"""The mixed runs of the concurrency tests (test_concurrent_mixed_run.py and
test_concurrent_corrections_run.py): the journal of every answer the clients were told, the
seeded plan of each pair of bettor connections, and the checks both runs end with (every
acknowledged wager and transfer there exactly once, and each wallet what the acknowledged calls
say)."""

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from tests.db.actors import DEADLOCK_DETECTED, SERIALIZATION_FAILURE, Actor, catalog_keys, refusal
from tests.db.concurrent import INITIAL_BALANCE, WAIT
from tests.db.helpers import outcome_ids
from tests.pgserver import Connection

SEED = 20261121
CATALOG = catalog_keys()
TOLERANCE = Decimal("0.01")
OPS_PER_PAIR = 36


# The journal: every answer of a mixed run ------------------------------------------------------


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
