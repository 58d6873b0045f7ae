"""The state machine's rules for wagers: quoted, placed (stakes zero, negative, huge; expected odds
exact, a little off, stale; idempotency keys re-sent), approved and rejected."""

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.stateful import rule

from tests.db.books.model import (
    ADMIN,
    ADMINS,
    BETTORS,
    BIGINT_MAX,
    MAX_STAKE,
    MISSING,
    TOLERANCE,
    ModelMarket,
    Wager,
)
from tests.db.books.strategies import (
    admins,
    keys,
    market_picks,
    odds_offsets,
    plain_bets,
    stakes,
    wager_picks,
)
from tests.db.books.wallets import WalletRules


class WagerRules(WalletRules):
    def wager_refusal(
        self, who: str, market: ModelMarket | None, outcome: int, stake: int
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

    def accept(self, market: ModelMarket, wager: Wager) -> None:
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
