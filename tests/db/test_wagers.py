"""Quotes and wagers: preview_wager and place_wager agree, lock the odds within the tolerance,
respect caps, the payout ceiling, the balance and the market's state, and are idempotent."""

from decimal import Decimal
from typing import Any

from tests.db.helpers import Market, balance, escrow, make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.pgserver import Connection


def dec(value: Any) -> Decimal | None:
    """A JSON number as an exact decimal, for comparing odds and shares."""
    return None if value is None else Decimal(str(value))


def quote_numbers(quote: dict[str, Any]) -> dict[str, Any]:
    numeric = {
        "baseline_odds",
        "effective_odds",
        "odds_after",
        "share_before",
        "share_after",
        "price_impact_pp",
        "implied_probability",
    }
    return {k: dec(v) if k in numeric else v for k, v in quote.items()}


def tote_with_pools(admin: Persona, staker: Persona, first: int, second: int) -> Market:
    """A parimutuel market (rake 500 bps) with `first` and `second` staked on its two outcomes."""
    market = make_market(admin, kind="parimutuel")
    staker.call("deposit", amount=first + second)
    staker.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=first)
    staker.call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=second)
    return market


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


# place_wager: odds locking -----------------------------------------------------------------------


def test_odds_that_moved_more_than_the_tolerance_are_refused_with_the_current_quote(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("get_wallet")
    market = make_market(admin)
    yes = market.outcomes[0]
    for expected in (1.52, 1.4899, 2):
        error = bettor.refused(
            "odds_changed",
            "place_wager",
            market_id=market.id,
            outcome_id=yes,
            stake=1000,
            expected_odds=expected,
        )
        shown = detail(error)
        assert dec(shown["current_odds"]) == Decimal("1.5")
        assert dec(shown["expected_odds"]) == Decimal(str(expected))
        assert dec(shown["tolerance"]) == Decimal("0.01")
        assert (shown["cap"], shown["estimated_payout"]) == (10000, 1500)
    assert balance(conn, bettor) == 10000
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 0


def test_odds_within_the_tolerance_are_accepted_at_the_live_odds(
    admin: Persona, bettor: Persona
) -> None:
    first, second = make_market(admin), make_market(admin)
    above = bettor.call(
        "place_wager",
        market_id=first.id,
        outcome_id=first.outcomes[0],
        stake=1000,
        expected_odds=1.51,
    )
    below = bettor.call(
        "place_wager",
        market_id=second.id,
        outcome_id=second.outcomes[0],
        stake=1000,
        expected_odds=1.49,
    )
    for placed, expected in ((above, "1.51"), (below, "1.49")):
        assert dec(placed["odds"]) == Decimal("1.5")
        assert dec(placed["expected_odds"]) == Decimal(expected)
        assert placed["potential_payout"] == 1500


def test_parimutuel_odds_locking_compares_the_effective_odds(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = tote_with_pools(admin, other, 3000, 1000)
    b = market.outcomes[1]
    error = bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=b,
        stake=1000,
        expected_odds=3.8,
    )
    assert dec(detail(error)["current_odds"]) == Decimal("2.375")
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=b, stake=1000, expected_odds=2.38
    )
    assert dec(placed["odds"]) == Decimal("2.375")


# place_wager: caps, ceiling, balance -------------------------------------------------------------


def test_a_stake_above_the_outcomes_cap_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """Fresh caps are 100.00; after 100.00 on Yes, Yes is capped at the 10.00 minimum."""
    market = make_market(admin)
    yes = market.outcomes[0]
    bettor.call("deposit", amount=5000)
    error = bettor.refused(
        "stake_above_cap", "place_wager", market_id=market.id, outcome_id=yes, stake=10001
    )
    assert (detail(error)["cap"], detail(error)["stake"]) == (10000, 10001)
    bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=10000)
    assert (
        detail(
            bettor.refused(
                "stake_above_cap", "place_wager", market_id=market.id, outcome_id=yes, stake=1001
            )
        )["cap"]
        == 1000
    )
    assert (
        bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=1000)["balance"]
        == 4000
    )
    assert_invariants(conn)


def test_a_fixed_odds_payout_above_the_markets_ceiling_is_refused(
    admin: Persona, bettor: Persona
) -> None:
    """At 1.5 a stake of 6.68 would pay 10.02 > 10.00; 6.67 pays floor(10.005) = 10.00."""
    market = make_market(admin, max_payout=1000)
    yes = market.outcomes[0]
    error = bettor.refused(
        "payout_above_maximum", "place_wager", market_id=market.id, outcome_id=yes, stake=668
    )
    assert detail(error) == {
        "market_id": market.id,
        "stake": 668,
        "payout": 1002,
        "max_payout": 1000,
    }
    placed = bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=667)
    assert placed["potential_payout"] == 1000


