"""place_wager locks the odds within the tolerance (docs/engine.md): odds that moved more are
refused with the current quote, odds within it are taken at the live odds, and a parimutuel wager
is compared on its effective odds."""

from decimal import Decimal

from tests.db.helpers import balance, make_market, scalar
from tests.db.personas import Persona, detail
from tests.db.quotes import dec, tote_with_pools
from tests.pgserver import Connection

# place_wager: odds locking -----------------------------------------------------------------------


def test_odds_that_moved_more_than_the_tolerance_are_refused_with_the_current_quote(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("get_wallet")
    market = make_market(admin)
    yes = market.outcomes[0]
    for expected in (1.52, 1.4899, 2):
        error = bettor.refused(
            "odds_changed",
            "place_wager",
            market_id=market.id,
            outcome_id=yes,
            stake=1000,
            expected_odds=expected,
        )
        shown = detail(error)
        assert dec(shown["current_odds"]) == Decimal("1.5")
        assert dec(shown["expected_odds"]) == Decimal(str(expected))
        assert dec(shown["tolerance"]) == Decimal("0.01")
        assert (shown["cap"], shown["estimated_payout"]) == (10000, 1500)
    assert balance(conn, bettor) == 10000
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 0


def test_odds_within_the_tolerance_are_accepted_at_the_live_odds(
    admin: Persona, bettor: Persona
) -> None:
    first, second = make_market(admin), make_market(admin)
    above = bettor.call(
        "place_wager",
        market_id=first.id,
        outcome_id=first.outcomes[0],
        stake=1000,
        expected_odds=1.51,
    )
    below = bettor.call(
        "place_wager",
        market_id=second.id,
        outcome_id=second.outcomes[0],
        stake=1000,
        expected_odds=1.49,
    )
    for placed, expected in ((above, "1.51"), (below, "1.49")):
        assert dec(placed["odds"]) == Decimal("1.5")
        assert dec(placed["expected_odds"]) == Decimal(expected)
        assert placed["potential_payout"] == 1500


def test_parimutuel_odds_locking_compares_the_effective_odds(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = tote_with_pools(admin, other, 3000, 1000)
    b = market.outcomes[1]
    error = bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=b,
        stake=1000,
        expected_odds=3.8,
    )
    assert dec(detail(error)["current_odds"]) == Decimal("2.375")
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=b, stake=1000, expected_odds=2.38
    )
    assert dec(placed["odds"]) == Decimal("2.375")
