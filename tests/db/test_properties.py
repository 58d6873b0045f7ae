"""Random sequences of operations, checked against a Python model of the books after every step.

A hypothesis state machine drives a database (its own, emptied by truncation before each example)
through markets of both kinds (2 to 4 outcomes, random options, some holding wagers for
approval), deposits, withdrawals, previews, wagers (stakes zero, negative, huge; expected odds
exact, a little off, stale), approvals, rejections, opening, closing, settling and voiding, each
as the right persona and now and then as the wrong one. Every call is one committed transaction
(tests/db/actors.py). The run is derandomized: the same examples every time, so a failure
reproduces; the two corners it reaches rarely have tests of their own at the end.

The model is written again from the documented formulas (docs/engine.md, rpc/02_odds.sql), not
read back from the engine: it predicts for every call either the answer or the exact refusal key,
and keeps each wallet's balance from the money each acknowledged call moves: deposits,
withdrawals, stakes, refunds (rejection, pending wagers at settlement, void) and settlement
payouts (fixed odds: the payout locked at placement; parimutuel: rake = floor(total * bps /
10000), payout = floor(stake * net / winning pool), everything refunded when nothing is on the
winner). After every step the engine's invariants must hold and its balances, wagers, markets
and pools must equal the model's. A refusal that is not in the error catalog fails the test.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql
from psycopg.types.json import set_json_loads

from tests.db.actors import Actor, catalog_keys, refusal
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user

CATALOG = catalog_keys()

# app.config defaults (migrations/0001_engine.sql)
INITIAL_BALANCE = 10000
MAX_DEPOSIT = 1_000_000
MAX_WITHDRAWAL = 1_000_000
TOLERANCE = Decimal("0.01")
DEFAULTS = {
    "virtual_stake": 10000,
    "commission_bps": 5000,
    "margin": 5000,
    "min_cap": 1000,
    "rake_bps": 500,
    "max_payout": 100_000_000,
}
MAX_STAKE = 10**15  # a stake above is refused as invalid_amount (it would overflow the pools)
BIGINT_MAX = 2**63 - 1
MISSING = 10**12  # an id no market, outcome or wager has

BETTORS = ["bea", "bob"]
ADMIN = "ada"


# The documented formulas, in exact arithmetic ----------------------------------------------------


def round4(value: Fraction) -> Decimal:
    """Rounded to 4 decimals, halves away from zero (PostgreSQL's round on numeric; all > 0)."""
    return Decimal(math.floor(value * 10000 + Fraction(1, 2))).scaleb(-4)


def fixed_odds(pool: int, total: int, outcomes: int, virtual: int, commission_bps: int) -> Decimal:
    """odd_i = 1 + (sum over j != i of (T_j + V)) / (T_i + V) * (1 - c)"""
    others = (total - pool) + (outcomes - 1) * virtual
    return round4(1 + Fraction(others, pool + virtual) * Fraction(10000 - commission_bps, 10000))


def fixed_cap(total: int, margin: int, liability: int, odds: Decimal, min_cap: int) -> int:
    """cap_i = max(min_cap, floor((sum T + M - L_i) / (odd_i - 1))); odds of 1 leave min_cap."""
    if odds == 1:
        return min_cap
    return max(min_cap, math.floor(Fraction(total + margin - liability) / (Fraction(odds) - 1)))


def pari_odds(pool: int, total: int, rake_bps: int) -> Decimal | None:
    """net_pool / pool_i, none while nothing is on the outcome."""
    if pool <= 0:
        return None
    return round4(Fraction(total * (10000 - rake_bps), 10000 * pool))


# The model --------------------------------------------------------------------------------------


@dataclass
class Market:
    id: int
    kind: str
    outcomes: list[int]
    status: str
    requires_approval: bool
    virtual_stake: int
    commission_bps: int
    margin: int
    min_cap: int
    rake_bps: int
    max_payout: int
    pools: dict[int, int] = field(default_factory=dict)
    liability: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.pools.values())

    def odds(self, outcome: int) -> Decimal | None:
        """The outcome's live odds (the views' and the baseline of a quote)."""
        if self.kind == "fixed_odds":
            return fixed_odds(
                self.pools[outcome],
                self.total,
                len(self.outcomes),
                self.virtual_stake,
                self.commission_bps,
            )
        return pari_odds(self.pools[outcome], self.total, self.rake_bps)

    def effective_odds(self, outcome: int, stake: int) -> Decimal:
        """The odds a stake gets: fixed odds lock the live odds; parimutuel counts the stake."""
        if self.kind == "fixed_odds":
            odds = self.odds(outcome)
        else:
            odds = pari_odds(self.pools[outcome] + stake, self.total + stake, self.rake_bps)
        assert odds is not None
        return odds

    def cap(self, outcome: int) -> int | None:
        if self.kind != "fixed_odds":
            return None
        odds = self.odds(outcome)
        assert odds is not None
        return fixed_cap(self.total, self.margin, self.liability[outcome], odds, self.min_cap)


