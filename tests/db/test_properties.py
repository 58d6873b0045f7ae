"""Random sequences of operations, checked against a Python model of the books after every step.

A hypothesis state machine drives a database (its own, emptied before each example)
through markets of both kinds (2 to 4 outcomes, random options, some holding wagers for
approval), deposits, withdrawals, previews, wagers (stakes zero, negative, huge; expected odds
exact, a little off, stale), approvals, rejections, opening, closing, settling and voiding, each
as the right persona and now and then as the wrong one. Since issue 5 also: corrections
(unsettle_market, resettle_market, void_wager, with the debt rule when a winner spent the
winnings), settlement review (preview_settlement, require_settlement_confirmation,
propose_settlement, confirm_settlement by the other admin or refused as same_admin,
cancel_settlement_proposal, and the gate that refuses a direct settle_market), responsible play
(daily stake and deposit limits set by every bettor, tightened at once or left pending for the
cooling-off; self-exclusion by cal, the one bettor who may exclude himself, since it lasts the
rest of the example), and the scheduler (closes_at moved into the past as the superuser, then
app.scheduler_tick, sometimes while another node holds its advisory lock). Every call is one
committed transaction (tests/db/actors.py). The machine runs twice: with every rule, then
without those that mostly meet refusals (DEEP), whose steps then go to the deeper states (a
winner who spent the winnings before a correction, a debt collected, a confirmation that differs
from its proposal). Both runs are derandomized: the same examples every time, so a failure
reproduces; the corners they reach rarely have tests of their own at the end. The same examples,
though, only for the same draws: now and then Hypothesis draws a constant found in the project's
modules that the process has imported (wagerbase's, not the tests'), so the file run alone and the
whole suite (CI) run different sequences, and any change to a rule, the engine or those modules
shifts them too. Run a suite's failure again as the suite ran it. So a path of REACHED that a
chain of rules reaches only rarely gets a rule that walks the chain on purpose (held_withdrawal,
propose_settlement's own confirmation), rather than one sequence's luck.

The model is written again from the documented formulas (docs/engine.md, rpc/02_odds.sql,
docs/corrections.md, docs/settlement-review.md, docs/responsible-play.md, docs/depth.md), not read
back from the engine: it predicts for every call either the answer or the exact refusal key, and
keeps each wallet's balance from the money each acknowledged call moves: deposits, withdrawals,
stakes, refunds (rejection, pending wagers at settlement, void, void_wager) and settlement payouts
(fixed odds: the payout locked at placement; parimutuel: rake = floor(total * bps / 10000),
payout = floor(stake * net / winning pool), everything refunded when nothing is on the winner),
their reversal (each winner debited what was paid, at most what the wallet holds; the rest a debt
the house carries) and the collection of debts (resettle_market and void_wager take a debtor's new
credit from that market toward the debt, oldest debt first). After every step the engine's
invariants must hold and its balances, debts, wagers, markets, proposals, limits, pools and pool
snapshots must equal the model's. A refusal that is not in the error catalog fails the test, and
so does a run that never reaches one of the paths listed in REACHED.

Since issue 12 also the real-money settings (update_settings switching self-service deposits and
withdrawal approval), credits (credit_wallet, a deposit under the bettor's limits, once per key
whoever sends it) and withdrawals held for an admin, approved or rejected once.
"""

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    precondition,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql
from psycopg.types.json import set_json_loads

from tests.db.actors import Actor, catalog_keys, refusal
from tests.db.helpers import RECORD
from tests.db.invariants import assert_invariants
from tests.db.personas import create_user
from tests.db.side_effects import assert_side_effects_match
from tests.support.formulas import fixed_cap, fixed_odds, pari_odds, round4

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
MISSING = 10**12  # an id no market, outcome, wager or proposal has
# app.config.snapshot_interval_seconds is set to its maximum for the run, so the scheduler takes
# an interval snapshot of an open market exactly when it has none yet (never a second one: no
# example lasts a day)
SNAPSHOT_INTERVAL = 86400

# the owner of credit_wallet's idempotency keys in the model (one space for every admin)
CREDITS = "credits"
# bea and bob bet; so does cal, who alone may exclude himself (for the rest of the example)
BETTORS = ["bea", "bob", "cal"]
EXCLUDER = "cal"
ADMIN = "ada"
# the second admin: four eyes on settlement (confirm_settlement refuses the proposer)
SECOND_ADMIN = "abe"
ADMINS = (ADMIN, SECOND_ADMIN)

# Paths a run must reach at least once (counted in Database.reached), so that the state machine
# cannot pass by never getting there.
REACHED = {
    "settled",
    "unsettled",
    "resettled",
    "debt recorded",
    "debt collected",
    "wager voided",
    "proposal confirmed",
    "confirmation differs from its proposal",
    "same_admin",
    "settlement_needs_confirmation",
    "proposal cancelled",
    "proposal_exists",
    "closed by the scheduler",
    "scheduler lock held elsewhere",
    "self_excluded",
    "self_exclusion_locked",
    "daily_stake_limit_reached",
    "daily_deposit_limit_reached",
    "limit loosening pending",
    "deposits_disabled",
    "withdrawal approved",
    "withdrawal rejected",
    "withdrawal_not_pending",
    "credited",
}


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
    winner: int | None = None
    total_paid: int = 0  # the current settlement's
    requires_confirmation: bool = False
    proposal: int | None = None  # the pending proposal's id
    expired: bool = False  # closes_at has passed
    closes: int = 0  # open -> closed transitions, each with one close snapshot per outcome
    snapshotted: bool = False  # the scheduler took its interval snapshot

    @property
    def total(self) -> int:
        return sum(self.pools.values())

    @property
    def taking_wagers(self) -> bool:
        return self.status == "open" and not self.expired

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
    voided: bool = False  # by void_wager


@dataclass
class Debt:
    """A row of app.user_debts: what a reversal could not take back from a winner."""

    user: str
    market_id: int
    amount: int


@dataclass
class Proposal:
    id: int
    market_id: int
    outcome_id: int
    proposer: str
    preview: dict[str, Any]  # the figures it was proposed with
    status: str = "pending"
    decided_by: str | None = None


@dataclass
class Limit:
    """One daily limit of a user: in force now, and a loosening waiting for its cooling-off."""

    current: int | None = None
    pending: bool = False
    pending_value: int | None = None


@dataclass
class Limits:
    stake: Limit = field(default_factory=Limit)
    deposit: Limit = field(default_factory=Limit)
    excluded_until: Decimal | None = None  # seconds since the epoch; Infinity for good


