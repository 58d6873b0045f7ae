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


@pytest.mark.parametrize(
    ("rewrite", "checks"),
    [
        (
            "update app.house_bets set payout = payout + 1 where id = %(bet)s",
            # its GGR (migration 0030) was stake - the payout it had
            {"house bet not moved as it says", "house bet ggr not as settled"},
        ),
        (
            "update app.house_bets set ggr_commission_bps = 5 where id = %(bet)s",
            {"house bet ggr not as settled"},
        ),
        (
            "update app.seed_pairs set next_nonce = next_nonce + 1 where id = %(pair)s",
            {"seed pair nonces are not its bets"},
        ),
        (
            "update app.house_bets set nonce = nonce + 1 where id = %(bet)s",
            {"seed pair nonces are not its bets", "house bet id not its round"},
        ),
        (
            """update app.house_bets set transaction_id = (
                   select min(id) from app.ledger_transactions where kind = 'grant')
               where id = %(bet)s""",
            {"house bet not moved as it says", "house bet transaction without its one bet"},
        ),
    ],
    ids=["payout", "a commission rate", "a nonce skipped", "a nonce moved", "another transaction"],
)
def test_a_house_bet_rewritten_behind_its_guards_is_named(
    conn: Connection, bettor: Persona, rewrite: str, checks: set[str]
) -> None:
    """The guards refuse these rewrites (tests/db/test_house_settings_and_reads.py); with the
    triggers off (session_replication_role = replica, as a restore could leave them), the checks
    still see."""
    bet = bettor.call("play_dice", stake=100, target=5000, over=True)
    assert violations(conn) == {}
    conn.execute("set local session_replication_role = replica")
    conn.execute(rewrite, {"bet": bet["id"], "pair": bet["seed_pair_id"]})
    conn.execute("set local session_replication_role = origin")
    assert set(engine_violations(conn)) == checks
