"""Live messages on the user channel (docs/notifications.md): a wager tells its owner the wager and
each balance change, with the wallet's version; a call that rolled back or was refused announces
nothing.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database (the `live` and `people` fixtures,
tests/db/conftest.py)."""

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.db.stream import Live, kinds, of, one

# user channel ------------------------------------------------------------------------------------


def test_a_wager_tells_its_owner_the_wager_and_each_balance_change_with_the_wallet_version(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    live.commit_and_read()
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_market", "odds"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_placed"),
    ]
    grant, staked = of(messages, "wagerbase_user", "balance")
    assert {k: grant[k] for k in ("user_id", "reason", "balance", "version", "delta")} == {
        "user_id": str(bettor.user_id),
        "reason": "grant",
        "balance": 10000,
        "version": 1,
        "delta": 10000,
    }
    assert {
        k: staked[k] for k in ("reason", "balance", "version", "delta", "market_id", "wager_id")
    } == {
        "reason": "stake",
        "balance": 9000,
        "version": 2,
        "delta": -1000,
        "market_id": market.id,
        "wager_id": placed["id"],
    }
    assert staked["transaction_id"] > grant["transaction_id"]
    assert live.wallet(bettor) == (9000, 2)
    wager = one(messages, "wagerbase_user", "wager_placed")
    assert {
        k: wager[k]
        for k in (
            "id",
            "user_id",
            "market_id",
            "outcome_id",
            "position",
            "stake",
            "odds",
            "potential_payout",
            "approval",
        )
    } == {
        "id": placed["id"],
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "outcome_id": market.outcomes[0],
        "position": 1,
        "stake": 1000,
        "odds": 1.5,
        "potential_payout": 1500,
        "approval": "accepted",
    }

    bettor.call("deposit", amount=250)
    bettor.call("withdraw", amount=100)
    moves = of(live.commit_and_read(), "wagerbase_user", "balance")
    assert [(m["reason"], m["delta"], m["balance"], m["version"]) for m in moves] == [
        ("deposit", 250, 9250, 3),
        ("withdrawal", -100, 9150, 4),
    ]
    assert live.wallet(bettor) == (9150, 4)


def test_nothing_is_announced_for_a_call_that_rolled_back_or_was_refused(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    bettor.call("get_wallet")
    live.commit_and_read()

    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000)
    admin.call("close_market", market_id=market.id)
    live.actor.rollback()
    assert live.commit_and_read() == []

    bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1000,
        expected_odds=2,
    )
    bettor.refused("insufficient_funds", "withdraw", amount=10001)
    assert live.commit_and_read() == []
    assert live.wallet(bettor) == (10000, 1)
