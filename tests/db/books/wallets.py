"""The state machine's rules for money in and out: deposits, withdrawals, the real-money settings,
credits, withdrawals held for an admin, and the limits a bettor sets (daily stake and deposit
limits, self-exclusion)."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.db.books.markets import MarketRules
from tests.db.books.model import (
    ADMIN,
    ADMINS,
    BETTORS,
    CREDITS,
    EXCLUDER,
    MAX_DEPOSIT,
    MAX_WITHDRAWAL,
    Limits,
    epoch,
)
from tests.db.books.strategies import admins, amounts, exclusion_ends, keys, limit_amounts


class WalletRules(MarketRules):
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
        shifts with any change of the draws (test_books_match_the_model.py's heading): one
        approved none."""
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
