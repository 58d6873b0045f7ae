"""Approvals: on a market that requires approval a wager's stake is held in escrow at once but
stays out of the public pool until an admin approves it (into the pool, no money moves) or
rejects it (the stake goes back); each wager is decided once."""

from decimal import Decimal

from tests.db.helpers import balance, escrow, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.pgserver import Connection


def pools(conn: Connection, market_id: int) -> tuple[int, list[tuple[int, int, int]]]:
    total = scalar(conn, "select total_pool from app.markets where id = %s", [market_id])
    outcomes = conn.execute(
        "select pool, liability, wager_count from app.outcomes where market_id = %s"
        " order by position",
        [market_id],
    ).fetchall()
    return total, [(pool, liability, wagers) for pool, liability, wagers in outcomes]


def test_a_pending_wager_holds_its_stake_but_stays_out_of_the_pool(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    placed = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=2500,
        expected_odds=1.5,
    )
    assert (placed["approval"], placed["settlement"], placed["accepted_version"]) == (
        "pending",
        "open",
        None,
    )
    assert (placed["odds"], placed["potential_payout"]) == (1.5, 3750)
    assert (balance(conn, bettor), escrow(conn, market.id)) == (7500, 2500)
    assert pools(conn, market.id) == (0, [(0, 0, 0), (0, 0, 0)])
    assert bettor.rows(
        "select version, total_pool from public.markets where id = %s", [market.id]
    ) == [(1, 0)]
    assert bettor.rows(
        "select odds, cap from public.outcomes where market_id = %s order by position",
        [market.id],
    ) == [(Decimal("1.5"), 10000), (Decimal("1.5"), 10000)]
    assert bettor.rows("select approval from public.my_wagers where id = %s", [placed["id"]]) == [
        ("pending",)
    ]
    assert_invariants(conn)


def test_admins_list_pending_wagers_oldest_first_per_market_or_all(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    first = make_market(admin, title="First", requires_approval=True)
    second = make_market(admin, title="Second", requires_approval=True)
    a = bettor.call("place_wager", market_id=first.id, outcome_id=first.outcomes[0], stake=1000)
    b = other.call("place_wager", market_id=second.id, outcome_id=second.outcomes[1], stake=300)
    c = other.call("place_wager", market_id=first.id, outcome_id=first.outcomes[1], stake=400)
    query = """select wager_id, market_id, market_title, outcome_id, outcome_label, user_id,
                      username, email, stake, potential_payout, price_impact_pp
               from public.admin_list_pending_wagers(market_id => %s)"""
    assert admin.rows(query, [first.id]) == [
        (
            a["id"],
            first.id,
            "First",
            first.outcomes[0],
            "Yes",
            bettor.user_id,
            "bettor",
            "bettor@example.test",
            1000,
            1500,
            Decimal("100"),
        ),
        (
            c["id"],
            first.id,
            "First",
            first.outcomes[1],
            "No",
            other.user_id,
            "other",
            "other@example.test",
            400,
            600,
            Decimal("100"),
        ),
    ]
    everything = [row[0] for row in admin.rows(query, [None])]
    assert [w for w in everything if w in (a["id"], b["id"], c["id"])] == [
        a["id"],
        b["id"],
        c["id"],
    ]
    admin.call("approve_wager", wager_id=a["id"])
    assert [row[0] for row in admin.rows(query, [first.id])] == [c["id"]]


def test_approval_moves_the_wager_into_the_pool_and_no_money(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=2500
    )
    ledger_before = scalar(conn, "select count(*) from app.ledger_entries")

    approved = admin.call("approve_wager", wager_id=placed["id"])

    assert (approved["approval"], approved["settlement"]) == ("accepted", "open")
    assert approved["decided_by"] == str(admin.user_id)
    assert approved["decided_at"] is not None
    assert approved["accepted_version"] == 2
    assert (approved["odds"], approved["potential_payout"]) == (1.5, 3750)
    assert pools(conn, market.id) == (2500, [(2500, 3750, 1), (0, 0, 0)])
    assert (balance(conn, bettor), escrow(conn, market.id)) == (7500, 2500)
    assert scalar(conn, "select count(*) from app.ledger_entries") == ledger_before
    assert bettor.rows(
        "select version, total_pool from public.markets where id = %s", [market.id]
    ) == [(2, 2500)]
    admin.refused("wager_not_pending", "approve_wager", wager_id=placed["id"])
    error = admin.refused("wager_not_pending", "reject_wager", wager_id=placed["id"])
    assert detail(error)["approval"] == "accepted"
    assert_invariants(conn)


def test_rejection_refunds_the_stake_and_records_why(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, kind="parimutuel", requires_approval=True)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=1234
    )
    assert balance(conn, bettor) == 8766

    rejected = admin.call("reject_wager", wager_id=placed["id"], reason="  stake too large  ")

    assert (rejected["approval"], rejected["settlement"], rejected["payout"]) == (
        "rejected",
        "void",
        1234,
    )
    assert rejected["reject_reason"] == "stake too large"
    assert rejected["decided_by"] == str(admin.user_id)
    assert (balance(conn, bettor), escrow(conn, market.id)) == (10000, 0)
    assert pools(conn, market.id) == (0, [(0, 0, 0), (0, 0, 0)])
    refund = conn.execute(
        """select t.kind, t.wager_id, e.amount from app.ledger_transactions as t
           join app.ledger_entries as e on e.transaction_id = t.id
           where t.market_id = %s and e.user_id = %s and t.kind <> 'stake'""",
        [market.id, bettor.user_id],
    ).fetchall()
    assert refund == [("refund", placed["id"], 1234)]
    logged = admin.rows(
        "select action, wager_id, reason from public.admin_actions where wager_id = %s",
        [placed["id"]],
    )
    assert logged == [("reject_wager", placed["id"], "stake too large")]
    admin.refused("wager_not_pending", "reject_wager", wager_id=placed["id"])
    admin.refused("wager_not_pending", "approve_wager", wager_id=placed["id"])
    assert balance(conn, bettor) == 10000
    assert_invariants(conn)