def test_a_parimutuel_estimated_payout_above_the_ceiling_is_refused(
    admin: Persona, bettor: Persona, other: Persona
) -> None:
    """50.00 on B. 2.65 on A: round(52.65 * 0.95 / 2.65, 4) = 18.8745, pays floor(50.017425)
    = 50.01 > 50.00. 2.64 on A: 18.9424, pays floor(50.007936) = 50.00."""
    market = make_market(admin, kind="parimutuel", max_payout=5000)
    a, b = market.outcomes
    other.call("place_wager", market_id=market.id, outcome_id=b, stake=5000)
    error = bettor.refused(
        "payout_above_maximum", "place_wager", market_id=market.id, outcome_id=a, stake=265
    )
    assert (detail(error)["payout"], detail(error)["max_payout"]) == (5001, 5000)
    placed = bettor.call("place_wager", market_id=market.id, outcome_id=a, stake=264)
    assert (dec(placed["odds"]), placed["quote"]["estimated_payout"]) == (Decimal("18.9424"), 5000)


def test_a_stake_above_the_balance_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("withdraw", amount=9000)
    error = bettor.refused(
        "insufficient_funds",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1001,
    )
    assert detail(error) == {"balance": 1000, "stake": 1001}
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000
    )
    assert placed["balance"] == 0
    assert_invariants(conn)


def test_a_first_wager_creates_the_wallet_and_spends_from_the_initial_balance(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, kind="parimutuel")
    bettor.refused(
        "insufficient_funds",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=10001,
    )
    placed = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=10000
    )
    assert (placed["balance"], placed["balance_version"]) == (0, 2)


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


# place_wager: idempotency ------------------------------------------------------------------------


def test_a_replayed_wager_returns_the_same_wager_and_is_placed_once(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    yes = market.outcomes[0]
    first = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=yes,
        stake=1200,
        expected_odds=1.5,
        idempotency_key="bet-1",
    )
    again = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=yes,
        stake=1200,
        expected_odds=1.5,
        idempotency_key="bet-1",
    )
    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["wager_id"] == first["wager_id"]
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert scalar(conn, "select count(*) from app.wagers where idempotency_key = 'bet-1'") == 1
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1
    assert (balance(conn, bettor), escrow(conn, market.id)) == (8800, 1200)
    assert conn.execute(
        "select pool, wager_count from app.outcomes where id = %s", [yes]
    ).fetchone() == (1200, 1)
    assert_invariants(conn)


def test_a_replay_writes_so_its_commit_waits_for_the_standby_like_the_original(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """PostgreSQL waits for a synchronous standby only at the commit of a transaction that wrote.
    A replay that only read could tell a client, right after a failover, that a wager exists
    which no second machine holds yet; so each replay counts itself on the key's row
    (tests/live/test_unknown_outcome_standby_failover.py shows the wait itself)."""
    market = make_market(admin)
    args = {"market_id": market.id, "outcome_id": market.outcomes[0], "stake": 300}
    bettor.call("place_wager", **args, idempotency_key="bet-durable")
    counted = (
        "select replays, last_replayed_at is not null from app.idempotency_keys where key = %s"
    )
    assert conn.execute(counted, ["bet-durable"]).fetchone() == (0, False)

    for replays in (1, 2):
        again = bettor.call("place_wager", **args, idempotency_key="bet-durable")
        assert again["replayed"] is True
        assert conn.execute(counted, ["bet-durable"]).fetchone() == (replays, True)
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1
    assert_invariants(conn)


def test_a_replay_answers_even_after_the_market_closed(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    first = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        idempotency_key="late",
    )
    admin.call("close_market", market_id=market.id)
    again = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        idempotency_key="late",
    )
    assert (again["wager_id"], again["replayed"]) == (first["wager_id"], True)


def test_a_wager_key_reused_with_other_arguments_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    yes, no = market.outcomes
    bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=500, idempotency_key="k")
    for changed in ({"stake": 501}, {"outcome_id": no}, {"expected_odds": 1.5}):
        arguments: dict[str, Any] = {"market_id": market.id, "outcome_id": yes, "stake": 500}
        arguments.update(changed)
        bettor.refused("idempotency_conflict", "place_wager", idempotency_key="k", **arguments)
    bettor.refused("idempotency_conflict", "deposit", amount=500, idempotency_key="k")
    assert balance(conn, bettor) == 9500
    assert scalar(conn, "select count(*) from app.wagers where market_id = %s", [market.id]) == 1


def test_a_refused_wager_leaves_its_key_free(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    bettor.refused(
        "odds_changed",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        expected_odds=1.3,
        idempotency_key="again",
    )
    placed = bettor.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=500,
        expected_odds=1.5,
        idempotency_key="again",
    )
    assert placed["replayed"] is False
