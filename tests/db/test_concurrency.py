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
"""

import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.db.actors import (
    DEADLOCK_DETECTED,
    SERIALIZATION_FAILURE,
    Actor,
    catalog_keys,
    refusal,
)
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user
from tests.pgserver import Connection

SEED = 20261121
CATALOG = catalog_keys()
TOLERANCE = Decimal("0.01")
INITIAL_BALANCE = 10000
WAIT = 30.0  # seconds any thread waits for another before the test gives up


# Set-up ---------------------------------------------------------------------------------------


def make_users(url: str, names: list[str], *, admin: bool = False) -> dict[str, uuid.UUID]:
    """Users made as the superuser on a connection of their own, committed."""
    with psycopg.connect(url) as conn:
        ids = {name: create_user(conn, name, admin=admin) for name in names}
        conn.commit()
    return ids


@contextmanager
def actors(
    url: str, count: int, user_id: uuid.UUID, *, admin: bool = False
) -> Iterator[list[Actor]]:
    """`count` connections acting as the same user."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(Actor(url, user_id, admin=admin, name=f"actor{i}"))
            for i in range(count)
        ]


def run_threads(targets: list[Callable[[], None]]) -> None:
    """Run every target in its own thread, join them all, re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a client thread hung"
    if failures:
        raise failures[0]


def all_at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` for i in 0..count-1, each in its own thread, released together by a barrier.
    Each slot holds the returned value or the psycopg error raised."""
    barrier = threading.Barrier(count, timeout=WAIT)
    outcomes: list[Any] = [None] * count

    def one(i: int) -> Callable[[], None]:
        def target() -> None:
            barrier.wait()
            try:
                outcomes[i] = call(i)
            except psycopg.Error as error:
                outcomes[i] = error

        return target

    run_threads([one(i) for i in range(count)])
    return outcomes


def balance_of(conn: Connection, user_id: uuid.UUID) -> int:
    row = conn.execute("select balance from app.accounts where user_id = %s", [user_id]).fetchone()
    assert row is not None
    conn.commit()
    return int(row[0])


def outcome_ids(market: dict[str, Any]) -> list[int]:
    return [o["outcome_id"] for o in market["outcomes"]]


# The journal: every answer of the mixed run -----------------------------------------------------


@dataclass
class Answer:
    thread: str
    user_id: uuid.UUID | None
    function: str
    args: dict[str, Any]
    result: dict[str, Any]


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
    steps: int = 0

    def attempt(self, actor: Actor, function: str, **args: Any) -> dict[str, Any] | None:
        """Call and record: the result when acknowledged, None when refused."""
        try:
            result = actor.call(function, **args)
        except psycopg.Error as error:
            key = refusal(error)
            with self.lock:
                self.refusals[key] += 1
                if key == DEADLOCK_DETECTED:
                    self.deadlocks.append((actor.name, function, args, error.diag.message_detail))
                elif key not in CATALOG | {SERIALIZATION_FAILURE}:
                    self.unexpected.append(
                        (function, args, error.sqlstate, error.diag.message_primary)
                    )
            return None
        with self.lock:
            self.acks.append(Answer(actor.name, actor.user_id, function, args, result))
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
    withdrawals and stakes, plus what each wager paid back; all accounts together sum to zero."""
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
    actual: dict[uuid.UUID, int] = dict(
        conn.execute("select user_id, balance from app.accounts where kind = 'user'").fetchall()
    )
    assert actual == {user: expected[user] for user in bettors.values()}
    assert min(actual.values()) >= 0
    (total,) = conn.execute("select sum(balance) from app.accounts").fetchone() or (None,)
    assert total == 0


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
