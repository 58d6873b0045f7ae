"""The state machine's base: the model's state, calling the engine (each answer or refusal
predicted), picking what a call is about, and the money the model moves on its own (closing a
market, refunds, a settlement's figures and payouts, their reversal, collecting debts)."""

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from hypothesis.stateful import RuleBasedStateMachine

from tests.db.actors import refusal
from tests.db.books.database import Database
from tests.db.books.model import (
    CATALOG,
    INITIAL_BALANCE,
    MISSING,
    Debt,
    Limits,
    ModelMarket,
    Proposal,
    Wager,
)
from tests.db.helpers import RECORD


class Machine(RuleBasedStateMachine):
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
        self.model_markets: dict[int, ModelMarket] = {}
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

    def outcome_id(self, market: ModelMarket | None, index: int) -> int:
        if market is not None and index < len(market.outcomes):
            return market.outcomes[index]
        return MISSING

    def pick_where(self, choice: tuple[int, str], fits: Callable[[ModelMarket], bool]) -> int:
        pick, which = choice
        every = sorted(self.model_markets)
        fitting = [i for i in every if fits(self.model_markets[i])]
        chosen = fitting if which == "fitting" and fitting else every
        return chosen[pick % len(chosen)] if chosen and which != "missing" else MISSING

    def some(self, fits: Callable[[ModelMarket], bool]) -> bool:
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

    def status_refusal(self, market: ModelMarket, allowed: list[str]) -> str | None:
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

    # the model's money ----------------------------------------------------------------------

    def close(self, market: ModelMarket) -> None:
        """open -> closed, whoever does it: one close snapshot of every outcome."""
        assert market.status == "open"
        market.status = "closed"
        market.closes += 1

    def refund(self, market: ModelMarket, *, pending_only: bool) -> list[int]:
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

    def open_wagers(self, market: ModelMarket, approval: str) -> list[Wager]:
        return [
            w
            for w in self.model_wagers.values()
            if w.market_id == market.id and w.approval == approval and w.settlement == "open"
        ]

    def figures(
        self, market: ModelMarket, winner: int
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

    def pay_out(self, market: ModelMarket, winner: int) -> dict[str, Any]:
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

    def unsettle(self, market: ModelMarket) -> dict[str, Any]:
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
