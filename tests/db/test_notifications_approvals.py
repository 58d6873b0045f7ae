"""Live messages about approvals (docs/notifications.md): a held wager is announced to admins, and
its decision to everyone concerned.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database (the `live` and `people` fixtures,
tests/db/conftest.py)."""

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.db.stream import Live, kinds, one

# approvals ---------------------------------------------------------------------------------------


def test_a_held_wager_is_announced_to_admins_and_its_decision_to_everyone_concerned(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    market = make_market(admin, requires_approval=True)
    live.commit_and_read()

    held = bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=500)
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_pending"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_placed"),
    ]
    pending = one(messages, "wagerbase_admin", "wager_pending")
    assert (pending["id"], pending["approval"], pending["stake"]) == (held["id"], "pending", 500)
    assert one(messages, "wagerbase_user", "wager_placed")["approval"] == "pending"

    admin.call("approve_wager", wager_id=held["id"])
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_decided"),
        ("wagerbase_market", "odds"),
        ("wagerbase_user", "wager_approved"),
    ]
    assert one(messages, "wagerbase_market", "odds")["version"] == 2
    approved = one(messages, "wagerbase_user", "wager_approved")
    assert (approved["id"], approved["user_id"], approved["approval"]) == (
        held["id"],
        str(bettor.user_id),
        "accepted",
    )
    assert one(messages, "wagerbase_admin", "wager_decided")["approval"] == "accepted"

    second = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=300
    )
    live.commit_and_read()
    admin.call("reject_wager", wager_id=second["id"], reason="too late")
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "wager_decided"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "wager_rejected"),
    ]
    rejected = one(messages, "wagerbase_user", "wager_rejected")
    assert {k: rejected[k] for k in ("user_id", "market_id", "wager_ids", "amount", "reason")} == {
        "user_id": str(bettor.user_id),
        "market_id": market.id,
        "wager_ids": [second["id"]],
        "amount": 300,
        "reason": "too late",
    }
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == ("refund", 300, 9500)
    assert refund["version"] == live.wallet(bettor)[1]
    assert one(messages, "wagerbase_admin", "wager_decided")["approval"] == "rejected"
