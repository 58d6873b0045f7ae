"""Live messages about corrections (docs/notifications.md, docs/corrections.md): unsettle_market and
void_wager tell the market and each user.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
this test commits, in its own fresh database (the `live` fixture, tests/db/conftest.py)."""

from tests.db.corrections import stake
from tests.db.helpers import make_market, wager
from tests.db.personas import persona
from tests.db.stream import Live, of, one

# messages ----------------------------------------------------------------------------------------


def test_unsettle_and_void_wager_tell_the_market_and_each_user(live: Live) -> None:
    admin = persona(live.actor, "admin", admin=True)
    bettor, other = persona(live.actor, "bettor"), persona(live.actor, "other")
    market = make_market(admin)
    x, y = market.outcomes
    wager_id = stake(bettor, market.id, x, 500)
    stake(other, market.id, y, 400)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(live.actor, wager_id)["payout"]
    live.commit_and_read()

    admin.call("unsettle_market", market_id=market.id, reason="wrong")
    messages = live.commit_and_read()
    unsettled = one(messages, "wagerbase_market", "unsettled")
    assert unsettled["status"] == "closed" and unsettled["previous_winning_outcome_id"] == x
    per_user = of(messages, "wagerbase_user", "wagers_unsettled")
    assert {(m["user_id"], m["reversed"], m["debited"], m["debt"]) for m in per_user} == {
        (str(bettor.user_id), payout, payout, 0),
        (str(other.user_id), 0, 0, 0),
    }
    balances = of(messages, "wagerbase_user", "balance")
    assert [m["user_id"] for m in balances] == [str(bettor.user_id)]
    assert balances[0]["reason"] == "unsettlement"

    admin.call("void_wager", wager_id=wager_id, reason="palpable")
    messages = live.commit_and_read()
    assert one(messages, "wagerbase_market", "odds")["total_pool"] == 400
    assert one(messages, "wagerbase_user", "wager_voided")["amount"] == 500
    assert one(messages, "wagerbase_user", "balance")["reason"] == "wager_void"
