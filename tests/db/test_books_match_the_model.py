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

The model (tests/db/books/model.py) and the machine's rules, one module per part of the engine
(tests/db/books/), are support code; this module holds what the run proves: the paths it must
reach, the engine's state it compares with the model after every step, and the two runs.
"""

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, run_state_machine_as_test

from tests.db.books.database import Database
from tests.db.books.model import (
    ADMIN,
)
from tests.db.books.review import ReviewRules
from tests.db.books.strategies import options as market_options
from tests.db.books.strategies import plain_bets
from tests.db.invariants import assert_invariants
from tests.db.side_effects import assert_side_effects_match

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


class Books(ReviewRules):
    """The engine against the model (tests/db/books/): every rule of ReviewRules and the classes
    it builds on, the opening of each example, and the checks after every step. `database` is
    set by the test."""

    @initialize(
        fixed=st.tuples(st.integers(2, 4), market_options),
        parimutuel=st.tuples(st.integers(2, 4), market_options),
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