def test_a_rejection_without_a_reason_says_rejected(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100
    )
    assert admin.call("reject_wager", wager_id=placed["id"])["reject_reason"] == "rejected"


def test_deciding_a_wager_that_does_not_exist_is_refused(admin: Persona) -> None:
    assert detail(admin.refused("wager_not_found", "approve_wager", wager_id=2**62)) == {
        "wager_id": 2**62
    }
    admin.refused("wager_not_found", "reject_wager", wager_id=2**62, reason="no")


def test_an_accepted_wager_on_an_ordinary_market_is_not_pending(
    admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100
    )
    admin.refused("wager_not_pending", "approve_wager", wager_id=placed["id"])
    admin.refused("wager_not_pending", "reject_wager", wager_id=placed["id"])


def test_approval_still_needs_the_stake_to_fit_the_current_cap(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Two pending 100.00 stakes on Yes both fit the fresh cap of 100.00; once the first is in,
    Yes is capped at 10.00 and the second no longer fits."""
    market = make_market(admin, requires_approval=True)
    yes = market.outcomes[0]
    first = bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=10000)
    second = other.call("place_wager", market_id=market.id, outcome_id=yes, stake=10000)
    admin.call("approve_wager", wager_id=first["id"])
    error = admin.refused("stake_above_cap", "approve_wager", wager_id=second["id"])
    assert (detail(error)["cap"], detail(error)["stake"]) == (1000, 10000)
    assert wager(conn, second["id"])["approval"] == "pending"
    admin.call("reject_wager", wager_id=second["id"], reason="over the cap")
    assert balance(conn, other) == 10000
    assert_invariants(conn)


def test_approval_checks_the_cap_at_the_odds_the_wager_keeps(
    conn: Connection, admin: Persona
) -> None:
    """Two held 60.00 wagers at 1.5 each promise 90.00; after the first is approved the live odds
    are 1.3125 and the live cap 64.00, but the second still pays at 1.5: approving it would put
    180.00 of promises against 120.00 staked, a loss beyond the 50.00 margin."""
    first_bettor, second_bettor = persona(conn, "first"), persona(conn, "second")
    market = make_market(admin, requires_approval=True)
    outcome = market.outcomes[0]
    held = [
        who.call("place_wager", market_id=market.id, outcome_id=outcome, stake=6000)["wager_id"]
        for who in (first_bettor, second_bettor)
    ]
    admin.call("approve_wager", wager_id=held[0])
    refused = admin.refused("stake_above_cap", "approve_wager", wager_id=held[1])
    assert refused.diag.message_primary == "stake_above_cap"
    assert_invariants(conn)


def test_a_pending_wager_on_a_closed_market_can_still_be_decided(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=800
    )
    admin.call("close_market", market_id=market.id)
    assert admin.call("approve_wager", wager_id=placed["id"])["approval"] == "accepted"
    assert pools(conn, market.id)[0] == 800
    assert_invariants(conn)
