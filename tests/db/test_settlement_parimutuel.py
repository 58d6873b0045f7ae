"""Parimutuel settlement, to the minor unit: winners share the net pool rounded down and the dust
goes to the house; the rake is rounded down and tiny winners can get less than their stake;
payouts are rounded down even where numeric division rounds up; when nobody backed the winner
every stake is refunded and no rake taken; a market without wagers settles to zeros."""

from tests.db.helpers import RECORD, balance, escrow, house, ledger_snapshot, make_market, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.db.settlements import record, settlement_entries, stake
from tests.pgserver import Connection

# parimutuel --------------------------------------------------------------------------------------


def test_parimutuel_winners_share_the_net_pool_rounded_down_and_the_dust_goes_to_the_house(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    """Rake 500 bps. On X: bettor 12.34 and 10.01, other 33.33; on Y: third 25.01.
    total = 8069, rake = floor(8069 * 500 / 10000) = floor(403.45) = 403, net = 7666,
    winning pool = 1234 + 1001 + 3333 = 5568; payouts floor(stake * 7666 / 5568):
    1234 -> floor(1698.97) = 1698, 1001 -> floor(1378.17) = 1378, 3333 -> floor(4588.86) = 4588;
    paid 7664, dust 7666 - 7664 = 2, house 403 + 2 = 405."""
    third = persona(conn, "third")
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    w1, w2 = stake(bettor, market.id, x, 1234), stake(bettor, market.id, x, 1001)
    w3, w4 = stake(other, market.id, x, 3333), stake(third, market.id, y, 2501)
    house_before = house(conn)

    result = admin.call("settle_market", market_id=market.id, outcome_id=x)

    expected = {
        "total_pool": 8069,
        "rake": 403,
        "net_pool": 7666,
        "winning_pool": 5568,
        "total_paid": 7664,
        "dust": 2,
        "house_result": 405,
        "refunded": False,
        "winners_count": 3,
        "losers_count": 1,
        "winning_users": 2,
    }
    assert record(anon, market.id) == expected
    assert {k: result[k] for k in RECORD} == expected
    assert result["winning_outcome_id"] == x
    assert [
        (wager(conn, w["id"])["settlement"], wager(conn, w["id"])["payout"])
        for w in (w1, w2, w3, w4)
    ] == [("won", 1698), ("won", 1378), ("won", 4588), ("lost", 0)]
    assert (balance(conn, bettor), balance(conn, other), balance(conn, third)) == (
        10000 - 2235 + 1698 + 1378,
        10000 - 3333 + 4588,
        10000 - 2501,
    )
    assert house(conn) == house_before + 405
    assert escrow(conn, market.id) == 0
    assert settlement_entries(conn, market.id) == [
        ("escrow", None, -8069),
        ("house", None, 405),
        ("user", bettor.user_id, 3076),
        ("user", other.user_id, 4588),
    ]
    assert bettor.rows(
        "select stake, payout, profit from public.my_wagers where market_id = %s order by id",
        [market.id],
    ) == [(1234, 1698, 464), (1001, 1378, 377)]
    assert_invariants(conn)


def test_the_rake_is_rounded_down_and_tiny_winners_can_get_less_than_their_stake(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Rake 2500 bps on 0.06: rake floor(1.5) = 1, net 5; winners on 0.03 get floor(1 * 5 / 3)
    = 1 and floor(2 * 5 / 3) = 3, paid 4, dust 1, house 2."""
    third = persona(conn, "third")
    market = make_market(admin, kind="parimutuel", rake_bps=2500)
    x, y = market.outcomes
    stake(bettor, market.id, x, 1)
    stake(other, market.id, x, 2)
    stake(third, market.id, y, 3)
    admin.call("settle_market", market_id=market.id, outcome_id=x)
    assert record(bettor, market.id) == {
        "total_pool": 6,
        "rake": 1,
        "net_pool": 5,
        "winning_pool": 3,
        "total_paid": 4,
        "dust": 1,
        "house_result": 2,
        "refunded": False,
        "winners_count": 2,
        "losers_count": 1,
        "winning_users": 2,
    }
    assert (balance(conn, bettor), balance(conn, other), balance(conn, third)) == (
        10000,
        10001,
        9997,
    )
    assert_invariants(conn)


def test_parimutuel_payouts_are_rounded_down_even_when_numeric_division_rounds_up(
    conn: Connection, admin: Persona
) -> None:
    """stake * net / winning_pool = 2389560274.99...; numeric division rounded it to ...275."""
    conn.execute("update app.config set initial_balance = 4000000000")
    winner, other, loser = (persona(conn, name) for name in ("winner", "other", "loser"))
    market = make_market(admin, kind="parimutuel", rake_bps=0, max_payout=10**12)
    first, second = market.outcomes
    winner.call("place_wager", market_id=market.id, outcome_id=first, stake=796516814)
    other.call("place_wager", market_id=market.id, outcome_id=first, stake=203483193)
    loser.call("place_wager", market_id=market.id, outcome_id=second, stake=2000012359)
    settled = admin.call("settle_market", market_id=market.id, outcome_id=first)
    assert (settled["net_pool"], settled["winning_pool"]) == (3000012366, 1000000007)
    payout = conn.execute(
        "select payout from app.wagers where user_id = %s", [winner.user_id]
    ).fetchone()
    assert payout == (796516814 * 3000012366 // 1000000007,)
    assert payout == (2389560274,)
    assert_invariants(conn)


def test_when_nobody_backed_the_winner_every_stake_is_refunded_and_no_rake_is_taken(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    placed = [
        stake(bettor, market.id, x, 1000),
        stake(bettor, market.id, x, 333),
        stake(other, market.id, x, 2000),
    ]
    house_before = house(conn)

    admin.call("settle_market", market_id=market.id, outcome_id=y)

    assert record(bettor, market.id) == {
        "total_pool": 3333,
        "rake": 0,
        "net_pool": 3333,
        "winning_pool": 0,
        "total_paid": 3333,
        "dust": 0,
        "house_result": 0,
        "refunded": True,
        "winners_count": 0,
        "losers_count": 0,
        "winning_users": 0,
    }
    for w in placed:
        row = wager(conn, w["id"])
        assert (row["approval"], row["settlement"], row["payout"]) == (
            "accepted",
            "void",
            w["stake"],
        )
    assert (balance(conn, bettor), balance(conn, other)) == (10000, 10000)
    assert house(conn) == house_before
    assert settlement_entries(conn, market.id) == [
        ("escrow", None, -3333),
        ("user", bettor.user_id, 1333),
        ("user", other.user_id, 2000),
    ]
    assert_invariants(conn)


def test_a_market_without_wagers_settles_to_zeros(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    market = make_market(admin, kind="parimutuel")
    before = ledger_snapshot(conn)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert record(anon, market.id)["total_pool"] == 0
    assert record(anon, market.id)["total_paid"] == 0
    assert ledger_snapshot(conn) == before
    assert_invariants(conn)
