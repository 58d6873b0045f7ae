"""Settlement, to the minor unit: parimutuel rake and dust, refunds when nobody backed the winner,
fixed-odds payouts credited once per user, the house's result, and settling only once."""

from decimal import Decimal
from typing import Any

from tests.db.helpers import (
    RECORD,
    balance,
    escrow,
    house,
    ledger_snapshot,
    make_market,
    scalar,
    wager,
)
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.pgserver import Connection


def record(who: Persona, market_id: int) -> dict[str, Any]:
    """The market's settlement record as the public `settlements` view shows it."""
    rows = who.rows(
        f"select {', '.join(RECORD)} from public.settlements where market_id = %s", [market_id]
    )
    assert len(rows) == 1
    return dict(zip(RECORD, rows[0], strict=True))


def settlement_entries(conn: Connection, market_id: int) -> list[tuple[Any, ...]]:
    """(account kind, user, amount) of the market's settlement transaction, by amount."""
    return conn.execute(
        """select a.kind, e.user_id, e.amount
           from app.ledger_entries as e
           join app.ledger_transactions as t on t.id = e.transaction_id
           join app.accounts as a on a.id = e.account_id
           where t.kind = 'settlement' and t.market_id = %s
           order by e.amount, a.kind""",
        [market_id],
    ).fetchall()


def stake(who: Persona, market_id: int, outcome_id: int, amount: int) -> dict[str, Any]:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount
    )
    return placed


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


# settling once, and what settling does first -----------------------------------------------------


def test_a_second_settlement_is_refused_and_pays_nothing(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    a, b = market.outcomes
    stake(bettor, market.id, a, 1000)
    stake(other, market.id, b, 1000)
    admin.call("settle_market", market_id=market.id, outcome_id=a)
    before = ledger_snapshot(conn)
    settled = record(bettor, market.id)
    actions = scalar(conn, "select count(*) from app.admin_actions")

    for outcome in (a, b):
        error = admin.refused(
            "already_settled", "settle_market", market_id=market.id, outcome_id=outcome
        )
        assert detail(error)["status"] == "settled"

    assert ledger_snapshot(conn) == before
    assert record(bettor, market.id) == settled
    assert scalar(conn, "select count(*) from app.admin_actions") == actions
    assert (balance(conn, bettor), balance(conn, other)) == (10500, 9000)
    assert_invariants(conn)


def test_settling_an_open_market_closes_it_first(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    settled = admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])
    assert settled["winning_outcome_id"] == market.outcomes[1]
    assert bettor.rows(
        """select status, winning_outcome_id, closed_at is not null, settled_at is not null
           from public.markets where id = %s""",
        [market.id],
    ) == [("settled", market.outcomes[1], True, True)]


def test_settling_a_closed_market_keeps_its_closing_time(conn: Connection, admin: Persona) -> None:
    market = make_market(admin)
    closed_at = admin.call("close_market", market_id=market.id)["closed_at"]
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert admin.rows(
        "select to_jsonb(closed_at) #>> '{}', status from public.markets where id = %s",
        [market.id],
    ) == [(closed_at, "settled")]


def test_pending_wagers_at_settlement_are_rejected_and_refunded(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    a, b = market.outcomes
    accepted = stake(bettor, market.id, a, 1000)
    admin.call("approve_wager", wager_id=accepted["id"])
    held = [stake(other, market.id, b, 500), stake(bettor, market.id, a, 300)]

    result = admin.call("settle_market", market_id=market.id, outcome_id=a)

    assert result["pending_refunded"] == {"wagers": 2, "amount": 800}
    for w in held:
        row = wager(conn, w["id"])
        assert (row["approval"], row["settlement"], row["payout"], row["reject_reason"]) == (
            "rejected",
            "void",
            w["stake"],
            "market_settled",
        )
    assert (wager(conn, accepted["id"])["settlement"], wager(conn, accepted["id"])["payout"]) == (
        "won",
        1500,
    )
    assert (balance(conn, bettor), balance(conn, other)) == (10500, 10000)
    assert {
        k: result[k]
        for k in (
            "total_pool",
            "winning_pool",
            "total_paid",
            "house_result",
            "winners_count",
            "losers_count",
        )
    } == {
        "total_pool": 1000,
        "winning_pool": 1000,
        "total_paid": 1500,
        "house_result": -500,
        "winners_count": 1,
        "losers_count": 0,
    }
    assert escrow(conn, market.id) == 0
    assert_invariants(conn)


def test_the_winner_must_be_an_outcome_of_the_market(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market, elsewhere = make_market(admin), make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    before = ledger_snapshot(conn)
    error = admin.refused(
        "outcome_not_found", "settle_market", market_id=market.id, outcome_id=elsewhere.outcomes[0]
    )
    assert detail(error) == {"market_id": market.id, "outcome_id": elsewhere.outcomes[0]}
    assert ledger_snapshot(conn) == before
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("open",)
    ]
