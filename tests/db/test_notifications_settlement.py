"""Live messages about settlement (docs/notifications.md): each bettor is told once and the market
in order, admins are told the house profit house_summary reports, pending wagers refunded at
settlement are announced as refunds; and a market's result goes out before the balance changes
it causes.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database (the `live` and `people` fixtures,
tests/db/conftest.py)."""

from tests.db.helpers import Market, make_market, scalar
from tests.db.personas import Persona, persona
from tests.db.stream import Live, Message, of, one

# settlement --------------------------------------------------------------------------------------


def settle_with_wagers(live: Live, people: tuple[Persona, Persona, Persona]) -> Market:
    """A fixed-odds market: bettor 10.00 on A at 1.5 (pays 15.00) and 5.00 on B; other 20.00
    on B. Every message so far is read."""
    admin, bettor, other = people
    market = make_market(admin)
    a, b = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=a, stake=1000)
    bettor.call("place_wager", market_id=market.id, outcome_id=b, stake=500)
    other.call("place_wager", market_id=market.id, outcome_id=b, stake=2000)
    live.commit_and_read()
    return market


def test_a_settlement_tells_each_bettor_once_and_the_market_in_order(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """10.00 on A at 1.5 pays 15.00: one balance message with the sum of the bettor's winnings,
    a wagers_settled per bettor, and closed then settled with growing versions."""
    admin, bettor, other = people
    market = settle_with_wagers(live, people)
    last_version = scalar(live.actor, "select version from app.markets where id = %s", [market.id])
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    messages = live.commit_and_read()

    credited = of(messages, "wagerbase_user", "balance")
    assert [(m["user_id"], m["reason"], m["delta"], m["balance"]) for m in credited] == [
        (str(bettor.user_id), "settlement", 1500, 10000 - 1500 + 1500)
    ]
    assert credited[0]["version"] == live.wallet(bettor)[1]
    assert credited[0]["market_id"] == market.id

    settled = {p["user_id"]: p for p in of(messages, "wagerbase_user", "wagers_settled")}
    assert {u: (p["payout"], p["won"], p["lost"], p["void"]) for u, p in settled.items()} == {
        str(bettor.user_id): (1500, 1, 1, 0),
        str(other.user_id): (0, 0, 1, 0),
    }
    assert {p["market_id"] for p in settled.values()} == {market.id}
    assert {p["winning_outcome_id"] for p in settled.values()} == {market.outcomes[0]}

    announced = [p for c, p in messages if c == "wagerbase_market"]
    assert [p["type"] for p in announced] == ["closed", "settled"]
    closed, done = announced
    assert (closed["status"], closed["version"]) == ("closed", last_version + 1)
    assert done["version"] == last_version + 2
    assert (done["status"], done["winning_outcome_id"], done["winning_position"]) == (
        "settled",
        market.outcomes[0],
        1,
    )


def test_a_settlement_tells_admins_the_house_profit_that_house_summary_reports(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """Stakes 35.00, paid 15.00: the house is up 20.00 and says so in the same message."""
    admin, _, _ = people
    market = settle_with_wagers(live, people)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    profit = one(live.commit_and_read(), "wagerbase_admin", "profit")
    summary = admin.call("house_summary")
    live.actor.commit()
    assert (summary["balance"], summary["profit"]) == (2000, 2000)
    assert {k: profit[k] for k in ("balance", "profit", "version")} == {
        "balance": summary["balance"],
        "profit": summary["profit"],
        "version": summary["version"],
    }


def test_pending_wagers_refunded_at_settlement_are_announced_as_refunds(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin, requires_approval=True)
    held = bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=400)
    live.commit_and_read()
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    messages = live.commit_and_read()
    refunded = one(messages, "wagerbase_user", "wagers_refunded")
    assert (refunded["wager_ids"], refunded["amount"], refunded["reason"]) == (
        [held["id"]],
        400,
        "market_settled",
    )
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == ("refund", 400, 10000)


# order: the result before the money it moves ------------------------------------------------------


def result_then_money(messages: list[Message], result: str) -> list[str]:
    """The market's message of type `result` and every balance message, in delivery order, as
    'result' and 'balance' (other messages left out)."""
    return [
        "result" if channel == "wagerbase_market" and p["type"] == result else "balance"
        for channel, p in messages
        if (channel == "wagerbase_market" and p["type"] == result)
        or (channel == "wagerbase_user" and p["type"] == "balance")
    ]


def test_a_market_s_result_goes_out_before_the_balance_changes_it_causes(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    """A client shows the result (BetMarket's wheel) and then each winner's new balance: settle,
    void, unsettle, resettle and a confirmed settlement send the market's message first."""
    admin, bettor, other = people
    second_admin = persona(live.actor, "admin2", admin=True)
    market = settle_with_wagers(live, people)
    a, b = market.outcomes

    admin.call("settle_market", market_id=market.id, outcome_id=a)
    assert result_then_money(live.commit_and_read(), "settled") == ["result", "balance"]

    admin.call("unsettle_market", market_id=market.id, reason="wrong feed")
    assert result_then_money(live.commit_and_read(), "unsettled") == ["result", "balance"]

    admin.call("settle_market", market_id=market.id, outcome_id=b)
    live.commit_and_read()
    admin.call("resettle_market", market_id=market.id, outcome_id=a, reason="photo finish")
    messages = live.commit_and_read()
    assert [p["type"] for c, p in messages if c == "wagerbase_market"] == ["unsettled", "settled"]
    unsettled_at = next(i for i, (_, p) in enumerate(messages) if p["type"] == "unsettled")
    settled_at = next(i for i, (_, p) in enumerate(messages) if p["type"] == "settled")
    taken = [i for i, (c, p) in enumerate(messages) if p.get("reason") == "unsettlement"]
    paid = [i for i, (c, p) in enumerate(messages) if p.get("reason") == "settlement"]
    assert taken and paid
    assert unsettled_at < min(taken) <= max(taken) < settled_at < min(paid)

    voided = make_market(admin)
    bettor.call("place_wager", market_id=voided.id, outcome_id=voided.outcomes[0], stake=300)
    other.call("place_wager", market_id=voided.id, outcome_id=voided.outcomes[1], stake=200)
    live.commit_and_read()
    admin.call("void_market", market_id=voided.id, reason="abandoned")
    assert result_then_money(live.commit_and_read(), "voided") == ["result", "balance", "balance"]

    reviewed = make_market(admin)
    bettor.call("place_wager", market_id=reviewed.id, outcome_id=reviewed.outcomes[0], stake=400)
    admin.call("require_settlement_confirmation", market_id=reviewed.id, required=True)
    admin.call("propose_settlement", market_id=reviewed.id, outcome_id=reviewed.outcomes[0])
    live.commit_and_read()
    second_admin.call("confirm_settlement", market_id=reviewed.id)
    assert result_then_money(live.commit_and_read(), "settled") == ["result", "balance"]