@dataclass
class Wager:
    id: int
    user: str
    market_id: int
    outcome_id: int
    stake: int
    potential_payout: int | None
    approval: str
    settlement: str = "open"
    payout: int | None = None


# The machine ------------------------------------------------------------------------------------

stakes = st.one_of(
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=-1000, max_value=0),
    st.sampled_from([20000, 10**6, MAX_STAKE, MAX_STAKE + 1, 2**62, BIGINT_MAX - 1, BIGINT_MAX]),
)
amounts = st.one_of(
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=-100, max_value=0),
    st.sampled_from([MAX_DEPOSIT, MAX_DEPOSIT + 1, 10**15, BIGINT_MAX]),
)
# mostly none; k1..k3 are re-sent (replayed, or refused when the arguments differ); two invalid
keys = st.sampled_from([None] * 6 + ["k1", "k2", "k3", "", "x" * 201])
# ada is the admin; bea, a bettor, calling an admin function is refused with not_admin
admins = st.sampled_from([ADMIN] * 6 + ["bea"])
# how far the expected odds are from the live odds: None sends none; 0 exactly; 0.005 and
# -0.009 are within the tolerance; 0.012 and more are not (stale); 'absurd' is no price at all
odds_offsets = st.sampled_from(
    [None, None, None, "0", "0", "0.005", "-0.009", "0.012", "-0.02", "0.5", "absurd"]
)
# which wager an admin decides on: a pending one (when there is one), any, or a missing one
wager_picks = st.sampled_from(["pending"] * 6 + ["any", "missing"])
# an option out of range (or unknown) now and then: invalid_option
bad_options = st.sampled_from(
    [None] * 12
    + [("virtual_stake", 0), ("commission_bps", 10000), ("rake_bps", 2501), ("colour", "red")]
)
options = st.fixed_dictionaries(
    {"requires_approval": st.booleans()},
    optional={
        "status": st.sampled_from(["open", "open", "open", "draft"]),
        "virtual_stake": st.integers(1, 20000),
        "commission_bps": st.integers(0, 9999),
        "margin": st.integers(0, 20000),
        "min_cap": st.integers(1, 5000),
        "rake_bps": st.integers(0, 2500),
        "max_payout": st.one_of(st.integers(1, 100000), st.just(DEFAULTS["max_payout"])),
    },
)


# which market a call is about: mostly one whose status allows the call (when there is one),
# sometimes any market, or one that does not exist
market_picks = st.tuples(
    st.integers(0, 1000), st.sampled_from(["fitting"] * 6 + ["any", "missing"])
)


class Database:
    """The test's one database, its personas, and a way back to how it was.

    Made once per test: the users (ada the admin, bea and bob the bettors) are created first, then
    every table that holds rows is copied into the schema `pristine`. Each example starts from
    `reset()`: every table of `app` and `auth` truncated, the copied rows put back. Sequences go
    on counting, so ids never repeat within the test."""

    def __init__(self, url: str) -> None:
        self.db = psycopg.connect(url, autocommit=True)
        self.user_ids = {
            name: create_user(self.db, name, admin=name == ADMIN) for name in [*BETTORS, ADMIN]
        }
        self.actors = {
            name: Actor(url, user_id, admin=name == ADMIN, name=name)
            for name, user_id in self.user_ids.items()
        }
        self.actors["anon"] = Actor(url, None, name="anon")
        for actor in self.actors.values():
            set_json_loads(partial(json.loads, parse_float=Decimal), actor.conn)
            # thousands of tiny commits: durability is not what this test is about
            actor.conn.execute("set synchronous_commit = off")
            actor.conn.commit()
        names = self.db.execute(
            """select schemaname, tablename from pg_catalog.pg_tables
               where schemaname in ('app', 'auth') order by schemaname <> 'auth', 2"""
        ).fetchall()
        self.tables = [sql.Identifier(schema, name) for schema, name in names]
        self.db.execute("create schema pristine")
        self.kept: list[tuple[sql.Identifier, sql.Identifier]] = []
        for (schema, name), table in zip(names, self.tables, strict=True):
            copy = sql.Identifier("pristine", f"{schema}_{name}")
            self.db.execute(sql.SQL("create table {} as select * from {}").format(copy, table))
            row = self.db.execute(sql.SQL("select exists (select from {})").format(copy)).fetchone()
            if row and row[0]:
                self.kept.append((table, copy))

    def reset(self) -> None:
        with self.db.transaction():
            self.db.execute(sql.SQL("truncate {}").format(sql.SQL(", ").join(self.tables)))
            for table, copy in self.kept:
                self.db.execute(
                    sql.SQL("insert into {} overriding system value select * from {}").format(
                        table, copy
                    )
                )

    def close(self) -> None:
        for actor in self.actors.values():
            actor.close()
        self.db.close()


