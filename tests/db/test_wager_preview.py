"""preview_wager quotes what place_wager would do (docs/engine.md): the locked fixed odds and what
they leave, a parimutuel stake counted in the pools; each preview one telemetry row, anyone may
preview without signing in (and records none), and it refuses what placing would refuse."""

from decimal import Decimal

from tests.db.helpers import make_market, scalar
from tests.db.personas import Persona, detail
from tests.db.quotes import quote_numbers, tote_with_pools
from tests.pgserver import Connection

# preview_wager -----------------------------------------------------------------------------------


def test_a_fixed_odds_preview_quotes_the_locked_odds_and_what_they_leave(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """Fresh market: 1.5 each; 10.00 on Yes moves Yes to 1 + 100/110 * 0.5 = 1.4545."""
    market = make_market(admin)
    bettor.call("get_wallet")
    quote = bettor.call(
        "preview_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    assert quote_numbers(quote) == {
        "market_id": market.id,
        "outcome_id": market.outcomes[0],
        "position": 1,
        "kind": "fixed_odds",
        "stake": 1000,
        "baseline_odds": Decimal("1.5"),
        "effective_odds": Decimal("1.5"),
        "odds_after": Decimal("1.4545"),
        "share_before": Decimal("0"),
        "share_after": Decimal("1"),
        "price_impact_pp": Decimal("100"),
        "implied_probability": Decimal("0.666667"),
        "estimated_payout": 1500,
        "max_payout": 1500,
        "payout_ceiling": 100000000,
        "cap": 10000,
        "takeout": 0,
        "market_version": 1,
        "balance": 10000,
    }


def test_a_parimutuel_preview_counts_the_stake_in_the_pools(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Pools 30.00 / 10.00, rake 5%: B shows 40.00 * 0.95 / 10.00 = 3.8; 10.00 more on B gets
    50.00 * 0.95 / 20.00 = 2.375, its share goes from 25% to 40%, the rake takes 0.50 of it."""
    market = tote_with_pools(admin, other, 3000, 1000)
    quote = bettor.call(
        "preview_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=1000
    )
    assert quote_numbers(quote) == {
        "market_id": market.id,
        "outcome_id": market.outcomes[1],
        "position": 2,
        "kind": "parimutuel",
        "stake": 1000,
        "baseline_odds": Decimal("3.8"),
        "effective_odds": Decimal("2.375"),
        "odds_after": Decimal("2.375"),
        "share_before": Decimal("0.25"),
        "share_after": Decimal("0.4"),
        "price_impact_pp": Decimal("15"),
        "implied_probability": Decimal("0.421053"),
        "estimated_payout": 2375,
        "max_payout": 100000000,
        "payout_ceiling": 100000000,
        "cap": None,
        "takeout": 50,
        "market_version": 3,
        "balance": None,
    }


def test_every_preview_writes_one_telemetry_row(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    before = scalar(conn, "select count(*) from app.quote_telemetry")
    bettor.call("preview_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=250)
    assert scalar(conn, "select count(*) from app.quote_telemetry") == before + 1
    row = conn.execute(
        """select market_id, outcome_id, user_id, stake, baseline_odds, effective_odds,
                  price_impact_pp, share_after
           from app.quote_telemetry order by id desc limit 1"""
    ).fetchone()
    assert row == (
        market.id,
        market.outcomes[1],
        bettor.user_id,
        250,
        Decimal("1.5"),
        Decimal("1.5"),
        Decimal("100"),
        Decimal("1"),
    )


def test_anyone_may_preview_without_signing_in_and_records_no_telemetry(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    """Anonymous quotes are not recorded: nobody could tell them apart, and recording them would
    let anyone grow the telemetry table without end."""
    market = make_market(admin)
    before = scalar(conn, "select count(*) from app.quote_telemetry")
    quote = anon.call("preview_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1)
    assert (quote["estimated_payout"], quote["balance"]) == (1, None)
    assert scalar(conn, "select count(*) from app.quote_telemetry") == before


def test_preview_refuses_what_placing_would_refuse(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    elsewhere = make_market(admin)
    draft = make_market(admin, status="draft")
    closed = make_market(admin)
    admin.call("close_market", market_id=closed.id)
    expired = make_market(admin, closes_at="2999-01-01T00:00:00Z")
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s",
        [expired.id],
    )
    before = scalar(conn, "select count(*) from app.quote_telemetry")
    yes = market.outcomes[0]
    for who in (bettor, anon):
        who.refused(
            "market_not_found",
            "preview_wager",
            market_id=draft.id,
            outcome_id=draft.outcomes[0],
            stake=100,
        )
        who.refused("market_not_found", "preview_wager", market_id=2**62, outcome_id=yes, stake=100)
        who.refused(
            "market_not_open",
            "preview_wager",
            market_id=closed.id,
            outcome_id=closed.outcomes[0],
            stake=100,
        )
        error = who.refused(
            "market_not_open",
            "preview_wager",
            market_id=expired.id,
            outcome_id=expired.outcomes[0],
            stake=100,
        )
        assert detail(error)["status"] == "open"
        who.refused(
            "outcome_not_found",
            "preview_wager",
            market_id=market.id,
            outcome_id=elsewhere.outcomes[0],
            stake=100,
        )
        for stake in (0, -5, None):
            who.refused(
                "invalid_amount", "preview_wager", market_id=market.id, outcome_id=yes, stake=stake
            )
    admin.refused(
        "market_not_open",
        "preview_wager",
        market_id=draft.id,
        outcome_id=draft.outcomes[0],
        stake=100,
    )
    assert scalar(conn, "select count(*) from app.quote_telemetry") == before
