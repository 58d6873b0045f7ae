"""The state machine's rules for the settlement review: require_settlement_confirmation,
propose_settlement, confirm_settlement (by the other admin, or refused as same_admin) and
cancel_settlement_proposal; and the common case of settling a market that holds wagers, through
the review when it needs a confirmation."""

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.db.books.model import ADMIN, ADMINS, BETTORS, MISSING, SECOND_ADMIN, Proposal
from tests.db.books.settlement import SettlementRules
from tests.db.books.strategies import (
    admins,
    confirmers,
    market_picks,
    notes,
    proposal_picks,
    reasons,
)


class ReviewRules(SettlementRules):
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
        any change of the draws (test_books_match_the_model.py's heading): one reached it
        never."""
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
