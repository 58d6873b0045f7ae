"""What the quote and wager tests share: a JSON number as an exact decimal, a quote's numbers so,
and a parimutuel market with pools already in it."""

from decimal import Decimal
from typing import Any

from tests.db.helpers import Market, make_market
from tests.db.personas import Persona


def dec(value: Any) -> Decimal | None:
    """A JSON number as an exact decimal, for comparing odds and shares."""
    return None if value is None else Decimal(str(value))


def quote_numbers(quote: dict[str, Any]) -> dict[str, Any]:
    numeric = {
        "baseline_odds",
        "effective_odds",
        "odds_after",
        "share_before",
        "share_after",
        "price_impact_pp",
        "implied_probability",
    }
    return {k: dec(v) if k in numeric else v for k, v in quote.items()}


def tote_with_pools(admin: Persona, staker: Persona, first: int, second: int) -> Market:
    """A parimutuel market (rake 500 bps) with `first` and `second` staked on its two outcomes."""
    market = make_market(admin, kind="parimutuel")
    staker.call("deposit", amount=first + second)
    staker.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=first)
    staker.call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=second)
    return market
