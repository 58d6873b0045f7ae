"""The books' checks find what they are for. A fixed-odds wager above its cap, or not at the live
odds of its acceptance, is named by the engine's own check (what `wagerbase db check` runs, priced
by the SQL functions) and by the tests' replay from the documented formulas; sound books give
neither."""

import pytest

from tests.db.helpers import make_market
from tests.db.invariants import REPLAYED_CAP_CHECK, violations
from tests.db.personas import Persona
from tests.pgserver import Connection
from wagerbase.operations.invariants import CAP_CHECK
from wagerbase.operations.invariants import violations as engine_violations


def _one_wager(admin: Persona, bettor: Persona) -> tuple[int, int]:
    """A fixed-odds market holding one wager of 10.00 on its first outcome: (market, wager)."""
    market = make_market(admin)
    bettor.call("deposit", amount=5000)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    return market.id, placed["wager_id"]


def _named(rows: list[str], market_id: int, wager_id: int) -> bool:
    """Whether a row of a check (as text) names this market and wager first."""
    return any(row.startswith(f"({market_id},{wager_id},") for row in rows)


def _replayed(rows: list[tuple[object, ...]], market_id: int, wager_id: int) -> bool:
    return any(row[:2] == (market_id, wager_id) for row in rows)


def test_sound_books_break_no_check(conn: Connection, admin: Persona, bettor: Persona) -> None:
    _one_wager(admin, bettor)
    assert violations(conn) == {}


@pytest.mark.parametrize(
    "rewrite",
    [
        # the market's margin and smallest cap rewritten after the fact: its cap was 0.02 then
        "update app.markets set margin = 1, min_cap = 1 where id = %(market)s",
        # the wager's locked odds rewritten: not the live odds of its acceptance
        "update app.wagers set odds = odds + 0.0001 where id = %(wager)s",
    ],
    ids=["above its cap", "not at the live odds"],
)
def test_a_wager_broken_after_the_fact_is_named_by_both_checks(
    conn: Connection, admin: Persona, bettor: Persona, rewrite: str
) -> None:
    market_id, wager_id = _one_wager(admin, bettor)
    conn.execute(rewrite, {"market": market_id, "wager": wager_id})

    assert _named(engine_violations(conn)[CAP_CHECK], market_id, wager_id)
    assert _replayed(violations(conn)[REPLAYED_CAP_CHECK], market_id, wager_id)
