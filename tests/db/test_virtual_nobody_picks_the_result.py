"""Nobody picks a virtual market's result (docs/provably-fair.md): before closes_at nobody closes,
settles or proposes; after the draw no admin settles it, whatever the outcome tried; a drawn
settlement is final, even for the superuser; and a real market is untouched by these gates."""

from tests.db.helpers import make_market, superuser_refused
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.virtual import bet, draw_row, make_due, make_virtual, market_status, scalar, tick
from tests.pgserver import Connection

# Nobody picks the result -----------------------------------------------------------------------


def test_before_closes_at_nobody_closes_settles_or_proposes(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_virtual(admin)
    bet(bettor, market, "Black", 300)
    for outcome in market.outcomes.values():
        error = admin.refused(
            "virtual_market", "settle_market", market_id=market.id, outcome_id=outcome
        )
        assert detail(error)["action"] == "close"
        admin.refused(
            "virtual_market", "propose_settlement", market_id=market.id, outcome_id=outcome
        )
    admin.refused("virtual_market", "close_market", market_id=market.id)
    admin.refused(
        "virtual_market", "require_settlement_confirmation", market_id=market.id, required=True
    )
    assert market_status(conn, market.id) == "open"
    assert draw_row(conn, market.id)["client_seed"] is None
    # and the scheduler leaves it alone until closes_at
    assert market.id not in tick(conn)["closed"]
    assert market_status(conn, market.id) == "open"


def test_after_the_draw_no_admin_settles_it_whatever_the_outcome(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona
) -> None:
    """Once closed (here by close_market, past closes_at), the draw is fixed but still secret: a
    settlement with any outcome is refused the same way, so trying outcomes reveals nothing."""
    market = make_virtual(admin)
    bet(bettor, market, "Green", 200)
    make_due(conn, market.id)
    admin.call("close_market", market_id=market.id)
    assert draw_row(conn, market.id)["client_seed"] is not None
    details = []
    for who in (admin, service_role):
        for outcome in market.outcomes.values():
            error = who.refused(
                "virtual_market", "settle_market", market_id=market.id, outcome_id=outcome
            )
            details.append(detail(error))
        who.refused(
            "virtual_market",
            "propose_settlement",
            market_id=market.id,
            outcome_id=market.outcomes["Red"],
        )
    assert all(d == details[0] for d in details)
    assert market_status(conn, market.id) == "closed"
    assert draw_row(conn, market.id)["revealed_at"] is None
    assert tick(conn)["drawn"] == [market.id]
    assert market_status(conn, market.id) == "settled"


def test_a_drawn_settlement_is_final(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_virtual(admin)
    bet(bettor, market, "Red", 500)
    bet(other, market, "Black", 500)
    make_due(conn, market.id)
    tick(conn)
    winner = scalar(conn, "select winning_outcome_id from app.markets where id = %s", [market.id])
    loser = next(o for o in market.outcomes.values() if o != winner)
    before = conn.execute("select id, balance from app.accounts order by id").fetchall()

    admin.refused("virtual_market", "unsettle_market", market_id=market.id, reason="redo")
    admin.refused(
        "virtual_market", "resettle_market", market_id=market.id, outcome_id=loser, reason="redo"
    )
    admin.refused("already_settled", "settle_market", market_id=market.id, outcome_id=winner)
    admin.refused("already_settled", "void_market", market_id=market.id, reason="no")
    assert conn.execute("select id, balance from app.accounts order by id").fetchall() == before

    # the superuser cannot rewrite it either (short of dropping the triggers)
    superuser_refused(
        conn, "virtual_market", "delete from app.settlements where market_id = %s", [market.id]
    )
    for change in (
        "server_seed = repeat('0', 64),"
        " server_seed_hash = encode(sha256(convert_to(repeat('0', 64), 'UTF8')), 'hex')",
        "result = result + 1",  # always a change (the draw may have been 0)
        "revealed_at = null, reveal_reason = null, revealed_xact = null",
    ):
        superuser_refused(
            conn,
            "virtual_market",
            f"update app.virtual_draws set {change} where market_id = %s",
            [market.id],
        )
    superuser_refused(
        conn, "virtual_market", "delete from app.virtual_draws where market_id = %s", [market.id]
    )
    assert_invariants(conn)


def test_a_real_market_is_untouched_by_the_gates(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, "parimutuel", category="virtual")
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    admin.call("unsettle_market", market_id=market.id, reason="check")
    assert market_status(conn, market.id) == "closed"
