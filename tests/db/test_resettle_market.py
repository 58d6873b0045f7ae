"""resettle_market (docs/corrections.md) ends exactly as if the right result had been set first,
for fixed odds and for parimutuel markets with rake and dust.

Each final balance is compared with the same market settled directly with the right winner (in a
savepoint that is rolled back), and the ledger stays balanced. Persona by persona."""

from tests.db.corrections import money, settled_directly, stake
from tests.db.helpers import make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.pgserver import Connection

# resettle: exactly as if the right result had been set first -------------------------------------


def test_resettle_fixed_odds_ends_as_if_the_right_winner_had_been_declared_first(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    third = persona(conn, "third")
    people = [bettor, other, third]
    market = make_market(admin, outcomes=["Home", "Draw", "Away"])
    home, draw, away = market.outcomes
    stake(bettor, market.id, home, 400)
    stake(bettor, market.id, draw, 250)
    stake(bettor, market.id, home, 120)
    stake(other, market.id, draw, 900)
    stake(other, market.id, away, 60)
    stake(third, market.id, away, 333)
    stake(third, market.id, draw, 71)
    right = settled_directly(conn, admin, market.id, draw, people)

    admin.call("settle_market", market_id=market.id, outcome_id=home)
    assert money(conn, market.id, people) != right
    result = admin.call("resettle_market", market_id=market.id, outcome_id=draw, reason="VAR")

    now = money(conn, market.id, people)
    assert now["users"] == right["users"] and now["house"] == right["house"]
    assert [(s, p) for _, s, p in now["wagers"]] == [(s, p) for _, s, p in right["wagers"]]
    assert result["settled"]["winning_outcome_id"] == draw
    assert_invariants(conn)

    # and back again: a second correction reverses the second settlement, once
    admin.call("resettle_market", market_id=market.id, outcome_id=away, reason="again")
    assert (
        scalar(conn, "select count(*) from app.ledger_reversals where market_id = %s", [market.id])
        == 2
    )
    assert (
        scalar(
            conn, "select count(*) from app.settlement_history where market_id = %s", [market.id]
        )
        == 2
    )
    assert_invariants(conn)


def test_resettle_parimutuel_with_rake_and_dust_matches_the_direct_settlement(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Rake 500 bps; X: bettor 1234 + 1001, other 3333; Y: third 2501, other 17.
    First (wrongly) X; then Y: total 8086, rake floor(404.3) = 404, net 7682, winning pool 2518:
    third floor(2501 * 7682 / 2518) = floor(7630.13) = 7630, other floor(17 * 7682 / 2518) =
    floor(51.86) = 51; paid 7681, dust 1, house 405."""
    third = persona(conn, "third")
    people = [bettor, other, third]
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    stake(bettor, market.id, x, 1234)
    stake(bettor, market.id, x, 1001)
    stake(other, market.id, x, 3333)
    stake(third, market.id, y, 2501)
    stake(other, market.id, y, 17)
    start = money(conn, market.id, people)
    right = settled_directly(conn, admin, market.id, y, people)
    assert right["users"]["third"] == start["users"]["third"] + 7630
    assert right["users"]["other"] == start["users"]["other"] + 51
    assert right["house"] == start["house"] + 405

    admin.call("settle_market", market_id=market.id, outcome_id=x)
    result = admin.call("resettle_market", market_id=market.id, outcome_id=y, reason="photo")

    now = money(conn, market.id, people)
    assert now["users"] == right["users"] and now["house"] == right["house"]
    assert now["escrow"] == 0
    assert {k: result["settled"][k] for k in ("rake", "dust", "total_paid", "house_result")} == {
        "rake": 404,
        "dust": 1,
        "total_paid": 7681,
        "house_result": 405,
    }
    assert_invariants(conn)
