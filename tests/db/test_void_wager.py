"""void_wager (docs/corrections.md): a wager on an open market is refunded and the odds move back;
a pending wager is refused.

Each final balance is compared with the same market settled directly with the right winner (in a
savepoint that is rolled back), and the ledger stays balanced. Persona by persona."""

from typing import Any

from tests.db.corrections import stake
from tests.db.helpers import balance, escrow, make_market, scalar, superuser_refused, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection


def odds(conn: Connection, outcome_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "select odds, cap, pool from app.outcome_quotes where outcome_id = %s", [outcome_id]
    ).fetchone()
    assert row is not None
    return tuple(row)


# void_wager --------------------------------------------------------------------------------------


def test_void_wager_on_an_open_market_refunds_it_and_moves_the_odds_back(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    stake(other, market.id, x, 800)
    stake(other, market.id, y, 300)
    quotes = (odds(conn, x), odds(conn, y))
    bettor.call("get_wallet")
    wallet = balance(conn, bettor)
    w = stake(bettor, market.id, x, 600)
    assert odds(conn, x) != quotes[0]
    version = scalar(conn, "select version from app.markets where id = %s", [market.id])
    liability = scalar(conn, "select liability from app.outcomes where id = %s", [x])

    result = admin.call("void_wager", wager_id=w, reason="palpable error")

    assert (odds(conn, x), odds(conn, y)) == quotes
    assert balance(conn, bettor) == wallet
    assert escrow(conn, market.id) == 1100
    assert scalar(conn, "select version from app.markets where id = %s", [market.id]) == version + 1
    assert scalar(conn, "select liability from app.outcomes where id = %s", [x]) == (
        liability - wager(conn, w)["potential_payout"]
    )
    assert (wager(conn, w)["settlement"], wager(conn, w)["payout"]) == ("void", 600)
    stake_tx = scalar(
        conn, "select id from app.ledger_transactions where kind = 'stake' and wager_id = %s", [w]
    )
    assert result["reverses_transaction_id"] == stake_tx
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="twice")
    superuser_refused(
        conn,
        "already_reversed",
        "select app._record_reversal('void_wager', %s, %s, %s, 'again')",
        [stake_tx, market.id, w],
    )
    assert_invariants(conn)

    # settling afterwards pays only the wagers still in the pool; an unsettle leaves it void
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    assert wager(conn, w)["payout"] == 600
    admin.call("unsettle_market", market_id=market.id, reason="check")
    assert wager(conn, w)["settlement"] == "void"
    assert escrow(conn, market.id) == 1100
    assert_invariants(conn)


def test_void_wager_refuses_a_pending_wager(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    x, _ = market.outcomes
    w = stake(bettor, market.id, x, 500)
    assert wager(conn, w)["approval"] == "pending"
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="r")
