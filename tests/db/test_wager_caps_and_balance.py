"""What a stake may not pass (docs/engine.md): the outcome's cap, the market's payout ceiling
(fixed odds and parimutuel estimates) and the balance; a first wager creates the wallet and spends
from the initial balance."""

from decimal import Decimal

from tests.db.helpers import make_market
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.quotes import dec
from tests.pgserver import Connection

# place_wager: caps, ceiling, balance -------------------------------------------------------------


def test_a_stake_above_the_outcomes_cap_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """Fresh caps are 100.00; after 100.00 on Yes, Yes is capped at the 10.00 minimum."""
    market = make_market(admin)
    yes = market.outcomes[0]
    bettor.call("deposit", amount=5000)
    error = bettor.refused(
        "stake_above_cap", "place_wager", market_id=market.id, outcome_id=yes, stake=10001
    )
    assert (detail(error)["cap"], detail(error)["stake"]) == (10000, 10001)
    bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=10000)
    assert (
        detail(
            bettor.refused(
                "stake_above_cap", "place_wager", market_id=market.id, outcome_id=yes, stake=1001
            )
        )["cap"]
        == 1000
    )
    assert (
        bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=1000)["balance"]
        == 4000
    )
    assert_invariants(conn)


def test_a_fixed_odds_payout_above_the_markets_ceiling_is_refused(
    admin: Persona, bettor: Persona
) -> None:
    """At 1.5 a stake of 6.68 would pay 10.02 > 10.00; 6.67 pays floor(10.005) = 10.00."""
    market = make_market(admin, max_payout=1000)
    yes = market.outcomes[0]
    error = bettor.refused(
        "payout_above_maximum", "place_wager", market_id=market.id, outcome_id=yes, stake=668
    )
    assert detail(error) == {
        "market_id": market.id,
        "stake": 668,
        "payout": 1002,
        "max_payout": 1000,
    }
    placed = bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=667)
    assert placed["potential_payout"] == 1000


def test_a_parimutuel_estimated_payout_above_the_ceiling_is_refused(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    """50.00 on B. 2.65 on A: round(52.65 * 0.95 / 2.65, 4) = 18.8745, pays floor(50.017425)
    = 50.01 > 50.00. 2.64 on A: 18.9424, pays floor(50.007936) = 50.00."""
    market = make_market(admin, kind="parimutuel", max_payout=5000)
    a, b = market.outcomes
    other.call("place_wager", market_id=market.id, outcome_id=b, stake=5000)
    error = bettor.refused(
        "payout_above_maximum", "place_wager", market_id=market.id, outcome_id=a, stake=265
    )
    assert (detail(error)["payout"], detail(error)["max_payout"]) == (5001, 5000)
    placed = bettor.call("place_wager", market_id=market.id, outcome_id=a, stake=264)
    assert (dec(placed["odds"]), placed["quote"]["estimated_payout"]) == (Decimal("18.9424"), 5000)


def test_a_stake_above_the_balance_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("withdraw", amount=9000)
    error = bettor.refused(
        "insufficient_funds",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1001,
    )
    assert detail(error) == {"balance": 1000, "stake": 1001}
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    assert placed["balance"] == 0
    assert_invariants(conn)


def test_a_first_wager_creates_the_wallet_and_spends_from_the_initial_balance(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, kind="parimutuel")
    bettor.refused(
        "insufficient_funds",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=10001,
    )
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=10000
    )
    assert (placed["balance"], placed["balance_version"]) == (0, 2)