def epoch(moment: datetime) -> Decimal:
    """A timestamptz as extract(epoch from ...) reads it: seconds, to the microsecond."""
    return Decimal((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)).scaleb(
        -6
    )


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
# ada and abe are the admins; bea, a bettor, calling an admin function is refused with not_admin
admins = st.sampled_from([ADMIN] * 4 + [SECOND_ADMIN] * 2 + ["bea"])
# who confirms a proposal: mostly the other admin (four eyes), sometimes the proposer
# (same_admin) or a bettor (not_admin)
confirmers = st.sampled_from(["other"] * 2 + ["proposer"] * 2 + ["bea"])
# how far the expected odds are from the live odds: None sends none; 0 exactly; 0.005 and
# -0.009 are within the tolerance; 0.012 and more are not (stale); 'absurd' is no price at all
odds_offsets = st.sampled_from(
    [None, None, None, "0", "0", "0.005", "-0.009", "0.012", "-0.02", "0.5", "absurd"]
)
# which wager an admin decides on: a pending one (when there is one), any, or a missing one
wager_picks = st.sampled_from(["pending"] * 6 + ["any", "missing"])
# which wager void_wager is about: an accepted, open one (when there is one; now and then one of
# a user who owes a debt from its market, or one of a market with a pending proposal), any, or
# none
void_picks = st.sampled_from(["voidable"] * 4 + ["debtor", "proposed", "any", "missing"])
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
# an admin's reason: blank now and then (invalid_argument)
reasons = st.sampled_from(["wrong result"] * 5 + ["  "])
# a proposal's note: none, a note, blank (none), one over 500 characters (invalid_argument)
notes = st.sampled_from([None, None, "checked twice", "   ", "n" * 501])
# which proposal confirm_settlement names: none (the pending one), the pending one by id, an old
# one (confirmed or cancelled), or none that exists
proposal_picks = st.sampled_from([None] * 4 + ["pending", "old", "missing"])
# a daily limit: none (removes it), 0 (no wager or deposit at all), amounts, or negative
limit_amounts = st.sampled_from([None, 0, 500, 1500, 1500, 3000, 3000, 6000, 6000, -1])
# the end of a self-exclusion, from the example's start: in a day, in a month, for good, an hour
# ago or none (both invalid_argument)
exclusion_ends = st.sampled_from(["day", "day", "month", "month", "infinity", "past", None])


# the common case, often: one to four sensible stakes at the live odds, each (bettor, market pick,
# outcome pick, stake, expected odds)
plain_bets = st.lists(
    st.tuples(
        st.sampled_from(BETTORS),
        st.integers(0, 1000),
        st.integers(0, 3),
        st.integers(min_value=1, max_value=2000),
        st.sampled_from([None, "0"]),
    ),
    min_size=1,
    max_size=4,
)

# which market a call is about: mostly one whose status allows the call (when there is one),
# sometimes any market, or one that does not exist
market_picks = st.tuples(
    st.integers(0, 1000), st.sampled_from(["fitting"] * 6 + ["any", "missing"])
)


# What the model is compared with after every step, read as the superuser.
ENGINE_STATE: dict[str, str] = {
    "wallets": "select user_id, balance from app.accounts where kind = 'user'",
    "house": "select balance from app.accounts where kind = 'house'",
    "debts": """select d.user_id, r.market_id, d.amount from app.user_debts as d
                inner join app.ledger_reversals as r on r.id = d.reversal_id order by d.id""",
    "wagers": """select id, user_id, stake, approval, settlement, payout, potential_payout,
                        voided_version is not null
                 from app.wagers""",
    "markets": """select id, status, winning_outcome_id, settlement_requires_confirmation
                  from app.markets""",
    "proposals": """select id, market_id, outcome_id, status, proposed_by, decided_by
                    from app.settlement_proposals""",
    "pools": """select o.id, o.pool, o.liability from app.outcomes as o
                inner join app.markets as m on m.id = o.market_id
                where m.status in ('draft', 'open', 'closed')""",
    "snapshots": "select market_id, reason, count(*) from app.pool_snapshots group by 1, 2",
    "withdrawals": "select id, user_id, amount, status from app.withdrawals",
    "limits": """select user_id, daily_stake_limit, pending_daily_stake_limit,
                        pending_daily_stake_limit_at is not null, daily_deposit_limit,
                        pending_daily_deposit_limit, pending_daily_deposit_limit_at is not null,
                        extract(epoch from self_excluded_until)
                 from app.play_limits""",
}


