"""The debt rule (docs/corrections.md): a reversal takes back from a winner at most what the
wallet holds, so a winner who withdrew everything owes the house instead of going negative, and
one who spent part is debited what the wallet holds; the rest is a debt. The debtor's next credit
from that market goes toward it first, whichever call brings it: a resettlement's new winnings, a
voided wager's refund, and after an unsettle a confirmation of a proposal, a direct settlement or
a void of the market. The house does not carry the debt while the debtor walks away with the new
money."""

from typing import Any

from tests.db.corrections import stake
from tests.db.helpers import balance, escrow, house, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.pgserver import Connection


def test_a_winner_who_withdrew_everything_owes_the_house_instead_of_going_negative(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 1000)
    other_wager = stake(other, market.id, y, 2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(conn, w)["payout"]
    bettor.call("withdraw", amount=balance(conn, bettor))
    assert balance(conn, bettor) == 0
    house_before = house(conn)
    other_before = balance(conn, other)

    result = admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="mistake")

    assert balance(conn, bettor) == 0
    assert result["unsettled"]["debt"] == payout
    debts = admin.rows("select user_id, amount, market_id from public.user_debts")
    assert debts == [(bettor.user_id, payout, market.id)]
    assert bettor.rows("select * from public.user_debts") == []
    assert other.rows("select * from public.user_debts") == []
    other_payout = wager(conn, other_wager)["payout"]
    assert balance(conn, other) == other_before + other_payout
    # the house takes back its first result (3000 - payout) less the payout it could not recover
    # (so -3000), then keeps 3000 - other_payout from the new settlement
    assert house(conn) == house_before - other_payout
    assert_invariants(conn)


def test_a_winner_who_spent_part_is_debited_what_the_wallet_holds(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 1000)
    stake(other, market.id, y, 2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    payout = wager(conn, w)["payout"]
    bettor.call("withdraw", amount=balance(conn, bettor) - 100)

    result = admin.call("unsettle_market", market_id=market.id, reason="mistake")

    assert balance(conn, bettor) == 0
    assert result["debited"] == 100 and result["debt"] == payout - 100
    assert (
        scalar(conn, "select amount from app.user_debts where user_id = %s", [bettor.user_id])
        == payout - 100
    )
    assert escrow(conn, market.id) == 3000
    assert_invariants(conn)


def test_a_resettlement_first_takes_a_debtors_new_winnings_toward_their_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """The bettor wins on X, withdraws everything, and the result is corrected to Y, where the
    bettor also had a wager: the reversal leaves a debt, and the new winnings repay it first (the
    house must not carry the debt while the bettor walks away with the new payout)."""
    market = make_market(admin)
    x, y = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=500)
    bettor.call("place_wager", market_id=market.id, outcome_id=y, stake=400)
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=700)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    assert balance(conn, bettor) == 0

    admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="wrong winner")
    row = conn.execute(
        "select payout from app.wagers where user_id = %s and outcome_id = %s",
        [bettor.user_id, y],
    ).fetchone()
    assert row is not None
    (won,) = row
    first_payout = 750
    assert balance(conn, bettor) == max(0, won - first_payout)
    debts = conn.execute(
        "select coalesce(sum(amount), 0) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone()
    assert debts == (max(0, first_payout - won),)
    assert_invariants(conn)


def test_a_voided_wagers_refund_first_repays_its_owners_debt_on_that_market(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    kept = bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=500)["wager_id"]
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=700)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    admin.call("unsettle_market", market_id=market.id, reason="under review")
    assert conn.execute(
        "select sum(amount) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone() == (750,)

    admin.call("void_wager", wager_id=kept, reason="the event was not run")
    assert balance(conn, bettor) == 0
    assert conn.execute(
        "select sum(amount) from app.user_debts where user_id = %s", [bettor.user_id]
    ).fetchone() == (250,)
    assert_invariants(conn)


def unsettled_with_a_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> tuple[int, int]:
    """The bettor stakes 1,000 on x and 1,000 on y, another user 2,000 on y; x wins, the bettor
    withdraws everything and the market is unsettled: the wallet held nothing, so the whole payout
    of x is a debt. Returns the market and y."""
    market = make_market(admin)
    x, y = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=x, stake=1000)
    bettor.call("place_wager", market_id=market.id, outcome_id=y, stake=1000)
    other.call("place_wager", market_id=market.id, outcome_id=y, stake=2000)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    bettor.call("withdraw", amount=balance(conn, bettor))
    admin.call("unsettle_market", market_id=market.id, reason="under review")
    return market.id, y


def debt_of(conn: Connection, who: Persona) -> int:
    row = conn.execute(
        "select coalesce(sum(amount), 0) from app.user_debts where user_id = %s", [who.user_id]
    ).fetchone()
    assert row is not None
    return int(row[0])


def winnings(conn: Connection, who: Persona) -> int:
    row = conn.execute(
        "select coalesce(sum(payout), 0) from app.wagers where user_id = %s and settlement = 'won'",
        [who.user_id],
    ).fetchone()
    assert row is not None
    return int(row[0])


def assert_collected(
    conn: Connection, debtor: Persona, answer: dict[str, Any], credited: int, debt: int
) -> None:
    """The debt rule after `credited` went to a debtor who owed `debt`: the answer says what was
    collected, the wallet keeps only what exceeded the debt, the debt keeps what was not repaid."""
    assert answer["debts_collected"] == min(credited, debt)
    assert balance(conn, debtor) == max(0, credited - debt)
    assert debt_of(conn, debtor) == max(0, debt - credited)
    assert_invariants(conn)


def test_unsettle_then_propose_and_confirm_collects_the_debt_like_resettle_does(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """A market that requires two admins cannot be resettled: the documented path is unsettle,
    propose, confirm. That path used to pay the debtor in full and collect nothing."""
    market_id, y = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)
    assert debt > 0 and balance(conn, bettor) == 0
    admin.call("require_settlement_confirmation", market_id=market_id, required=True)
    admin.call("propose_settlement", market_id=market_id, outcome_id=y)
    second = persona(conn, "second_admin", admin=True)

    confirmed = second.call("confirm_settlement", market_id=market_id)

    assert_collected(conn, bettor, confirmed, winnings(conn, bettor), debt)


def test_unsettle_then_settle_collects_the_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market_id, y = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)

    settled = admin.call("settle_market", market_id=market_id, outcome_id=y)

    assert_collected(conn, bettor, settled, winnings(conn, bettor), debt)


def test_unsettle_then_void_market_takes_the_refund_toward_the_debt(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market_id, _ = unsettled_with_a_debt(conn, admin, bettor, other)
    debt = debt_of(conn, bettor)
    other_before = balance(conn, other)

    voided = admin.call("void_market", market_id=market_id, reason="called off")

    assert balance(conn, other) == other_before + 2000  # no debt: the whole refund
    assert_collected(conn, bettor, voided, 2000, debt)  # both of the bettor's stakes