class Books(RuleBasedStateMachine):
    """The engine against the model; `database` is set by the test."""

    database: Database

    def __init__(self) -> None:
        super().__init__()
        self.database.reset()
        self.db = self.database.db
        self.actors = self.database.actors
        self.user_ids = self.database.user_ids
        self.names = {user_id: name for name, user_id in self.user_ids.items()}
        self.balances: dict[str, int | None] = dict.fromkeys(self.user_ids)
        self.house = 0
        self.model_markets: dict[int, Market] = {}
        self.model_wagers: dict[int, Wager] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {}

    # calling the engine ------------------------------------------------------------------------

    def call(
        self, who: str, function: str, **args: Any
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(answer, None) when acknowledged, (None, key) when refused. A refusal outside the
        catalog (an overflow, a check constraint, a permission error) fails the test here."""
        try:
            return self.actors[who].call(function, **args), None
        except psycopg.Error as error:
            key = refusal(error)
            assert key in CATALOG, (
                f"{function}({args}) as {who}: {error.sqlstate} {error.diag.message_primary}: "
                f"{error.diag.message_detail} {error.diag.context}"
            )
            return None, key

    def expect(
        self, expected: str | None, who: str, function: str, **args: Any
    ) -> dict[str, Any] | None:
        """Call, and assert the model predicted it: the answer when `expected` is None, else the
        refusal `expected`."""
        answer, key = self.call(who, function, **args)
        assert key == expected, (
            f"{function}({args}) as {who}: expected {expected or 'an answer'}, got {key or answer}"
        )
        return answer

    def balance(self, user: str) -> int:
        """The model's balance; a wallet not yet touched holds the initial balance."""
        value = self.balances[user]
        return INITIAL_BALANCE if value is None else value

    def credit(self, user: str, amount: int) -> None:
        self.balances[user] = self.balance(user) + amount

    def replay(
        self, user: str, key: str | None, operation: str, arguments: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """What an idempotency key decides before anything else: (refusal, stored answer)."""
        if key is None:
            return None, None
        if not 1 <= len(key) <= 200:
            return "invalid_idempotency_key", None
        stored = self.idempotency.get((user, key))
        if stored is None:
            return None, None
        if stored[0] != operation or stored[1] != arguments:
            return "idempotency_conflict", None
        return None, stored[2]

    def remember(
        self,
        user: str,
        key: str | None,
        operation: str,
        arguments: dict[str, Any],
        answer: dict[str, Any],
    ) -> None:
        assert answer["replayed"] is False
        if key is not None:
            self.idempotency[(user, key)] = (operation, arguments, answer)

    def outcome_id(self, market: Market | None, index: int) -> int:
        if market is not None and index < len(market.outcomes):
            return market.outcomes[index]
        return MISSING

    def pick_market(self, choice: tuple[int, str], statuses: list[str]) -> int:
        pick, which = choice
        every = sorted(self.model_markets)
        fitting = [i for i in every if self.model_markets[i].status in statuses]
        chosen = fitting if which == "fitting" and fitting else every
        return chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING

    # markets -----------------------------------------------------------------------------------

    @initialize(count=st.integers(2, 4), options=options)
    def fixed_odds_market(self, count: int, options: dict[str, Any]) -> None:
        self.create_market(ADMIN, "fixed_odds", count, {**options, "status": "open"}, None)

    @initialize(count=st.integers(2, 4), options=options)
    def parimutuel_market(self, count: int, options: dict[str, Any]) -> None:
        self.create_market(ADMIN, "parimutuel", count, {**options, "status": "open"}, None)

    @rule(
        kind=st.sampled_from(["fixed_odds", "parimutuel"]), count=st.integers(2, 4), options=options
    )
    def open_another_market(self, kind: str, count: int, options: dict[str, Any]) -> None:
        """Markets close, settle and void; new ones keep the betting going."""
        self.create_market(ADMIN, kind, count, {**options, "status": "open"}, None)

    @rule(
        who=admins,
        kind=st.sampled_from(["fixed_odds", "parimutuel"]),
        count=st.integers(2, 4),
        options=options,
        bad=bad_options,
    )
    def create_market(
        self,
        who: str,
        kind: str,
        count: int,
        options: dict[str, Any],
        bad: tuple[str, Any] | None,
    ) -> None:
        expected = None
        if who != ADMIN:
            expected = "not_admin"
        elif bad is not None:
            expected = "invalid_option"
            options = {**options, bad[0]: bad[1]}
        answer = self.expect(
            expected,
            who,
            "create_market",
            title=f"Market {len(self.model_markets) + 1}",
            outcomes=[f"Outcome {i}" for i in range(count)],
            kind=kind,
            options=options,
        )
        if answer is None:
            return
        settings_ = {name: options.get(name, default) for name, default in DEFAULTS.items()}
        outcomes = [o["outcome_id"] for o in answer["outcomes"]]
        market = Market(
            id=answer["id"],
            kind=kind,
            outcomes=outcomes,
            status=options.get("status", "open"),
            requires_approval=options.get("requires_approval", False),
            pools=dict.fromkeys(outcomes, 0),
            liability=dict.fromkeys(outcomes, 0),
            **settings_,
        )
        assert {k: answer[k] for k in ("kind", "status", "requires_approval", *DEFAULTS)} == {
            "kind": kind,
            "status": market.status,
            "requires_approval": market.requires_approval,
            **settings_,
        }
        self.model_markets[market.id] = market

    def market_call(
        self, function: str, who: str, market_id: int, allowed: list[str], **args: Any
    ) -> tuple[Market | None, dict[str, Any] | None]:
        market = self.model_markets.get(market_id)
        expected = None
        if who != ADMIN:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif "reason" in args and not args["reason"].strip():
            expected = "invalid_argument"
        elif market.status not in allowed:
            expected = "already_settled" if market.status == "settled" else "invalid_market_state"
        return market, self.expect(expected, who, function, market_id=market_id, **args)

    @rule(who=admins, choice=market_picks)
    def open_market(self, who: str, choice: tuple[int, str]) -> None:
        market_id = self.pick_market(choice, ["draft"])
        market, answer = self.market_call("open_market", who, market_id, ["draft"])
        if answer is not None:
            assert market is not None
            market.status = "open"

    @rule(who=admins, choice=market_picks)
    def close_market(self, who: str, choice: tuple[int, str]) -> None:
        market_id = self.pick_market(choice, ["open"])
        market, answer = self.market_call("close_market", who, market_id, ["open"])
        if answer is not None:
            assert market is not None
            market.status = "closed"

    @rule(
        who=admins,
        choice=market_picks,
        reason=st.sampled_from(["called off", "called off", "  "]),
    )
    def void_market(self, who: str, choice: tuple[int, str], reason: str) -> None:
        market_id = self.pick_market(choice, ["draft", "open", "closed"])
        market, answer = self.market_call(
            "void_market", who, market_id, ["draft", "open", "closed"], reason=reason
        )
        if answer is None:
            return
        assert market is not None
        refunded = self.refund(market, pending_only=False)
        assert answer["refunded"] == {"wagers": len(refunded), "amount": sum(refunded)}
        market.status = "void"

    def refund(self, market: Market, *, pending_only: bool) -> list[int]:
        """Give back the stake of every open wager of the market (or every pending one)."""
        refunded = []
        for wager in self.model_wagers.values():
            if wager.market_id != market.id or wager.settlement != "open":
                continue
            if pending_only and wager.approval != "pending":
                continue
            if wager.approval == "pending":
                wager.approval = "rejected"
            wager.settlement, wager.payout = "void", wager.stake
            self.credit(wager.user, wager.stake)
            refunded.append(wager.stake)
        return refunded

    @rule(
        who=admins,
        choice=market_picks,
        index=st.integers(0, 4),
    )
    def settle_market(self, who: str, choice: tuple[int, str], index: int) -> None:
        market_id = self.pick_market(choice, ["open", "closed"])
        market = self.model_markets.get(market_id)
        winner = self.outcome_id(market, index)
        expected = None
        if who != ADMIN:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif market.status not in ("open", "closed"):
            expected = "already_settled" if market.status == "settled" else "invalid_market_state"
        elif winner not in market.outcomes:
            expected = "outcome_not_found"
        answer = self.expect(expected, who, "settle_market", market_id=market_id, outcome_id=winner)
        if answer is None:
            return
        assert market is not None
        pending = self.refund(market, pending_only=True)
        accepted = [
            w
            for w in self.model_wagers.values()
            if w.market_id == market.id and w.approval == "accepted" and w.settlement == "open"
        ]
        total = sum(w.stake for w in accepted)
        winning = sum(w.stake for w in accepted if w.outcome_id == winner)
        assert (total, winning) == (market.total, market.pools[winner])
        refund_all = market.kind == "parimutuel" and winning == 0
        rake = total * market.rake_bps // 10000 if market.kind == "parimutuel" and winning else 0
        net = total - rake
        for wager in accepted:
            if refund_all:
                wager.settlement, wager.payout = "void", wager.stake
            elif wager.outcome_id != winner:
                wager.settlement, wager.payout = "lost", 0
            elif market.kind == "fixed_odds":
                assert wager.potential_payout is not None
                wager.settlement, wager.payout = "won", wager.potential_payout
            else:
                wager.settlement, wager.payout = "won", wager.stake * net // winning
            self.credit(wager.user, wager.payout)
        paid = sum(w.payout or 0 for w in accepted)
        self.house += total - paid
        market.status = "settled"
        won = [w for w in accepted if w.settlement == "won"]
        assert {
            k: answer[k]
            for k in (
                "total_pool",
                "rake",
                "net_pool",
                "winning_pool",
                "total_paid",
                "dust",
                "house_result",
                "refunded",
                "winners_count",
                "losers_count",
                "winning_users",
            )
        } == {
            "total_pool": total,
            "rake": rake,
            "net_pool": net,
            "winning_pool": winning,
            "total_paid": paid,
            "dust": net - paid if market.kind == "parimutuel" else 0,
            "house_result": total - paid,
            "refunded": refund_all,
            "winners_count": len(won),
            "losers_count": sum(1 for w in accepted if w.settlement == "lost"),
            "winning_users": len({w.user for w in won}),
        }
        assert answer["pending_refunded"] == {"wagers": len(pending), "amount": sum(pending)}

    # wallets -----------------------------------------------------------------------------------

    @rule(user=st.sampled_from(BETTORS), amount=amounts, key=keys)
    def deposit(self, user: str, amount: int, key: str | None) -> None:
        self.transfer(user, "deposit", amount, key)

    @rule(user=st.sampled_from(BETTORS), amount=amounts, key=keys)
    def withdraw(self, user: str, amount: int, key: str | None) -> None:
        self.transfer(user, "withdraw", amount, key)

    def transfer(self, user: str, function: str, amount: int, key: str | None) -> None:
        operation = "deposit" if function == "deposit" else "withdrawal"
        expected, stored = self.replay(user, key, operation, {"amount": amount})
        if expected is None and stored is None:
            if amount <= 0:
                expected = "invalid_amount"
            elif amount > (MAX_DEPOSIT if function == "deposit" else MAX_WITHDRAWAL):
                expected = "amount_above_maximum"
            elif function == "withdraw" and amount > self.balance(user):
                expected = "insufficient_funds"
        answer = self.expect(expected, user, function, amount=amount, idempotency_key=key)
        if answer is None:
            return
        if stored is not None:
            assert answer == {**stored, "replayed": True}
            return
        self.credit(user, amount if function == "deposit" else -amount)
        assert (answer["amount"], answer["balance"]) == (amount, self.balances[user])
        self.remember(user, key, operation, {"amount": amount}, answer)

    # wagers ------------------------------------------------------------------------------------

    def wager_refusal(
        self, who: str, market: Market | None, outcome: int, stake: int
    ) -> str | None:
        """What stops a quote (preview_wager and place_wager alike), in the engine's order."""
        if market is None or (market.status == "draft" and who != ADMIN):
            return "market_not_found"
        if market.status != "open":
            return "market_not_open"
        if stake <= 0 or stake > MAX_STAKE:
            return "invalid_amount"
        if outcome not in market.outcomes:
            return "outcome_not_found"
        return None

    @rule(
        who=st.sampled_from([*BETTORS, "anon"]),
        choice=market_picks,
        index=st.integers(0, 4),
        stake=stakes,
    )
    def preview_wager(self, who: str, choice: tuple[int, str], index: int, stake: int) -> None:
        market_id = self.pick_market(choice, ["open"])
        market = self.model_markets.get(market_id)
        outcome = self.outcome_id(market, index)
        expected = self.wager_refusal(who, market, outcome, stake)
        answer = self.expect(
            expected, who, "preview_wager", market_id=market_id, outcome_id=outcome, stake=stake
        )
        if answer is None:
            return
        assert market is not None
        effective = market.effective_odds(outcome, stake)
        payout = math.floor(stake * Fraction(effective))
        assert {
            k: answer[k]
            for k in (
                "baseline_odds",
                "effective_odds",
                "cap",
                "estimated_payout",
                "max_payout",
                "takeout",
                "balance",
            )
        } == {
            "baseline_odds": market.odds(outcome),
            "effective_odds": effective,
            "cap": market.cap(outcome),
            "estimated_payout": payout,
            "max_payout": payout if market.kind == "fixed_odds" else market.max_payout,
            "takeout": stake * market.rake_bps // 10000 if market.kind == "parimutuel" else 0,
            "balance": None if who == "anon" else self.balances[who],
        }

    @rule(
        user=st.sampled_from(BETTORS),
        choice=market_picks,
        index=st.integers(0, 4),
        stake=stakes,
        offset=odds_offsets,
        key=keys,
    )
    def place_wager(
        self,
        user: str,
        choice: tuple[int, str],
        index: int,
        stake: int,
        offset: str | None,
        key: str | None,
    ) -> None:
        market_id = self.pick_market(choice, ["open"])
        self.place(user, market_id, index, stake, offset, key)

    @rule(
        user=st.sampled_from(BETTORS),
        pick=st.integers(0, 1000),
        index=st.integers(0, 3),
        stake=st.integers(min_value=1, max_value=2000),
        offset=st.sampled_from([None, "0"]),
    )
    def place_plain_wager(
        self, user: str, pick: int, index: int, stake: int, offset: str | None
    ) -> None:
        """The common case, more often: a sensible stake at the live odds on an open market."""
        market_id = self.pick_market((pick, "fitting"), ["open"])
        market = self.model_markets.get(market_id)
        index = index % len(market.outcomes) if market else index
        self.place(user, market_id, index, stake, offset, None)

    def place(
        self, user: str, market_id: int, index: int, stake: int, offset: str | None, key: str | None
    ) -> None:
        market = self.model_markets.get(market_id)
        outcome = self.outcome_id(market, index)
        expected = self.wager_refusal(user, market, outcome, stake)
        effective = None
        if expected is None:
            assert market is not None
            effective = market.effective_odds(outcome, stake)
        expected_odds = None
        if offset == "absurd":
            expected_odds = Decimal("1234.5")
        elif offset is not None:
            expected_odds = (effective or Decimal("2")) + Decimal(offset)
        if expected is None:
            assert market is not None and effective is not None
            payout = math.floor(stake * Fraction(effective))
            cap = market.cap(outcome)
            if expected_odds is not None and abs(expected_odds - effective) > TOLERANCE:
                expected = "odds_changed"
            elif cap is not None and stake > cap:
                expected = "stake_above_cap"
            elif payout > market.max_payout:
                expected = "payout_above_maximum"
            elif stake > self.balance(user):
                expected = "insufficient_funds"
        arguments = {
            "market_id": market_id,
            "outcome_id": outcome,
            "stake": stake,
            "expected_odds": expected_odds,
        }
        replayed, stored = self.replay(user, key, "place_wager", arguments)
        if replayed is not None or stored is not None:
            expected = replayed
        answer = self.expect(expected, user, "place_wager", **arguments, idempotency_key=key)
        if answer is None:
            return
        if stored is not None:
            assert answer == {**stored, "replayed": True}
            return
        assert market is not None and effective is not None
        self.credit(user, -stake)
        wager = Wager(
            id=answer["wager_id"],
            user=user,
            market_id=market.id,
            outcome_id=outcome,
            stake=stake,
            potential_payout=payout if market.kind == "fixed_odds" else None,
            approval="pending" if market.requires_approval else "accepted",
        )
        assert {
            k: answer[k] for k in ("odds", "potential_payout", "approval", "balance", "stake")
        } == {
            "odds": effective,
            "potential_payout": wager.potential_payout,
            "approval": wager.approval,
            "balance": self.balances[user],
            "stake": stake,
        }
        self.model_wagers[wager.id] = wager
        if wager.approval == "accepted":
            self.accept(market, wager)
        self.remember(user, key, "place_wager", arguments, answer)

    def accept(self, market: Market, wager: Wager) -> None:
        market.pools[wager.outcome_id] += wager.stake
        market.liability[wager.outcome_id] += wager.potential_payout or 0

    def decision(self, who: str, pick: int, which: str) -> tuple[int, Wager | None, str | None]:
        """A wager to approve or reject: mostly a pending one, sometimes any, or none at all;
        with the refusal the model expects before the engine looks at the market."""
        pending = sorted(w.id for w in self.model_wagers.values() if w.approval == "pending")
        every = sorted(self.model_wagers)
        chosen = pending if which == "pending" and pending else every
        wager_id = chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING
        wager = self.model_wagers.get(wager_id)
        if who != ADMIN:
            return wager_id, wager, "not_admin"
        if wager is None:
            return wager_id, wager, "wager_not_found"
        if wager.approval != "pending":
            return wager_id, wager, "wager_not_pending"
        return wager_id, wager, None

    @rule(who=admins, pick=st.integers(0, 1000), which=wager_picks)
    def approve_wager(self, who: str, pick: int, which: str) -> None:
        wager_id, wager, expected = self.decision(who, pick, which)
        if expected is None:
            assert wager is not None
            market = self.model_markets[wager.market_id]
            cap = market.cap(wager.outcome_id)
            if cap is not None and wager.stake > cap:
                expected = "stake_above_cap"
        answer = self.expect(expected, who, "approve_wager", wager_id=wager_id)
        if answer is None:
            return
        assert wager is not None
        wager.approval = "accepted"
        self.accept(self.model_markets[wager.market_id], wager)
        assert answer["approval"] == "accepted"

    @rule(who=admins, pick=st.integers(0, 1000), which=wager_picks)
    def reject_wager(self, who: str, pick: int, which: str) -> None:
        wager_id, wager, expected = self.decision(who, pick, which)
        answer = self.expect(expected, who, "reject_wager", wager_id=wager_id, reason="no")
        if answer is None:
            return
        assert wager is not None
        wager.approval, wager.settlement, wager.payout = "rejected", "void", wager.stake
        self.credit(wager.user, wager.stake)
        assert (answer["approval"], answer["settlement"]) == ("rejected", "void")

    # after every step --------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        assert_invariants(self.db)

    @invariant()
    def engine_equals_model(self) -> None:
        wallets = {
            self.names[user_id]: balance
            for user_id, balance in self.db.execute(
                "select user_id, balance from app.accounts where kind = 'user'"
            ).fetchall()
        }
        assert wallets == {u: b for u, b in self.balances.items() if b is not None}
        (house,) = self.db.execute(
            "select balance from app.accounts where kind = 'house'"
        ).fetchone() or (None,)
        assert house == self.house
        wagers = {
            row[0]: row[1:]
            for row in self.db.execute(
                "select id, user_id, stake, approval, settlement, payout, potential_payout"
                " from app.wagers"
            ).fetchall()
        }
        assert wagers == {
            w.id: (
                self.user_ids[w.user],
                w.stake,
                w.approval,
                w.settlement,
                w.payout,
                w.potential_payout,
            )
            for w in self.model_wagers.values()
        }
        markets: dict[int, str] = dict(
            self.db.execute("select id, status from app.markets").fetchall()
        )
        assert markets == {m.id: m.status for m in self.model_markets.values()}
        pools = {
            row[0]: row[1:]
            for row in self.db.execute(
                "select o.id, o.pool, o.liability from app.outcomes as o"
                " inner join app.markets as m on m.id = o.market_id"
                " where m.status in ('draft', 'open', 'closed')"
            ).fetchall()
        }
        assert pools == {
            o: (m.pools[o], m.liability[o])
            for m in self.model_markets.values()
            if m.status in ("draft", "open", "closed")
            for o in m.outcomes
        }


def test_random_sequences_keep_the_books(fresh_db: Callable[[], str]) -> None:
    database = Database(fresh_db())

    class Run(Books):
        pass

    Run.database = database
    try:
        run_state_machine_as_test(
            Run,
            settings=settings(
                max_examples=100,
                stateful_step_count=40,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        database.close()


# Two corners the random runs reach rarely, pinned down -------------------------------------------


def answer_or_key(actor: Actor, function: str, **args: Any) -> tuple[dict[str, Any] | None, str]:
    """(answer, "") when acknowledged, (None, key) when refused with a catalog key; any other
    error (an overflow, a check constraint) fails the test."""
    try:
        return actor.call(function, **args), ""
    except psycopg.Error as error:
        key = refusal(error)
        assert key in CATALOG, (
            f"{function}({args}): {error.sqlstate} {error.diag.message_primary} "
            f"{error.diag.context}"
        )
        return None, key


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_the_largest_stakes_are_quoted_or_refused_by_key(
    fresh_db: Callable[[], str], kind: str
) -> None:
    """Stakes up to 2^63 - 1 minor units are valid bigints. Up to 10^15, preview_wager quotes
    them and place_wager refuses them for the cap or the payout ceiling; above, both refuse them
    as invalid_amount; on an empty market and on one with a wager. Never an overflow."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created = ada.call("create_market", title="Huge", outcomes=["a", "b"], kind=kind)
        defaults: dict[str, Any] = dict(DEFAULTS)
        market = Market(
            id=created["id"],
            kind=kind,
            outcomes=[o["outcome_id"] for o in created["outcomes"]],
            status="open",
            requires_approval=False,
            **defaults,
        )
        market.pools = dict.fromkeys(market.outcomes, 0)
        market.liability = dict.fromkeys(market.outcomes, 0)
        first = market.outcomes[0]
        too_much = "stake_above_cap" if kind == "fixed_odds" else "payout_above_maximum"
        for _ in range(2):
            for stake in (MAX_STAKE, MAX_STAKE + 1, BIGINT_MAX - 1, BIGINT_MAX):
                args = {"market_id": market.id, "outcome_id": first, "stake": stake}
                quote, key = answer_or_key(bea, "preview_wager", **args)
                if stake > MAX_STAKE:
                    assert key == "invalid_amount"
                else:
                    assert quote is not None, key
                    assert quote["effective_odds"] == market.effective_odds(first, stake)
                _, key = answer_or_key(bea, "place_wager", **args)
                assert key == ("invalid_amount" if stake > MAX_STAKE else too_much)
            placed = bea.call("place_wager", market_id=market.id, outcome_id=first, stake=100)
            market.pools[first] += 100
            market.liability[first] += placed["potential_payout"] or 0
        assert_invariants(database.db)
    finally:
        database.close()


def test_odds_above_one_hundred_million_are_quoted_and_taken(fresh_db: Callable[[], str]) -> None:
    """A parimutuel market without rake, 1,000,000.00 on one outcome and nothing on the other:
    a stake of 0.01 on the empty outcome gets odds of 100,000,001. The quote and the wager are
    answered (or refused with a catalog key), never a numeric overflow."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created = ada.call(
            "create_market",
            title="Long shot",
            outcomes=["favourite", "outsider"],
            kind="parimutuel",
            options={"rake_bps": 0, "max_payout": 10**15},
        )
        favourite, outsider = (o["outcome_id"] for o in created["outcomes"])
        for _ in range(100):
            bea.call("deposit", amount=MAX_DEPOSIT)
        bea.call("place_wager", market_id=created["id"], outcome_id=favourite, stake=10**8)
        args = {"market_id": created["id"], "outcome_id": outsider, "stake": 1}
        quote, key = answer_or_key(bea, "preview_wager", **args)
        assert key == ""
        assert quote is not None
        assert quote["effective_odds"] == pari_odds(1, 10**8 + 1, 0) == Decimal(100_000_001)
        placed, key = answer_or_key(bea, "place_wager", **args)
        if placed is not None:
            assert (placed["odds"], placed["balance"]) == (Decimal(100_000_001), 9999)
        assert_invariants(database.db)
    finally:
        database.close()


EXTREME_OPTIONS = [
    {"margin": 10**15, "commission_bps": 9999},
    {"margin": 10**15, "min_cap": 10**15, "max_payout": 10**15},
    {"virtual_stake": 10**15, "commission_bps": 0, "margin": 0, "min_cap": 1},
    {"virtual_stake": 1, "commission_bps": 9999, "max_payout": 1},
    {"rake_bps": 2500, "max_payout": 10**15},
]


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
@pytest.mark.parametrize("options", EXTREME_OPTIONS, ids=lambda o: ",".join(o))
def test_every_market_the_options_allow_is_created_and_quoted(
    fresh_db: Callable[[], str], kind: str, options: dict[str, int]
) -> None:
    """create_market documents each option's range; every market within them can be created,
    quoted, bet on and settled, each call answered or refused with a catalog key."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created, key = answer_or_key(
            ada, "create_market", title="Edge", outcomes=["a", "b", "c"], kind=kind, options=options
        )
        assert created is not None, key
        first, second, _ = (o["outcome_id"] for o in created["outcomes"])
        for outcome, stake in [(first, 1), (first, MAX_STAKE), (second, 5000), (second, 1)]:
            args = {"market_id": created["id"], "outcome_id": outcome, "stake": stake}
            answer_or_key(bea, "preview_wager", **args)
            answer_or_key(bea, "place_wager", **args)
        answer_or_key(ada, "settle_market", market_id=created["id"], outcome_id=first)
        assert_invariants(database.db)
    finally:
        database.close()
