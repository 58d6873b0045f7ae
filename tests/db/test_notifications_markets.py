"""Live messages on the market channel (docs/notifications.md): numbers and a version that only
grows; a draft says nothing until it opens, and closing is announced; a void is announced to
everyone and its refunds to each bettor.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database (the `live` and `people` fixtures,
tests/db/conftest.py)."""

from decimal import Decimal

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.db.stream import Live, kinds, odds, one

# market channel ----------------------------------------------------------------------------------


def test_market_messages_carry_numbers_and_a_growing_version(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, other = people
    market = make_market(admin, title="Rain?")
    created = live.commit_and_read()
    assert kinds(created) == [("wagerbase_market", "created")]
    message = created[0][1]
    assert {k: message[k] for k in ("market_id", "version", "status", "kind", "total_pool")} == {
        "market_id": market.id,
        "version": 1,
        "status": "open",
        "kind": "fixed_odds",
        "total_pool": 0,
    }
    assert message["outcomes"] == [
        {
            "outcome_id": market.outcomes[0],
            "position": 1,
            "pool": 0,
            "share": 0,
            "odds": 1.5,
            "cap": 10000,
            "wager_count": 0,
        },
        {
            "outcome_id": market.outcomes[1],
            "position": 2,
            "pool": 0,
            "share": 0,
            "odds": 1.5,
            "cap": 10000,
            "wager_count": 0,
        },
    ]
    assert "title" not in message

    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000)
    first = one(live.commit_and_read(), "wagerbase_market", "odds")
    assert (first["version"], first["total_pool"]) == (2, 1000)
    assert odds(first) == [Decimal("1.4545"), Decimal("1.55")]
    assert [o["cap"] for o in first["outcomes"]] == [9900, 10909]

    other.call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=2000)
    second = one(live.commit_and_read(), "wagerbase_market", "odds")
    assert (second["version"], second["total_pool"]) == (3, 3000)
    assert [o["pool"] for o in second["outcomes"]] == [1000, 2000]


def test_a_draft_says_nothing_until_it_opens_and_closing_is_announced(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, _, _ = people
    draft = make_market(admin, status="draft")
    assert live.commit_and_read() == []
    admin.call("open_market", market_id=draft.id)
    opened = one(live.commit_and_read(), "wagerbase_market", "opened")
    assert (opened["market_id"], opened["version"], opened["status"]) == (draft.id, 2, "open")
    admin.call("close_market", market_id=draft.id)
    closed = one(live.commit_and_read(), "wagerbase_market", "closed")
    assert (closed["version"], closed["status"]) == (3, "closed")


def test_a_void_is_announced_to_everyone_and_refunds_to_each_bettor(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin)
    first = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=300
    )
    second = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=200
    )
    live.commit_and_read()
    admin.call("void_market", market_id=market.id, reason="abandoned")
    messages = live.commit_and_read()
    voided = one(messages, "wagerbase_market", "voided")
    assert (voided["status"], voided["version"]) == ("void", 4)
    refunded = one(messages, "wagerbase_user", "wagers_refunded")
    assert {k: refunded[k] for k in ("user_id", "market_id", "amount", "reason")} == {
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "amount": 500,
        "reason": "market_void",
    }
    assert sorted(refunded["wager_ids"]) == [first["id"], second["id"]]
    balance = one(messages, "wagerbase_user", "balance")
    assert (balance["reason"], balance["delta"], balance["balance"]) == ("void", 500, 10000)
    assert balance["version"] == live.wallet(bettor)[1]
