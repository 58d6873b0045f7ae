"""The state machine's rules for markets: created (now and then with a bad option, or by a
bettor), opened, closed, voided, past their closing time, and closed by the scheduler."""

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.db.books.machine import Machine
from tests.db.books.model import ADMIN, ADMINS, DEFAULTS, ModelMarket
from tests.db.books.strategies import admins, bad_options, market_picks, options


class MarketRules(Machine):
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
        market = ModelMarket(
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
    ) -> tuple[ModelMarket | None, dict[str, Any] | None]:
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
