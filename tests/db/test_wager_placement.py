"""place_wager's allowed paths (docs/engine.md): a fixed-odds wager locks its odds and payout and
moves the stake to escrow, a parimutuel one records its effective odds and promises no payout,
only signed-in users wager; and what it refuses about the market, the outcome and the amount."""

from decimal import Decimal

from tests.db.helpers import balance, escrow, make_market
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.quotes import dec, tote_with_pools
from tests.pgserver import Connection

# place_wager: the allowed paths ------------------------------------------------------------------


def test_a_fixed_odds_wager_locks_odds_and_payout_and_moves_the_stake_to_escrow(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """10.00 on Yes at 1.5 promises 15.00. Then Yes: 1 + 100/110 * 0.5 = 1.4545, cap
    floor((10.00 + 50.00 - 15.00) / 0.4545) = 99.00; No: 1 + 110/100 * 0.5 = 1.55, cap
    floor((10.00 + 50.00) / 0.55) = 109.09."""
    market = make_market(admin)
    yes = market.outcomes[0]
    preview = bettor.call("preview_wager", market_id=market.id, outcome_id=yes, stake=1000)
    placed = bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=1000)

    assert placed["wager_id"] == placed["id"]
    assert placed["user_id"] == str(bettor.user_id)
    assert (placed["stake"], dec(placed["odds"]), placed["potential_payout"]) == (
        1000,
        Decimal("1.5"),
        1500,
    )
    assert (placed["approval"], placed["settlement"], placed["payout"]) == (
        "accepted",
        "open",
        None,
    )
    assert (placed["balance"], placed["balance_version"], placed["replayed"]) == (9000, 2, False)
    assert placed["quote"] == {k: v for k, v in preview.items() if k != "balance"}
    assert (placed["market"]["version"], placed["market"]["total_pool"]) == (2, 1000)
    assert placed["accepted_version"] == 2
    assert [(o["pool"], dec(o["odds"]), o["cap"]) for o in placed["market"]["outcomes"]] == [
        (1000, Decimal("1.4545"), 9900),
        (0, Decimal("1.55"), 10909),
    ]
    assert conn.execute(
        "select pool, liability, wager_count from app.outcomes where id = %s", [yes]
    ).fetchone() == (1000, 1500, 1)
    assert (balance(conn, bettor), escrow(conn, market.id)) == (9000, 1000)
    entries = conn.execute(
        """select e.user_id, e.amount, t.kind, t.wager_id from app.ledger_entries as e
           join app.ledger_transactions as t on t.id = e.transaction_id
           where t.market_id = %s order by e.amount""",
        [market.id],
    ).fetchall()
    assert entries == [
        (bettor.user_id, -1000, "stake", placed["id"]),
        (None, 1000, "stake", placed["id"]),
    ]
    assert bettor.rows("select id, stake, settlement from public.my_wagers") == [
        (placed["id"], 1000, "open")
    ]
    assert_invariants(conn)


def test_a_parimutuel_wager_records_its_effective_odds_and_promises_no_payout(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = tote_with_pools(admin, other, 3000, 1000)
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=1000
    )
    assert (dec(placed["odds"]), placed["potential_payout"]) == (Decimal("2.375"), None)
    assert [(o["pool"], dec(o["odds"]), o["cap"]) for o in placed["market"]["outcomes"]] == [
        (3000, Decimal("1.5833"), None),
        (2000, Decimal("2.375"), None),
    ]
    assert placed["balance"] == 9000
    assert_invariants(conn)


def test_a_wager_is_for_signed_in_users_only(
    admin: Persona, anon: Persona, service_role: Persona
) -> None:
    market = make_market(admin)
    call = "select public.place_wager(market_id => %s, outcome_id => %s, stake => 100)"
    anon.denied(call, [market.id, market.outcomes[0]])
    service_role.denied(call, [market.id, market.outcomes[0]])


# place_wager: market, outcome and amount ---------------------------------------------------------


def test_a_wager_needs_an_open_market_before_its_closing_time(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("get_wallet")
    closed, voided, settled = make_market(admin), make_market(admin), make_market(admin)
    admin.call("close_market", market_id=closed.id)
    admin.call("void_market", market_id=voided.id, reason="off")
    admin.call("settle_market", market_id=settled.id, outcome_id=settled.outcomes[0])
    expired = make_market(admin, closes_at="2999-01-01T00:00:00Z")
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s",
        [expired.id],
    )
    for market, status in (
        (closed, "closed"),
        (voided, "void"),
        (settled, "settled"),
        (expired, "open"),
    ):
        error = bettor.refused(
            "market_not_open",
            "place_wager",
            market_id=market.id,
            outcome_id=market.outcomes[0],
            stake=100,
        )
        assert detail(error)["status"] == status
    assert balance(conn, bettor) == 10000


def test_a_draft_is_not_found_by_a_bettor_and_not_open_for_an_admin(
    admin: Persona, bettor: Persona
) -> None:
    draft = make_market(admin, status="draft")
    bettor.refused(
        "market_not_found",
        "place_wager",
        market_id=draft.id,
        outcome_id=draft.outcomes[0],
        stake=100,
    )
    bettor.refused(
        "market_not_found", "place_wager", market_id=2**62, outcome_id=draft.outcomes[0], stake=100
    )
    admin.refused(
        "market_not_open",
        "place_wager",
        market_id=draft.id,
        outcome_id=draft.outcomes[0],
        stake=100,
    )


def test_an_outcome_of_another_market_is_not_found(admin: Persona, bettor: Persona) -> None:
    market, elsewhere = make_market(admin), make_market(admin)
    error = bettor.refused(
        "outcome_not_found",
        "place_wager",
        market_id=market.id,
        outcome_id=elsewhere.outcomes[1],
        stake=100,
    )
    assert detail(error) == {"market_id": market.id, "outcome_id": elsewhere.outcomes[1]}


def test_a_stake_must_be_a_positive_number_of_minor_units(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("get_wallet")
    market = make_market(admin)
    for stake in (0, -1, None):
        bettor.refused(
            "invalid_amount",
            "place_wager",
            market_id=market.id,
            outcome_id=market.outcomes[0],
            stake=stake,
        )
    assert balance(conn, bettor) == 10000
