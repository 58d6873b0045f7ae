"""The state machine's rules for settling and correcting a settlement: settle_market,
preview_settlement, unsettle_market, resettle_market and void_wager, with the debt rule when a
winner spent the winnings."""

from fractions import Fraction

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.db.books.model import ADMIN, ADMINS, MISSING, ModelMarket
from tests.db.books.strategies import admins, market_picks, reasons, void_picks
from tests.db.books.wagers import WagerRules
from tests.support.formulas import round4


class SettlementRules(WagerRules):
    @rule(who=admins, choice=market_picks, index=st.integers(0, 4))
    def settle_market(self, who: str, choice: tuple[int, str], index: int) -> None:
        market_id = self.pick_market(choice, ["open", "closed"])
        self.settle_as(who, market_id, self.outcome_id(self.model_markets.get(market_id), index))

    def settlement_refusal(self, who: str, market: ModelMarket | None, winner: int) -> str | None:
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

    def correction_refusal(self, who: str, market: ModelMarket | None, reason: str) -> str | None:
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
