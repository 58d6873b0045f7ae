"""The seed's worked numbers: BetMarket's formulas with V = 100.00, c = 0.5, M = 50.00."""

from decimal import Decimal

from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection


def test_fresh_market_then_one_hundred_on_outcome_one(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = admin.call("create_market", title="Will it rain?", outcomes=["Yes", "No"])
    first, second = (o["outcome_id"] for o in market["outcomes"])

    def quotes() -> list[tuple[Decimal, int]]:
        rows = bettor.rows(
            "select odds, cap from public.outcomes where market_id = %s order by position",
            [market["id"]],
        )
        return [(odds, cap) for odds, cap in rows]

    assert quotes() == [(Decimal("1.5"), 10000), (Decimal("1.5"), 10000)]

    placed = bettor.call(
        "place_wager", market_id=market["id"], outcome_id=first, stake=10000, expected_odds=1.5
    )
    assert Decimal(str(placed["odds"])) == Decimal("1.5")
    assert placed["potential_payout"] == 15000
    assert placed["balance"] == 0

    assert quotes() == [(Decimal("1.25"), 1000), (Decimal("2.0"), 15000)]
    assert second != first
    assert_invariants(conn)
