"""Fixed-odds settlement, to the minor unit, and the house's result: a bettor with several wagers on
both sides is paid every win in one entry; the house pays what the stakes do not cover;
house_summary's profit is the sum of the house results, and it shows what is at stake right now."""

from decimal import Decimal

from tests.db.helpers import balance, house, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.db.settlements import record, settlement_entries, stake
from tests.pgserver import Connection

# fixed odds --------------------------------------------------------------------------------------


def test_a_bettor_with_several_wagers_on_both_sides_is_paid_every_win_in_one_entry(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """V = 100.00, c = 0.5. The market moves as it is bet:
    bettor 10.00 on A at 1.5 (pays 15.00); other 20.00 on B at 1 + 110/100 * 0.5 = 1.55;
    bettor 5.00 on B at 1 + 110/120 * 0.5 = 1.4583 (pays floor(7.2915) = 7.29);
    bettor 7.00 on A at 1 + 125/110 * 0.5 = 1.5682 (pays floor(10.9774) = 10.97).
    A wins: the bettor gets 15.00 + 10.97 = 25.97 and ends at 100 - 22 + 25.97 = 103.97;
    the house keeps 42.00 - 25.97 = 16.03."""
    market = make_market(admin)
    a, b = market.outcomes
    bets = [
        (stake(bettor, market.id, a, 1000), "1.5", 1500),
        (stake(other, market.id, b, 2000), "1.55", 3100),
        (stake(bettor, market.id, b, 500), "1.4583", 729),
        (stake(bettor, market.id, a, 700), "1.5682", 1097),
    ]
    for placed, odds, payout in bets:
        assert (Decimal(str(placed["odds"])), placed["potential_payout"]) == (Decimal(odds), payout)
    house_before = house(conn)
    assert balance(conn, bettor) == 7800

    admin.call("settle_market", market_id=market.id, outcome_id=a)

    assert balance(conn, bettor) == 10397
    assert balance(conn, other) == 8000
    assert house(conn) == house_before + 1603
    assert [
        (wager(conn, w["id"])["settlement"], wager(conn, w["id"])["payout"]) for w, _, _ in bets
    ] == [("won", 1500), ("lost", 0), ("lost", 0), ("won", 1097)]
    credited = conn.execute(
        """select amount, balance_before, balance_after from app.ledger_entries
           where user_id = %s and kind = 'settlement'""",
        [bettor.user_id],
    ).fetchall()
    assert credited == [(2597, 7800, 10397)]
    assert (
        scalar(
            conn,
            "select count(*) from app.ledger_entries where user_id = %s and kind = 'settlement'",
            [other.user_id],
        )
        == 0
    )
    assert record(bettor, market.id) == {
        "total_pool": 4200,
        "rake": 0,
        "net_pool": 4200,
        "winning_pool": 1700,
        "total_paid": 2597,
        "dust": 0,
        "house_result": 1603,
        "refunded": False,
        "winners_count": 2,
        "losers_count": 2,
        "winning_users": 1,
    }
    assert settlement_entries(conn, market.id) == [
        ("escrow", None, -4200),
        ("house", None, 1603),
        ("user", bettor.user_id, 2597),
    ]
    assert_invariants(conn)


def test_the_house_pays_what_the_stakes_do_not_cover(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    house_before = house(conn)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert balance(conn, bettor) == 10500
    assert house(conn) == house_before - 500
    assert record(bettor, market.id)["house_result"] == -500
    assert settlement_entries(conn, market.id) == [
        ("escrow", None, -1000),
        ("house", None, -500),
        ("user", bettor.user_id, 1500),
    ]
    assert_invariants(conn)


def test_house_summary_profit_is_the_sum_of_the_house_results(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """First market: bettor 20.00 on A at 1.5, other 30.00 on B at 1 + 120/100 * 0.5 = 1.6
    (pays 48.00); B wins, the house keeps 50.00 - 48.00 = 2.00. Second market: bettor 10.00 on
    A at 1.5 wins 15.00; the house pays 5.00. Together the house is 3.00 down."""
    before = admin.call("house_summary")
    first = make_market(admin)
    stake(bettor, first.id, first.outcomes[0], 2000)
    assert stake(other, first.id, first.outcomes[1], 3000)["potential_payout"] == 4800
    admin.call("settle_market", market_id=first.id, outcome_id=first.outcomes[1])
    second = make_market(admin)
    stake(bettor, second.id, second.outcomes[0], 1000)
    admin.call("settle_market", market_id=second.id, outcome_id=second.outcomes[0])
    assert (
        record(bettor, first.id)["house_result"],
        record(bettor, second.id)["house_result"],
    ) == (
        200,
        -500,
    )

    after = admin.call("house_summary")

    assert after["profit"] == before["profit"] + 200 - 500
    assert after["balance"] == before["balance"] + 200 - 500
    assert after["version"] == before["version"] + 2
    assert after["profit"] == scalar(
        conn, "select coalesce(sum(house_result), 0) from app.settlements"
    )
    assert after["markets_settled"] == before["markets_settled"] + 2
    assert after["wallets"] == before["wallets"] + 2
    assert_invariants(conn)


def test_house_summary_shows_what_is_at_stake_right_now(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    before = admin.call("house_summary")
    market = make_market(admin, requires_approval=True)
    closed = make_market(admin)
    admin.call("close_market", market_id=closed.id)
    stake(bettor, market.id, market.outcomes[0], 400)
    bettor.call("deposit", amount=600)
    after = admin.call("house_summary")
    assert after["escrow_held"] == before["escrow_held"] + 400
    assert after["user_balances"] == before["user_balances"] + 10000 - 400 + 600
    assert after["deposits_net"] == before["deposits_net"] + 600
    assert after["grants"] == before["grants"] + 10000
    assert after["markets_open"] == before["markets_open"] + 1
    assert after["markets_closed"] == before["markets_closed"] + 1
    assert after["pending_wagers"] == before["pending_wagers"] + 1
    assert (after["profit"], after["balance"]) == (before["profit"], before["balance"])
