"""Settling happens once, and what it does first: a second settlement is refused and pays nothing;
settling an open market closes it first, a closed one keeps its closing time; pending wagers are
rejected and refunded; the winner must be an outcome of the market."""

from tests.db.helpers import balance, escrow, ledger_snapshot, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.settlements import record, stake
from tests.pgserver import Connection

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