class Database:
    """The test's one database, its personas, and a way back to how it was.

    Made once per test: the users (ada and abe the admins, bea, bob and cal the bettors) are
    created first and the snapshot interval set (SNAPSHOT_INTERVAL), then every table that holds
    rows is copied into the schema `pristine`. Each example starts from `reset()`: every table of
    `app` and `auth` emptied, the copied rows put back. Sequences go on counting, so ids never
    repeat within the test. `node` is a second superuser connection: another API node, which
    holds the scheduler's advisory lock when a rule asks it to."""

    def __init__(self, url: str) -> None:
        self.db = psycopg.connect(url, autocommit=True)
        self.node = psycopg.connect(url, autocommit=False)
        self.reached: Counter[str] = Counter()
        self.user_ids = {
            name: create_user(self.db, name, admin=name in ADMINS) for name in [*BETTORS, *ADMINS]
        }
        self.actors = {
            name: Actor(url, user_id, admin=name in ADMINS, name=name)
            for name, user_id in self.user_ids.items()
        }
        self.actors["anon"] = Actor(url, None, name="anon")
        for actor in self.actors.values():
            set_json_loads(partial(json.loads, parse_float=Decimal), actor.conn)
            # thousands of tiny commits: durability is not what this test is about
            actor.conn.execute("set synchronous_commit = off")
            actor.conn.commit()
        self.db.execute("set synchronous_commit = off")
        self.db.execute("update app.config set snapshot_interval_seconds = %s", [SNAPSHOT_INTERVAL])
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
        # delete rather than truncate (a truncate makes new files for every table and index, and
        # every session then plans again; the tables hold a few hundred rows at most), with
        # triggers off (the ledger is append-only, foreign keys would impose an order), as the
        # superuser may
        with self.db.transaction():
            self.db.execute("set local session_replication_role = replica")
            for table in self.tables:
                self.db.execute(sql.SQL("delete from {}").format(table))
            for table, copy in self.kept:
                self.db.execute(
                    sql.SQL("insert into {} overriding system value select * from {}").format(
                        table, copy
                    )
                )

    def close(self) -> None:
        for actor in self.actors.values():
            actor.close()
        self.node.close()
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
        self.by_text = {str(user_id): name for name, user_id in self.user_ids.items()}
        self.balances: dict[str, int | None] = dict.fromkeys(self.user_ids)
        self.house = 0
        self.model_markets: dict[int, Market] = {}
        self.model_wagers: dict[int, Wager] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, dict[str, Any], dict[str, Any]]] = {}
        self.debts: list[Debt] = []  # in the order they were recorded (their ids)
        self.proposals: dict[int, Proposal] = {}
        self.limits: dict[str, Limits] = {}
        self.deposited: Counter[str] = Counter()  # all within the rolling 24 hours
        # the real-money settings (docs/operations.md) and the withdrawals that waited for an
        # admin: id -> [user, amount, status]
        self.deposits_open = True
        self.approval = False
        self.withdrawals: dict[int, list[Any]] = {}
        self.started = datetime.now(UTC)

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
            self.reach(key)
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

    def reach(self, path: str) -> None:
        self.database.reached[path] += 1

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

    def pick_where(self, choice: tuple[int, str], fits: Callable[[Market], bool]) -> int:
        pick, which = choice
        every = sorted(self.model_markets)
        fitting = [i for i in every if fits(self.model_markets[i])]
        chosen = fitting if which == "fitting" and fitting else every
        return chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING

    def some(self, fits: Callable[[Market], bool]) -> bool:
        return any(fits(m) for m in self.model_markets.values())

    def voidable(self) -> list[int]:
        """The wagers void_wager takes: accepted, open, of an open or closed market."""
        return sorted(
            w.id
            for w in self.model_wagers.values()
            if w.approval == "accepted"
            and w.settlement == "open"
            and self.model_markets[w.market_id].status in ("open", "closed")
        )

    def pick_market(self, choice: tuple[int, str], statuses: list[str]) -> int:
        return self.pick_where(choice, lambda m: m.status in statuses)

    def status_refusal(self, market: Market, allowed: list[str]) -> str | None:
        """app._require_status: already_settled for a settled market, else invalid_market_state."""
        if market.status in allowed:
            return None
        return "already_settled" if market.status == "settled" else "invalid_market_state"

    # responsible play, as the model sees it -----------------------------------------------------

    def excluded(self, user: str) -> bool:
        """Every exclusion the run sets ends at least a day after the example started."""
        limits = self.limits.get(user)
        return limits is not None and limits.excluded_until is not None

    def stake_used(self, user: str) -> int:
        """Stakes of the last 24 hours (all of the example's): every wager but rejected ones."""
        return sum(
            w.stake
            for w in self.model_wagers.values()
            if w.user == user and w.approval != "rejected"
        )

    def limit(self, user: str, which: str, *, unlimited: int) -> int:
        """The daily limit in force (a pending loosening never is, within an example), or
        `unlimited` when there is none."""
        limits = self.limits.get(user)
        current = None if limits is None else getattr(limits, which).current
        return unlimited if current is None else current

    # markets -----------------------------------------------------------------------------------

    @initialize(
        fixed=st.tuples(st.integers(2, 4), options),
        parimutuel=st.tuples(st.integers(2, 4), options),
        bets=st.lists(plain_bets, max_size=3),
        reviewed=st.sampled_from([None, "fixed_odds", "parimutuel"]),
    )
    def opening(
        self,
        fixed: tuple[int, dict[str, Any]],
        parimutuel: tuple[int, dict[str, Any]],
        bets: list[list[tuple[str, int, int, int, str | None]]],
        reviewed: str | None,
    ) -> None:
        """A market of each kind, open (one of them, now and then, settled only through the
        review), and the first wagers on them."""
        for kind, (count, options) in (("fixed_odds", fixed), ("parimutuel", parimutuel)):
            self.make_market(ADMIN, kind, count, {**options, "status": "open"}, None)
            if kind == reviewed:
                self.require_settlement_confirmation(
                    ADMIN, (len(self.model_markets) - 1, "any"), True
                )
        for some in bets:
            self.place_plain_wagers(some)

    @rule(
        kind=st.sampled_from(["fixed_odds", "parimutuel"]), count=st.integers(2, 4), options=options
    )
    def open_another_market(self, kind: str, count: int, options: dict[str, Any]) -> None:
        """Markets close, settle and void; new ones keep the betting going."""
        self.make_market(ADMIN, kind, count, {**options, "status": "open"}, None)

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
        self.make_market(who, kind, count, options, bad)

    def make_market(
        self,
        who: str,
        kind: str,
        count: int,
        options: dict[str, Any],
        bad: tuple[str, Any] | None,
    ) -> None:
        expected = None
        if who not in ADMINS:
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
        if who not in ADMINS:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif "reason" in args and not args["reason"].strip():
            expected = "invalid_argument"
        else:
            expected = self.status_refusal(market, allowed)
            if expected is None and function == "open_market" and market.expired:
                expected = "invalid_market_state"  # its closes_at has passed
        return market, self.expect(expected, who, function, market_id=market_id, **args)

    def close(self, market: Market) -> None:
        """open -> closed, whoever does it: one close snapshot of every outcome."""
        assert market.status == "open"
        market.status = "closed"
        market.closes += 1

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
            self.close(market)

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
        assert answer["debts_collected"] == self.collect_debts(market.id)
        # a pending proposal stays pending (void_market does not know about proposals)
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

    @precondition(lambda self: self.some(lambda m: m.status in ("draft", "open") and not m.expired))
    @rule(choice=market_picks)
    def pass_closing_time(self, choice: tuple[int, str]) -> None:
        """As the superuser, as time would: the market's closes_at is now past. It takes no wager
        from now on, a draft can no longer open, and the scheduler closes it if it is open."""
        market_id = self.pick_market(choice, ["draft", "open"])
        market = self.model_markets.get(market_id)
        if market is None:
            return
        self.db.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = %s",
            [market_id],
        )
        market.expired = True

    @rule(busy=st.sampled_from([False] * 4 + [True]))
    def scheduler_tick(self, busy: bool) -> None:
        """One round of a node's scheduler (app.scheduler_tick, as the superuser); when `busy`,
        another node holds the advisory lock and this round does nothing."""
        node = self.database.node
        if busy:
            node.execute("select pg_advisory_xact_lock(hashtext('wagerbase.scheduler'))")
        try:
            row = self.db.execute("select app.scheduler_tick()").fetchone()
        finally:
            node.rollback()
        assert row is not None
        tick = {k: row[0][k] for k in ("locked", "closed", "snapshots")}
        if busy:
            assert tick == {"locked": False, "closed": [], "snapshots": 0}
            self.reach("scheduler lock held elsewhere")
            return
        due = sorted(m.id for m in self.model_markets.values() if m.status == "open" and m.expired)
        for market_id in due:
            self.close(self.model_markets[market_id])
            self.reach("closed by the scheduler")
        fresh = [m for m in self.model_markets.values() if m.status == "open" and not m.snapshotted]
        for market in fresh:
            market.snapshotted = True
        assert tick == {
            "locked": True,
            "closed": due,
            "snapshots": sum(len(m.outcomes) for m in fresh),
        }

    # settlement --------------------------------------------------------------------------------

    def open_wagers(self, market: Market, approval: str) -> list[Wager]:
        return [
            w
            for w in self.model_wagers.values()
            if w.market_id == market.id and w.approval == approval and w.settlement == "open"
        ]

    def figures(
        self, market: Market, winner: int
    ) -> tuple[dict[str, Any], dict[int, tuple[str, int]]]:
        """What settling `market` with `winner` now does: the settlement record (RECORD and
        pending_refunded) and each accepted wager's (settlement, payout)."""
        accepted = self.open_wagers(market, "accepted")
        pending = self.open_wagers(market, "pending")
        total = sum(w.stake for w in accepted)
        winning = sum(w.stake for w in accepted if w.outcome_id == winner)
        assert (total, winning) == (market.total, market.pools[winner])
        refund_all = market.kind == "parimutuel" and winning == 0
        rake = total * market.rake_bps // 10000 if market.kind == "parimutuel" and winning else 0
        net = total - rake
        results: dict[int, tuple[str, int]] = {}
        for wager in accepted:
            if refund_all:
                results[wager.id] = ("void", wager.stake)
            elif wager.outcome_id != winner:
                results[wager.id] = ("lost", 0)
            elif market.kind == "fixed_odds":
                assert wager.potential_payout is not None
                results[wager.id] = ("won", wager.potential_payout)
            else:
                results[wager.id] = ("won", wager.stake * net // winning)
        paid = sum(payout for _, payout in results.values())
        won = [w for w in accepted if results[w.id][0] == "won"]
        record = {
            "total_pool": total,
            "rake": rake,
            "net_pool": net,
            "winning_pool": winning,
            "total_paid": paid,
            "dust": net - paid if market.kind == "parimutuel" else 0,
            "house_result": total - paid,
            "refunded": refund_all,
            "winners_count": len(won),
            "losers_count": sum(1 for w in accepted if results[w.id][0] == "lost"),
            "winning_users": len({w.user for w in won}),
            "pending_refunded": {"wagers": len(pending), "amount": sum(w.stake for w in pending)},
        }
        assert set(record) == {*RECORD, "pending_refunded"}
        return record, results

    def pay_out(self, market: Market, winner: int) -> dict[str, Any]:
        """settle_market's work (also confirm_settlement's and resettle_market's): close an open
        market, refund the pending wagers, pay the accepted ones, then collect the market's debts
        from what that paid (the debt rule). Returns the record with `debts_collected`."""
        record, results = self.figures(market, winner)
        if market.status == "open":
            self.close(market)
        self.refund(market, pending_only=True)
        for wager_id, (settlement, payout) in results.items():
            wager = self.model_wagers[wager_id]
            wager.settlement, wager.payout = settlement, payout
            self.credit(wager.user, payout)
        self.house += record["house_result"]
        market.status, market.winner, market.total_paid = "settled", winner, record["total_paid"]
        self.reach("settled")
        return {**record, "debts_collected": self.collect_debts(market.id)}

    def unsettle(self, market: Market) -> dict[str, Any]:
        """unsettle_market's work: every payout of the settlement taken back, each winner debited
        at most what the wallet holds, the rest a debt the house carries; the wagers the
        settlement decided open again (not those void_wager voided). Returns the answer's
        figures, with users by name: (reversed, debited, debt, wagers)."""
        settled = [
            w
            for w in self.model_wagers.values()
            if w.market_id == market.id
            and w.approval == "accepted"
            and w.settlement != "open"
            and not w.voided
        ]
        paid: dict[str, int] = defaultdict(int)
        counted: Counter[str] = Counter()
        for wager in settled:
            assert wager.payout is not None
            paid[wager.user] += wager.payout
            counted[wager.user] += 1
        assert sum(paid.values()) == market.total_paid
        users: dict[str, tuple[int, int, int, int]] = {}
        for user, amount in paid.items():
            debited = min(self.balance(user), amount)
            self.credit(user, -debited)
            users[user] = (amount, debited, amount - debited, counted[user])
            if amount > debited:
                self.debts.append(Debt(user, market.id, amount - debited))
                self.reach("debt recorded")
        debited_total = sum(u[1] for u in users.values())
        self.house += debited_total - sum(w.stake for w in settled)
        for wager in settled:
            wager.settlement, wager.payout = "open", None
        previous, reversed_ = market.winner, market.total_paid
        market.status, market.winner, market.total_paid = "closed", None, 0
        self.reach("unsettled")
        return {
            "previous_winning_outcome_id": previous,
            "reversed": reversed_,
            "debited": debited_total,
            "debt": sum(u[2] for u in users.values()),
            "users": users,
        }

    def unsettled_answer(self, answer: dict[str, Any]) -> dict[str, Any]:
        """An unsettle answer in the model's terms (users by name)."""
        return {
            "previous_winning_outcome_id": answer["previous_winning_outcome_id"],
            "reversed": answer["reversed"],
            "debited": answer["debited"],
            "debt": answer["debt"],
            "users": {
                self.by_text[row["user_id"]]: (
                    row["reversed"],
                    row["debited"],
                    row["debt"],
                    row["wagers"],
                )
                for row in answer["users"]
            },
        }

    def collect_debts(self, market_id: int, user: str | None = None) -> int:
        """app._collect_debts: each open debt of the market (of `user` only, if given) takes
        what the debtor's wallet holds beyond the debts recorded before it, oldest first.
        Returns the amount collected, which goes to the house."""
        owed_before: Counter[str] = Counter()
        takes: list[tuple[Debt, int]] = []
        for debt in self.debts:
            if debt.market_id != market_id or (user is not None and debt.user != user):
                continue
            take = max(0, min(debt.amount, self.balance(debt.user) - owed_before[debt.user]))
            owed_before[debt.user] += debt.amount
            takes.append((debt, take))
        collected = 0
        for debt, take in takes:
            self.credit(debt.user, -take)
            debt.amount -= take
            collected += take
        self.debts = [d for d in self.debts if d.amount > 0]
        self.house += collected
        if collected:
            self.reach("debt collected")
        return collected

    @rule(
        pick=st.integers(0, 1000),
        index=st.integers(0, 3),
        backed=st.sampled_from([True, True, True, False]),
    )
    def settle_plain_market(self, pick: int, index: int, backed: bool) -> None:
        """The common case, more often: an admin settles an open or closed market that holds
        wagers, mostly with an outcome someone backed; when it needs a confirmation, through the
        review: the other admin confirms its pending proposal, or an admin proposes."""
        staked = {w.market_id for w in self.model_wagers.values() if w.settlement == "open"}
        market_id = self.pick_where(
            (pick, "fitting"), lambda m: m.status in ("open", "closed") and m.id in staked
        )
        market = self.model_markets.get(market_id)
        if market is None or market.status not in ("open", "closed"):
            return
        choices = market.outcomes
        if backed:
            choices = (
                sorted({w.outcome_id for w in self.open_wagers(market, "accepted")}) or choices
            )
        winner = choices[index % len(choices)]
        if market.proposal is not None:
            proposer = self.proposals[market.proposal].proposer
            self.confirm(SECOND_ADMIN if proposer == ADMIN else ADMIN, market_id, None)
        elif market.requires_confirmation:
            self.propose(ADMIN, market_id, winner, None)
        else:
            self.settle_as(ADMIN, market_id, winner)

    @rule(who=admins, choice=market_picks, index=st.integers(0, 4))
    def settle_market(self, who: str, choice: tuple[int, str], index: int) -> None:
        market_id = self.pick_market(choice, ["open", "closed"])
        self.settle_as(who, market_id, self.outcome_id(self.model_markets.get(market_id), index))

    def settlement_refusal(self, who: str, market: Market | None, winner: int) -> str | None:
        """The refusal settle, preview and propose share, in the engine's order: the caller, the
        market, its status, the outcome; None when those pass."""
        if who not in ADMINS:
            return "not_admin"
        if market is None:
            return "market_not_found"
        if (refused := self.status_refusal(market, ["open", "closed"])) is not None:
            return refused
        if winner not in market.outcomes:
            return "outcome_not_found"
        return None

    def settle_as(self, who: str, market_id: int, winner: int) -> None:
        market = self.model_markets.get(market_id)
        expected = self.settlement_refusal(who, market, winner)
        gated = market is not None and (market.requires_confirmation or market.proposal is not None)
        if expected is None and gated:
            expected = "settlement_needs_confirmation"  # the gate on app.settlements (0003)
        answer = self.expect(expected, who, "settle_market", market_id=market_id, outcome_id=winner)
        if answer is None:
            return
        assert market is not None
        record = self.pay_out(market, winner)
        assert {k: answer[k] for k in record} == record

    @precondition(lambda self: self.some(lambda m: m.status in ("open", "closed")))
    @rule(who=admins, choice=market_picks, index=st.integers(0, 4))
    def preview_settlement(self, who: str, choice: tuple[int, str], index: int) -> None:
        market_id = self.pick_market(choice, ["open", "closed"])
        market = self.model_markets.get(market_id)
        winner = self.outcome_id(market, index)
        expected = self.settlement_refusal(who, market, winner)
        answer = self.expect(
            expected, who, "preview_settlement", market_id=market_id, outcome_id=winner
        )
        if answer is None:
            return
        assert market is not None
        record, results = self.figures(market, winner)
        assert {k: answer[k] for k in record} == record
        assert {w["wager_id"]: (w["settlement"], w["payout"]) for w in answer["wagers"]} == results
        per_unit = record["net_pool"] if market.kind == "parimutuel" else record["total_paid"]
        winning = record["winning_pool"]
        assert answer["payout_per_unit"] == (
            round4(Fraction(per_unit, winning)) if winning else None
        )

    # corrections -------------------------------------------------------------------------------

    @precondition(lambda self: self.some(lambda m: m.status == "settled"))
    @rule(
        pick=st.integers(0, 1000),
        spend=st.sampled_from(["all", "all", "most"]),
        index=st.one_of(st.none(), st.integers(0, 3)),
    )
    def correct_after_the_winner_spent(self, pick: int, spend: str, index: int | None) -> None:
        """The case the debt rule is for: a winner of a settled market takes out all of the
        money (or all but 1.00), then an admin unsettles the market (index None) or resettles it
        with another outcome."""
        paid = {
            (w.market_id, w.user)
            for w in self.model_wagers.values()
            if w.approval == "accepted" and not w.voided and w.payout
        }
        settled = sorted(m.id for m in self.model_markets.values() if m.status == "settled")
        markets = [i for i in settled if any(p[0] == i for p in paid)] or settled
        market_id = markets[pick % len(markets)]
        market = self.model_markets[market_id]
        winners = sorted(user for m, user in paid if m == market_id)
        if winners:
            user = winners[pick % len(winners)]
            keep = 0 if spend == "all" else min(100, self.balance(user))
            self.transfer(user, "withdraw", self.balance(user) - keep, None)
        if index is None:
            self.unsettle_as(ADMIN, market_id, "wrong result")
        else:
            others = [o for o in market.outcomes if o != market.winner]
            self.resettle_as(ADMIN, market_id, others[index % len(others)], "wrong result")

    @precondition(lambda self: self.some(lambda m: m.status == "settled"))
    @rule(who=admins, choice=market_picks, reason=reasons)
    def unsettle_market(self, who: str, choice: tuple[int, str], reason: str) -> None:
        self.unsettle_as(who, self.pick_market(choice, ["settled"]), reason)

    def correction_refusal(self, who: str, market: Market | None, reason: str) -> str | None:
        """The refusal unsettle and resettle share, in the engine's order: the caller, the
        reason, the market, its status; None when those pass."""
        if who not in ADMINS:
            return "not_admin"
        if not reason.strip():
            return "invalid_argument"
        if market is None:
            return "market_not_found"
        if market.status != "settled":
            return "not_settled"
        return None

    def unsettle_as(self, who: str, market_id: int, reason: str) -> None:
        market = self.model_markets.get(market_id)
        expected = self.correction_refusal(who, market, reason)
        answer = self.expect(expected, who, "unsettle_market", market_id=market_id, reason=reason)
        if answer is None:
            return
        assert market is not None
        assert self.unsettled_answer(answer) == self.unsettle(market)

    @precondition(lambda self: self.some(lambda m: m.status == "settled"))
    @rule(
        who=admins,
        choice=market_picks,
        index=st.integers(0, 3),
        which=st.sampled_from(["other"] * 5 + ["same", "missing"]),
        reason=reasons,
    )
    def resettle_market(
        self, who: str, choice: tuple[int, str], index: int, which: str, reason: str
    ) -> None:
        market_id = self.pick_market(choice, ["settled"])
        market = self.model_markets.get(market_id)
        winner = MISSING
        if market is not None and which == "same" and market.winner is not None:
            winner = market.winner
        elif market is not None and which == "other":
            others = [o for o in market.outcomes if o != market.winner]
            winner = others[index % len(others)]
        self.resettle_as(who, market_id, winner, reason)

    def resettle_as(self, who: str, market_id: int, winner: int, reason: str) -> None:
        market = self.model_markets.get(market_id)
        expected = self.correction_refusal(who, market, reason)
        if expected is None and market is not None:
            if winner not in market.outcomes:
                expected = "outcome_not_found"
            elif winner == market.winner:
                expected = "invalid_argument"
            elif market.requires_confirmation:
                # settle_market's gate, after the unsettle: everything is rolled back
                expected = "settlement_needs_confirmation"
        answer = self.expect(
            expected, who, "resettle_market", market_id=market_id, outcome_id=winner, reason=reason
        )
        if answer is None:
            return
        assert market is not None
        unsettled = self.unsettle(market)
        record = self.pay_out(market, winner)
        assert self.unsettled_answer(answer["unsettled"]) == unsettled
        assert {k: answer["settled"][k] for k in record} == record
        self.reach("resettled")

    @precondition(lambda self: bool(self.voidable()))
    @rule(who=admins, pick=st.integers(0, 1000), which=void_picks, reason=reasons)
    def void_wager(self, who: str, pick: int, which: str, reason: str) -> None:
        voidable = self.voidable()
        if which == "debtor":
            owing = {(d.user, d.market_id) for d in self.debts}
            voidable = [
                i
                for i in voidable
                if (self.model_wagers[i].user, self.model_wagers[i].market_id) in owing
            ] or voidable
        elif which == "proposed":
            voidable = [
                i
                for i in voidable
                if self.model_markets[self.model_wagers[i].market_id].proposal is not None
            ] or voidable
        every = sorted(self.model_wagers)
        chosen = voidable if which not in ("any", "missing") and voidable else every
        wager_id = chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING
        self.void_as(who, wager_id, reason)

    def void_as(self, who: str, wager_id: int, reason: str) -> None:
        wager = self.model_wagers.get(wager_id)
        expected = None
        if who not in ADMINS:
            expected = "not_admin"
        elif not reason.strip():
            expected = "invalid_argument"
        elif wager is None:
            expected = "wager_not_found"
        elif (
            wager.approval != "accepted"
            or wager.settlement != "open"
            or self.model_markets[wager.market_id].status not in ("open", "closed")
        ):
            expected = "wager_not_voidable"
        answer = self.expect(expected, who, "void_wager", wager_id=wager_id, reason=reason)
        if answer is None:
            return
        assert wager is not None
        market = self.model_markets[wager.market_id]
        market.pools[wager.outcome_id] -= wager.stake
        market.liability[wager.outcome_id] -= wager.potential_payout or 0
        wager.settlement, wager.payout, wager.voided = "void", wager.stake, True
        self.credit(wager.user, wager.stake)
        self.collect_debts(market.id, wager.user)
        assert (answer["wager_id"], answer["market_id"], answer["refunded"]) == (
            wager.id,
            market.id,
            wager.stake,
        )
        self.reach("wager voided")

    # settlement review -------------------------------------------------------------------------

    @precondition(lambda self: self.some(lambda m: m.status in ("draft", "open", "closed")))
    @rule(who=admins, choice=market_picks, required=st.sampled_from([True, True, False, None]))
    def require_settlement_confirmation(
        self, who: str, choice: tuple[int, str], required: bool | None
    ) -> None:
        market_id = self.pick_market(choice, ["draft", "open", "closed"])
        market = self.model_markets.get(market_id)
        expected = None
        if who not in ADMINS:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif required is None:
            expected = "invalid_argument"
        else:
            expected = self.status_refusal(market, ["draft", "open", "closed"])
        answer = self.expect(
            expected,
            who,
            "require_settlement_confirmation",
            market_id=market_id,
            required=required,
        )
        if answer is None:
            return
        assert market is not None and required is not None
        market.requires_confirmation = required
        assert answer["settlement_requires_confirmation"] is required

    @precondition(lambda self: self.some(lambda m: m.status in ("open", "closed")))
    @rule(
        who=admins,
        choice=market_picks,
        index=st.integers(0, 4),
        note=notes,
        own_confirm=st.booleans(),
    )
    def propose_settlement(
        self, who: str, choice: tuple[int, str], index: int, note: str | None, own_confirm: bool
    ) -> None:
        """Propose a settlement; now and then the proposer tries at once to confirm it too (four
        eyes: refused as same_admin), which the random confirmations reach only by chance."""
        market_id = self.pick_market(choice, ["open", "closed"])
        self.propose(
            who, market_id, self.outcome_id(self.model_markets.get(market_id), index), note
        )
        market = self.model_markets.get(market_id)
        if own_confirm and market is not None and market.proposal is not None:
            self.confirm(self.proposals[market.proposal].proposer, market_id, market.proposal)

    def propose(self, who: str, market_id: int, winner: int, note: str | None) -> None:
        market = self.model_markets.get(market_id)
        expected = self.settlement_refusal(who, market, winner)
        if expected is None and market is not None:
            if note is not None and len(note.strip()) > 500:
                expected = "invalid_argument"
            elif market.proposal is not None:
                expected = "proposal_exists"
        answer = self.expect(
            expected, who, "propose_settlement", market_id=market_id, outcome_id=winner, note=note
        )
        if answer is None:
            return
        assert market is not None
        if market.status == "open":
            self.close(market)  # a proposal stops betting
        record, _ = self.figures(market, winner)
        assert {k: answer["preview"][k] for k in record} == record
        assert (answer["status"], answer["market_id"], answer["outcome_id"]) == (
            "pending",
            market.id,
            winner,
        )
        assert answer["proposed_by"] == str(self.user_ids[who])
        proposal = Proposal(answer["id"], market.id, winner, who, record)
        self.proposals[proposal.id] = proposal
        market.proposal = proposal.id

    @precondition(lambda self: self.some(lambda m: m.proposal is not None))
    @rule(
        who=confirmers,
        choice=market_picks,
        which=proposal_picks,
        meanwhile=st.sampled_from([None, "void", "void", "approve", "reject"]),
    )
    def confirm_settlement(
        self, who: str, choice: tuple[int, str], which: str | None, meanwhile: str | None
    ) -> None:
        """Confirm a pending proposal; now and then the market changed while it waited (a wager
        voided, a held wager approved or rejected), so the settlement differs from the
        proposal."""
        market_id = self.pick_where(choice, lambda m: m.proposal is not None)
        market = self.model_markets.get(market_id)
        if market is not None and meanwhile is not None:
            of_market = sorted(w.id for w in self.model_wagers.values() if w.market_id == market_id)
            pending = [i for i in of_market if self.model_wagers[i].approval == "pending"]
            voidable = [i for i in self.voidable() if i in of_market]
            if meanwhile == "void" and voidable:
                self.void_as(ADMIN, voidable[0], "palpable error")
            elif meanwhile == "approve" and pending:
                self.approve(ADMIN, pending[0])
            elif meanwhile == "reject" and pending:
                self.reject(ADMIN, pending[0])
        if who in ("other", "proposer"):
            proposer = (
                self.proposals[market.proposal].proposer if market and market.proposal else ADMIN
            )
            other = SECOND_ADMIN if proposer == ADMIN else ADMIN
            who = other if who == "other" else proposer
        proposal_id: int | None = None
        if which == "pending":
            proposal_id = market.proposal if market and market.proposal else MISSING
        elif which == "old":
            old = sorted(p.id for p in self.proposals.values() if p.status != "pending")
            proposal_id = old[-1] if old else MISSING
        elif which == "missing":
            proposal_id = MISSING
        self.confirm(who, market_id, proposal_id)

    @rule(user=st.sampled_from(BETTORS), stake=st.integers(1, 500))
    def confirm_a_changed_proposal(self, user: str, stake: int) -> None:
        """A proposal whose market changes before the other admin confirms it, on purpose: a new
        open market, a bettor's wager on it, a proposal, that wager voided, then the other
        admin's confirmation, which then differs from the proposal. confirm_settlement reaches
        this chain only when its market happens to hold a wager, and which runs do shifts with
        any change of the draws (the module's heading): one reached it never."""
        before = set(self.model_markets)
        self.make_market(ADMIN, "fixed_odds", 2, {"status": "open"}, None)
        [market_id] = set(self.model_markets) - before
        market = self.model_markets[market_id]
        self.place(user, market_id, 0, min(stake, max(1, self.balance(user))), None, None)
        wagers = [i for i in self.voidable() if self.model_wagers[i].market_id == market_id]
        self.propose(ADMIN, market_id, self.outcome_id(market, 1), None)
        if wagers and market.proposal is not None:
            self.void_as(ADMIN, wagers[0], "palpable error")
            self.confirm(SECOND_ADMIN, market_id, market.proposal)

    def confirm(self, who: str, market_id: int, proposal_id: int | None) -> None:
        market = self.model_markets.get(market_id)
        expected = None
        if who not in ADMINS:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif (refused := self.status_refusal(market, ["open", "closed"])) is not None:
            expected = refused
        elif market.proposal is None or proposal_id not in (None, market.proposal):
            expected = "no_pending_proposal"
        elif self.proposals[market.proposal].proposer == who:
            expected = "same_admin"
        answer = self.expect(
            expected, who, "confirm_settlement", market_id=market_id, proposal_id=proposal_id
        )
        if answer is None:
            return
        assert market is not None and market.proposal is not None
        proposal = self.proposals[market.proposal]
        proposal.status, proposal.decided_by = "confirmed", who
        market.proposal = None
        record = self.pay_out(market, proposal.outcome_id)
        assert {k: answer[k] for k in record} == record
        matches = proposal.preview == {k: record[k] for k in proposal.preview}
        assert answer["matches_proposal"] is matches
        assert (answer["proposal"]["id"], answer["proposal"]["status"]) == (
            proposal.id,
            "confirmed",
        )
        self.reach("proposal confirmed")
        if not matches:
            self.reach("confirmation differs from its proposal")

    @precondition(lambda self: self.some(lambda m: m.proposal is not None))
    @rule(who=admins, choice=market_picks, reason=reasons)
    def cancel_settlement_proposal(self, who: str, choice: tuple[int, str], reason: str) -> None:
        market_id = self.pick_where(choice, lambda m: m.proposal is not None)
        market = self.model_markets.get(market_id)
        expected = None
        if who not in ADMINS:
            expected = "not_admin"
        elif market is None:
            expected = "market_not_found"
        elif not reason.strip():
            expected = "invalid_argument"
        elif market.proposal is None:
            expected = "no_pending_proposal"
        answer = self.expect(
            expected, who, "cancel_settlement_proposal", market_id=market_id, reason=reason
        )
        if answer is None:
            return
        assert market is not None and market.proposal is not None
        proposal = self.proposals[market.proposal]
        proposal.status, proposal.decided_by = "cancelled", who
        market.proposal = None
        assert (answer["id"], answer["status"], answer["cancel_reason"]) == (
            proposal.id,
            "cancelled",
            reason.strip(),
        )
        self.reach("proposal cancelled")

    # wallets -----------------------------------------------------------------------------------

    @rule(user=st.sampled_from(BETTORS), amount=amounts, key=keys)
    def deposit(self, user: str, amount: int, key: str | None) -> None:
        self.transfer(user, "deposit", amount, key)

    @rule(user=st.sampled_from(BETTORS), amount=amounts, key=keys)
    def withdraw(self, user: str, amount: int, key: str | None) -> None:
        self.transfer(user, "withdraw", amount, key)

    @rule(pick=st.integers(0, 1000), which=st.sampled_from(["paid"] * 3 + ["any"]))
    def withdraw_everything(self, pick: int, which: str) -> None:
        """A winner who takes the money out (mostly someone a settled market paid): what leaves a
        debt when the result is corrected."""
        paid = sorted(
            {
                w.user
                for w in self.model_wagers.values()
                if w.payout and self.model_markets[w.market_id].status == "settled"
            }
        )
        users = paid if which == "paid" and paid else BETTORS
        user = users[pick % len(users)]
        self.transfer(user, "withdraw", self.balance(user), None)

    def transfer(self, user: str, function: str, amount: int, key: str | None) -> None:
        operation = "deposit" if function == "deposit" else "withdrawal"
        expected, stored = self.replay(user, key, operation, {"amount": amount})
        if expected is None and stored is None:
            if function == "deposit" and not self.deposits_open:
                expected = "deposits_disabled"
            elif amount <= 0:
                expected = "invalid_amount"
            elif amount > (MAX_DEPOSIT if function == "deposit" else MAX_WITHDRAWAL):
                expected = "amount_above_maximum"
            elif function == "deposit" and self.excluded(user):
                expected = "self_excluded"
            elif function == "deposit" and self.deposited[user] + amount > self.limit(
                user, "deposit", unlimited=MAX_DEPOSIT * 10**6
            ):
                expected = "daily_deposit_limit_reached"
            elif function == "withdraw" and amount > self.balance(user):
                expected = "insufficient_funds"
        answer = self.expect(expected, user, function, amount=amount, idempotency_key=key)
        if answer is None:
            return
        if stored is not None:
            assert answer == {**stored, "replayed": True}
            return
        self.credit(user, amount if function == "deposit" else -amount)
        if function == "deposit":
            self.deposited[user] += amount
        assert (answer["amount"], answer["balance"]) == (amount, self.balances[user])
        held = function == "withdraw" and self.approval
        assert ("withdrawal_id" in answer) == held
        if held:
            self.withdrawals[answer["withdrawal_id"]] = [user, amount, "pending"]
        self.remember(user, key, operation, {"amount": amount}, answer)

    # real money: settings, credits, withdrawals that wait for an admin ---------------------------

    @rule(
        deposits=st.sampled_from([True, True, False]),
        approval=st.booleans(),
        who=admins,
    )
    def switch_money_settings(self, deposits: bool, approval: bool, who: str) -> None:
        settings_ = {"self_service_deposits": deposits, "withdrawals_require_approval": approval}
        expected = None if who in ADMINS else "not_admin"
        answer = self.expect(expected, who, "update_settings", settings=settings_)
        if answer is None:
            return
        assert {k: answer[k] for k in settings_} == settings_
        self.deposits_open, self.approval = deposits, approval

    @rule(
        user=st.sampled_from(BETTORS),
        amount=amounts,
        key=st.sampled_from(["c1", "c2", "c3", ""]),
        who=admins,
    )
    def credit_wallet(self, user: str, amount: int, key: str, who: str) -> None:
        """An admin credits a wallet from the outside world: a deposit under the bettor's
        responsible-play rules, once per key whoever sends it."""
        arguments = {"user_id": str(self.user_ids[user]), "amount": amount, "reference": "psp"}
        expected: str | None = "not_admin"
        stored: dict[str, Any] | None = None
        if who in ADMINS:
            expected, stored = self.replay(CREDITS, key, "credit_wallet", arguments)
            if expected is None and stored is None:
                if amount <= 0:
                    expected = "invalid_amount"
                elif amount > MAX_DEPOSIT:
                    expected = "amount_above_maximum"
                elif self.excluded(user):
                    expected = "self_excluded"
                elif self.deposited[user] + amount > self.limit(
                    user, "deposit", unlimited=MAX_DEPOSIT * 10**6
                ):
                    expected = "daily_deposit_limit_reached"
        answer = self.expect(
            expected,
            who,
            "credit_wallet",
            user_id=self.user_ids[user],
            amount=amount,
            reference="psp",
            idempotency_key=key,
        )
        if answer is None:
            return
        if stored is not None:
            assert answer == {**stored, "replayed": True}
            return
        self.credit(user, amount)
        self.deposited[user] += amount
        assert (answer["amount"], answer["balance"]) == (amount, self.balances[user])
        self.remember(CREDITS, key, "credit_wallet", arguments, answer)
        self.reach("credited")

    @precondition(lambda self: bool(self.withdrawals))
    @rule(pick=st.integers(0, 1000), approve=st.booleans(), who=admins)
    def decide_withdrawal(self, pick: int, approve: bool, who: str) -> None:
        ids = sorted(self.withdrawals)
        self.decide(ids[pick % len(ids)], approve, who)

    @rule(
        user=st.sampled_from(BETTORS),
        percent=st.integers(1, 100),
        approve=st.booleans(),
        who=admins,
        again=st.booleans(),
    )
    def held_withdrawal(
        self, user: str, percent: int, approve: bool, who: str, again: bool
    ) -> None:
        """Withdrawals held for an admin on purpose: the setting switched on (when it is off), a
        bettor withdraws part of the balance, an admin (or a bettor: not_admin) decides at once,
        and now and then an admin decides it again (withdrawal_not_pending). The rules above
        reach that chain only by chance, a handful of times a run, and which runs reach it
        shifts with any change of the draws (the module's heading): one approved none."""
        if not self.approval:
            self.switch_money_settings(self.deposits_open, True, ADMIN)
        before = set(self.withdrawals)
        self.transfer(user, "withdraw", max(1, self.balance(user) * percent // 100), None)
        for withdrawal_id in set(self.withdrawals) - before:
            self.decide(withdrawal_id, approve, who)
            if again:
                self.decide(withdrawal_id, not approve, ADMIN)

    def decide(self, withdrawal_id: int, approve: bool, who: str) -> None:
        """approve_withdrawal (the money leaves) or reject_withdrawal (it comes back), once."""
        user, amount, status = self.withdrawals[withdrawal_id]
        expected = None
        if who not in ADMINS:
            expected = "not_admin"
        elif status != "pending":
            expected = "withdrawal_not_pending"
        if approve:
            answer = self.expect(expected, who, "approve_withdrawal", withdrawal_id=withdrawal_id)
        else:
            answer = self.expect(
                expected, who, "reject_withdrawal", withdrawal_id=withdrawal_id, reason="checks"
            )
        if answer is None:
            return
        decided = "approved" if approve else "rejected"
        assert (answer["status"], answer["amount"]) == (decided, amount)
        self.withdrawals[withdrawal_id][2] = decided
        if not approve:
            self.credit(user, amount)
        self.reach(f"withdrawal {decided}")

    # responsible play --------------------------------------------------------------------------

    @rule(user=st.sampled_from(BETTORS), amount=limit_amounts)
    def set_daily_stake_limit(self, user: str, amount: int | None) -> None:
        self.set_daily_limit(user, "stake", amount)

    @rule(user=st.sampled_from(BETTORS), amount=limit_amounts)
    def set_daily_deposit_limit(self, user: str, amount: int | None) -> None:
        self.set_daily_limit(user, "deposit", amount)

    def set_daily_limit(self, user: str, which: str, amount: int | None) -> None:
        """set_daily_stake_limit / set_daily_deposit_limit: tighter (or the first) at once,
        looser (or none) pending for the cooling-off (24 hours: for the rest of the example)."""
        expected = "invalid_amount" if amount is not None and amount < 0 else None
        answer = self.expect(expected, user, f"set_daily_{which}_limit", amount=amount)
        if answer is None:
            return
        limits = self.limits.setdefault(user, Limits())
        limit = limits.stake if which == "stake" else limits.deposit
        if limit.current is not None and (amount is None or amount > limit.current):
            if limit.pending and limit.pending_value == amount:
                effect = "unchanged"
            else:
                effect = "pending"
                limit.pending, limit.pending_value = True, amount
                self.reach("limit loosening pending")
        else:
            unchanged = amount == limit.current and not limit.pending
            effect = "unchanged" if unchanged else "immediate"
            limit.current, limit.pending, limit.pending_value = amount, False, None
        assert {
            k: answer[k]
            for k in (
                "effect",
                f"daily_{which}_limit",
                f"pending_daily_{which}_limit",
                "stake_used",
                "deposit_used",
            )
        } == {
            "effect": effect,
            f"daily_{which}_limit": limit.current,
            f"pending_daily_{which}_limit": limit.pending_value,
            "stake_used": self.stake_used(user),
            "deposit_used": self.deposited[user],
        }

    @rule(end=exclusion_ends)
    def set_self_exclusion(self, end: str | None) -> None:
        """cal excludes himself: until a day or a month from the example's start, or for good;
        never shorter than before (self_exclusion_locked); never in the past or without an end
        (invalid_argument)."""
        until: datetime | str | None = None
        key: Decimal | None = None
        if end == "infinity":
            until, key = "infinity", Decimal("Infinity")
        elif end is not None:
            span = {"day": timedelta(days=1), "month": timedelta(days=30)}.get(end)
            moment = self.started + (span or timedelta(hours=-1))
            until, key = moment, epoch(moment)
        limits = self.limits.get(EXCLUDER)
        current = limits.excluded_until if limits else None
        expected = None
        if key is None or end == "past":
            expected = "invalid_argument"
        elif current is not None and key < current:
            expected = "self_exclusion_locked"
        answer = self.expect(expected, EXCLUDER, "set_self_exclusion", until=until)
        if answer is None:
            return
        self.limits.setdefault(EXCLUDER, Limits()).excluded_until = key
        assert (answer["effect"], answer["self_excluded"]) == (
            "unchanged" if key == current else "immediate",
            True,
        )

    # wagers ------------------------------------------------------------------------------------

    def wager_refusal(
        self, who: str, market: Market | None, outcome: int, stake: int
    ) -> str | None:
        """What stops a quote (preview_wager and place_wager alike), in the engine's order."""
        if market is None or (market.status == "draft" and who not in ADMINS):
            return "market_not_found"
        if not market.taking_wagers:
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

    @rule(bets=plain_bets)
    def place_plain_wagers(self, bets: list[tuple[str, int, int, int, str | None]]) -> None:
        """The common case, more often: one to four sensible stakes at the live odds on markets
        taking wagers, one after another (when none is, the admin opens one first)."""
        if not self.some(lambda m: m.taking_wagers):
            pick = bets[0][1]
            kind = ("fixed_odds", "parimutuel")[pick % 2]
            self.make_market(ADMIN, kind, 2 + pick % 3, {"status": "open"}, None)
        for user, pick, index, stake, offset in bets:
            market_id = self.pick_where((pick, "fitting"), lambda m: m.taking_wagers)
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
            limit = self.limit(user, "stake", unlimited=BIGINT_MAX)
            if expected_odds is not None and abs(expected_odds - effective) > TOLERANCE:
                expected = "odds_changed"
            elif cap is not None and stake > cap:
                expected = "stake_above_cap"
            elif payout > market.max_payout:
                expected = "payout_above_maximum"
            elif self.stake_used(user) + stake > limit:
                expected = "daily_stake_limit_reached"
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
        elif self.excluded(user):
            expected = "self_excluded"  # right after the idempotency claim
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

    def decision(self, pick: int, which: str) -> int:
        """A wager to approve or reject: mostly a pending one, sometimes any, or none at all."""
        pending = sorted(w.id for w in self.model_wagers.values() if w.approval == "pending")
        every = sorted(self.model_wagers)
        chosen = pending if which == "pending" and pending else every
        return chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING

    def decision_refusal(self, who: str, wager: Wager | None) -> str | None:
        """The refusal the model expects before the engine looks at the market."""
        if who not in ADMINS:
            return "not_admin"
        if wager is None:
            return "wager_not_found"
        if wager.approval != "pending":
            return "wager_not_pending"
        return None

    @rule(who=admins, pick=st.integers(0, 1000), which=wager_picks)
    def approve_wager(self, who: str, pick: int, which: str) -> None:
        self.approve(who, self.decision(pick, which))

    def approve(self, who: str, wager_id: int) -> None:
        wager = self.model_wagers.get(wager_id)
        expected = self.decision_refusal(who, wager)
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
        self.reject(who, self.decision(pick, which))

    def reject(self, who: str, wager_id: int) -> None:
        wager = self.model_wagers.get(wager_id)
        expected = self.decision_refusal(who, wager)
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
    def side_effects_count_each_wager_once(self) -> None:
        # a node's worker runs the jobs the step wrote; the handlers then agree with the wagers
        assert_side_effects_match(self.db)

    @invariant()
    def engine_equals_model(self) -> None:
        # every query sent at once, one round trip (a step's checks are most of the run's time)
        with self.db.pipeline():
            cursors = {name: self.db.execute(query) for name, query in ENGINE_STATE.items()}
        state = {name: cursor.fetchall() for name, cursor in cursors.items()}
        wallets = {self.names[user_id]: balance for user_id, balance in state["wallets"]}
        assert wallets == {u: b for u, b in self.balances.items() if b is not None}
        assert state["house"] == [(self.house,)]
        debts: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for user_id, market_id, amount in state["debts"]:
            debts[self.names[user_id]].append((market_id, amount))
        expected_debts: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for debt in self.debts:
            expected_debts[debt.user].append((debt.market_id, debt.amount))
        assert debts == expected_debts
        wagers = {row[0]: row[1:] for row in state["wagers"]}
        assert wagers == {
            w.id: (
                self.user_ids[w.user],
                w.stake,
                w.approval,
                w.settlement,
                w.payout,
                w.potential_payout,
                w.voided,
            )
            for w in self.model_wagers.values()
        }
        markets = {row[0]: row[1:] for row in state["markets"]}
        assert markets == {
            m.id: (m.status, m.winner, m.requires_confirmation) for m in self.model_markets.values()
        }
        proposals = {row[0]: row[1:] for row in state["proposals"]}
        assert proposals == {
            p.id: (
                p.market_id,
                p.outcome_id,
                p.status,
                self.user_ids[p.proposer],
                self.user_ids[p.decided_by] if p.decided_by else None,
            )
            for p in self.proposals.values()
        }
        pools = {row[0]: row[1:] for row in state["pools"]}
        assert pools == {
            o: (m.pools[o], m.liability[o])
            for m in self.model_markets.values()
            if m.status in ("draft", "open", "closed")
            for o in m.outcomes
        }
        snapshots = {(market_id, reason): count for market_id, reason, count in state["snapshots"]}
        expected_snapshots = {}
        for m in self.model_markets.values():
            if m.closes:
                expected_snapshots[(m.id, "close")] = m.closes * len(m.outcomes)
            if m.snapshotted:
                expected_snapshots[(m.id, "interval")] = len(m.outcomes)
        assert snapshots == expected_snapshots
        assert {row[0]: (self.names[row[1]], *row[2:]) for row in state["withdrawals"]} == {
            i: tuple(w) for i, w in self.withdrawals.items()
        }
        limits = {self.names[row[0]]: row[1:] for row in state["limits"]}
        assert limits == {
            user: (
                limit.stake.current,
                limit.stake.pending_value,
                limit.stake.pending,
                limit.deposit.current,
                limit.deposit.pending_value,
                limit.deposit.pending,
                limit.excluded_until,
            )
            for user, limit in self.limits.items()
        }


# The rules the second run leaves out: those that mostly meet refusals (markets with bad options,
# quotes, wagers with odd stakes and keys, withdrawals of odd amounts) or only move markets along
# (opening, closing, voiding), so that its steps go to wagers, settlements, reviews,
# corrections, limits and the scheduler, and reach their deeper states (debts, debts collected,
# confirmations that differ from their proposal) often.
DEEP = (
    "create_market",
    "open_market",
    "close_market",
    "void_market",
    "preview_wager",
    "place_wager",
    "withdraw",
)


def test_random_sequences_keep_the_books(fresh_db: Callable[[], str]) -> None:
    database = Database(fresh_db())
    everything = type("Everything", (Books,), {"database": database})
    deep = type("Deep", (Books,), {"database": database, **dict.fromkeys(DEEP)})
    try:
        for machine, examples in ((everything, 45), (deep, 30)):
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=100,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                ),
            )
        assert not REACHED - set(database.reached), (
            f"never reached: {sorted(REACHED - set(database.reached))}",
            database.reached,
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
