"""preview_settlement (docs/settlement-review.md) shows, to the minor unit, what settle_market then
does, and changes nothing: rake, dust, rounding, refunds, locked fixed-odds payouts, the house's
share, the pending wagers settling would reject, and random markets. It is for admins and the
service role, refuses what settle_market refuses, and is declared stable, running as its owner.
Persona by persona."""

import random
from collections import Counter
from decimal import Decimal

from tests.db.helpers import balance, escrow, house, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.db.review_helpers import figures, preview_then_settle, stake
from tests.pgserver import Connection

# preview = settlement, to the minor unit ---------------------------------------------------------


def test_a_parimutuel_preview_with_dust_is_exactly_the_settlement(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Rake 500 bps. On X: bettor 12.34 and 10.01, other 33.33; on Y: third 25.01.
    total 8069, rake floor(403.45) = 403, net 7666, winning pool 5568; payouts
    floor(stake * 7666 / 5568): 1698, 1378, 4588; paid 7664, dust 2, house 405.
    Payout per unit staked: 7666 / 5568 = 1.37679... -> 1.3768."""
    third = persona(conn, "third")
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    w1, w2 = stake(bettor, market.id, x, 1234), stake(bettor, market.id, x, 1001)
    w3, w4 = stake(other, market.id, x, 3333), stake(third, market.id, y, 2501)
    house_before = house(conn)

    preview = preview_then_settle(conn, admin, market.id, x)

    assert figures(preview) == {
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
    assert Decimal(str(preview["payout_per_unit"])) == Decimal("1.3768")
    assert [
        (w["wager_id"], w["username"], w["settlement"], w["payout"]) for w in preview["wagers"]
    ] == [
        (w1["id"], "bettor", "won", 1698),
        (w2["id"], "bettor", "won", 1378),
        (w3["id"], "other", "won", 4588),
        (w4["id"], "third", "lost", 0),
    ]
    assert (preview["kind"], preview["status"], preview["winning_label"]) == (
        "parimutuel",
        "open",
        "Yes",
    )
    assert preview["summary"] == (
        "Yes wins: pool 80.69, rake 4.03, 76.64 paid on 3 winning and 1 losing wagers, "
        "dust 0.02, house 4.05."
    )
    assert house(conn) == house_before + 405
    assert escrow(conn, market.id) == 0
    assert_invariants(conn)


def test_a_preview_with_tiny_winners_keeps_every_rounding_of_the_settlement(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """Rake 2500 bps on 0.06: rake floor(1.5) = 1, net 5; winners on 0.03 get floor(5 / 3) = 1
    and floor(10 / 3) = 3: paid 4, dust 1, house 2; the one-cent winner gets back what he staked."""
    third = persona(conn, "third")
    market = make_market(admin, kind="parimutuel", rake_bps=2500)
    x, y = market.outcomes
    stake(bettor, market.id, x, 1)
    stake(other, market.id, x, 2)
    stake(third, market.id, y, 3)

    preview = preview_then_settle(conn, admin, market.id, x)

    assert (preview["rake"], preview["net_pool"], preview["total_paid"], preview["dust"]) == (
        1,
        5,
        4,
        1,
    )
    assert [w["payout"] for w in preview["wagers"]] == [1, 3, 0]
    assert Decimal(str(preview["payout_per_unit"])) == Decimal("1.6667")
    assert_invariants(conn)


def test_a_preview_pays_the_exact_floor_where_numeric_division_would_round_up(
    conn: Connection, admin: Persona
) -> None:
    """stake * net / winning pool = 796516814 * 3000012366 / 1000000007 = 2389560274.99...;
    the payout is its floor, 2389560274, in the preview as in the settlement (the case of
    test_settlement_parimutuel.py), checked against Python's integer division."""
    conn.execute("update app.config set initial_balance = 4000000000")
    winner, other, loser = (persona(conn, name) for name in ("winner", "other", "loser"))
    market = make_market(admin, kind="parimutuel", rake_bps=0, max_payout=10**12)
    first, second = market.outcomes
    stake(winner, market.id, first, 796516814)
    stake(other, market.id, first, 203483193)
    stake(loser, market.id, second, 2000012359)
    preview = preview_then_settle(conn, admin, market.id, first)
    assert (preview["net_pool"], preview["winning_pool"]) == (3000012366, 1000000007)
    assert [w["payout"] for w in preview["wagers"]] == [
        796516814 * 3000012366 // 1000000007,
        203483193 * 3000012366 // 1000000007,
        0,
    ]
    assert preview["wagers"][0]["payout"] == 2389560274
    assert preview["dust"] == 3000012366 - sum(w["payout"] for w in preview["wagers"])
    assert_invariants(conn)


def test_a_preview_where_nobody_backed_the_winner_shows_every_stake_refunded(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    stake(bettor, market.id, x, 1000)
    stake(bettor, market.id, x, 333)
    stake(other, market.id, x, 2000)

    preview = preview_then_settle(conn, admin, market.id, y)

    assert figures(preview) == {
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
    assert preview["payout_per_unit"] is None
    assert [(w["settlement"], w["payout"]) for w in preview["wagers"]] == [
        ("void", 1000),
        ("void", 333),
        ("void", 2000),
    ]
    assert preview["summary"] == (
        "Nobody backed No, all refunded: pool 33.33, rake 0.00, 33.33 paid on 0 winning and "
        "0 losing wagers, dust 0.00, house 0.00."
    )
    assert (balance(conn, bettor), balance(conn, other)) == (10000, 10000)
    assert_invariants(conn)


def test_a_fixed_odds_preview_pays_each_winner_its_locked_payout(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """bettor 10.00 on A at 1.5 (15.00), other 20.00 on B at 1.55, bettor 5.00 on B at 1.4583,
    bettor 7.00 on A at 1.5682 (10.97). A wins: paid 25.97 on winning stakes of 17.00
    (25.97 / 17.00 = 1.52764... -> 1.5276 per unit), house keeps 16.03; no rake, no dust."""
    market = make_market(admin)
    a, b = market.outcomes
    stake(bettor, market.id, a, 1000)
    stake(other, market.id, b, 2000)
    stake(bettor, market.id, b, 500)
    stake(bettor, market.id, a, 700)

    preview = preview_then_settle(conn, admin, market.id, a)

    assert figures(preview) == {
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
    assert [w["payout"] for w in preview["wagers"]] == [1500, 0, 0, 1097]
    assert Decimal(str(preview["payout_per_unit"])) == Decimal("1.5276")
    assert balance(conn, bettor) == 10397
    assert_invariants(conn)


def test_a_fixed_odds_preview_shows_the_house_paying_what_the_stakes_do_not_cover(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    preview = preview_then_settle(conn, admin, market.id, market.outcomes[0])
    assert (preview["total_paid"], preview["house_result"]) == (1500, -500)
    assert preview["summary"].endswith("house -5.00.")
    assert_invariants(conn)


def test_a_preview_lists_the_pending_wagers_that_settling_would_reject(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    a, b = market.outcomes
    accepted = stake(bettor, market.id, a, 1000)
    admin.call("approve_wager", wager_id=accepted["id"])
    held = [stake(other, market.id, b, 500), stake(bettor, market.id, a, 300)]

    preview = preview_then_settle(conn, admin, market.id, a)

    assert preview["pending_refunded"] == {"wagers": 2, "amount": 800}
    assert [(w["wager_id"], w["username"], w["stake"]) for w in preview["pending_wagers"]] == [
        (held[0]["id"], "other", 500),
        (held[1]["id"], "bettor", 300),
    ]
    assert [w["wager_id"] for w in preview["wagers"]] == [accepted["id"]]
    assert (preview["total_pool"], preview["total_paid"]) == (1000, 1500)
    assert preview["summary"].endswith(
        "house -5.00; 2 pending wagers (8.00) rejected and refunded first."
    )
    for w in held:
        assert wager(conn, w["id"])["approval"] == "rejected"
    assert_invariants(conn)


def test_a_preview_of_a_market_without_wagers_is_all_zeros(
    conn: Connection, admin: Persona
) -> None:
    for kind in ("parimutuel", "fixed_odds"):
        market = make_market(admin, kind=kind)
        preview = preview_then_settle(conn, admin, market.id, market.outcomes[1])
        assert (preview["total_pool"], preview["total_paid"], preview["wagers"]) == (0, 0, [])
        assert preview["refunded"] is (kind == "parimutuel")


def test_previews_equal_settlements_on_random_markets(conn: Connection, admin: Persona) -> None:
    """Seeded random markets of both kinds, 2 to 4 outcomes, random rakes, held wagers approved or
    left pending, awkward stakes (1, primes, round numbers): every preview is its settlement. The
    run must reach dust, a full refund, pending wagers, a losing house and a one-cent winner."""
    rng = random.Random(20260407)
    bettors = [persona(conn, f"punter{i}") for i in range(6)]
    seen: Counter[str] = Counter()
    for number in range(40):
        kind = "parimutuel" if number % 2 else "fixed_odds"
        approval = number % 3 == 0
        market = make_market(
            admin,
            kind=kind,
            outcomes=[f"o{i}" for i in range(rng.randint(2, 4))],
            rake_bps=rng.choice([0, 1, 333, 500, 2500]),
            requires_approval=approval,
        )
        for _ in range(rng.randint(0, 10)):
            who = rng.choice(bettors)
            amount = rng.choice([1, 2, 3, 7, 97, 101, 333, 500, 997, 1000])
            if balance(conn, who) and balance(conn, who) < amount:
                continue
            placed = stake(who, market.id, rng.choice(market.outcomes), amount)
            if approval and rng.random() < 0.6:
                admin.call("approve_wager", wager_id=placed["id"])
        if rng.random() < 0.5:
            admin.call("close_market", market_id=market.id)
        preview = preview_then_settle(conn, admin, market.id, rng.choice(market.outcomes))
        seen["dust"] += preview["dust"] > 0
        seen["refunded"] += preview["refunded"] and preview["total_pool"] > 0
        seen["pending"] += preview["pending_refunded"]["wagers"] > 0
        seen["house loses"] += preview["house_result"] < 0
        seen["one-cent winner"] += any(
            w["stake"] == 1 and w["settlement"] == "won" for w in preview["wagers"]
        )
    assert set(seen) == {"dust", "refunded", "pending", "house loses", "one-cent winner"}
    assert min(seen.values()) > 0, seen
    assert_invariants(conn)


# preview: who may, and what it refuses -------------------------------------------------------


def test_preview_is_for_admins_and_the_service_role(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona, service_role: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 100)
    args = {"market_id": market.id, "outcome_id": market.outcomes[0]}
    bettor.refused("not_admin", "preview_settlement", **args)
    anon.denied("select public.preview_settlement(%s, %s)", [market.id, market.outcomes[0]])
    assert service_role.call("preview_settlement", **args) == admin.call(
        "preview_settlement", **args
    )


def test_preview_refuses_what_settle_market_refuses(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market, elsewhere = make_market(admin), make_market(admin)
    missing = scalar(conn, "select coalesce(max(id), 0) + 1000 from app.markets")
    error = admin.refused("market_not_found", "preview_settlement", market_id=missing, outcome_id=1)
    assert detail(error) == {"market_id": missing}
    error = admin.refused(
        "outcome_not_found",
        "preview_settlement",
        market_id=market.id,
        outcome_id=elsewhere.outcomes[0],
    )
    assert detail(error) == {"market_id": market.id, "outcome_id": elsewhere.outcomes[0]}

    draft = make_market(admin, status="draft")
    error = admin.refused(
        "invalid_market_state",
        "preview_settlement",
        market_id=draft.id,
        outcome_id=draft.outcomes[0],
    )
    assert (detail(error)["status"], detail(error)["action"]) == ("draft", "preview_settlement")
    admin.call("void_market", market_id=elsewhere.id, reason="off")
    admin.refused(
        "invalid_market_state",
        "preview_settlement",
        market_id=elsewhere.id,
        outcome_id=elsewhere.outcomes[0],
    )
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    admin.refused(
        "already_settled", "preview_settlement", market_id=market.id, outcome_id=market.outcomes[1]
    )


def test_preview_is_declared_stable_and_runs_as_its_owner(conn: Connection) -> None:
    assert conn.execute(
        """select provolatile, prosecdef, proconfig from pg_catalog.pg_proc
           where oid = 'public.preview_settlement(bigint, bigint)'::regprocedure"""
    ).fetchone() == ("s", True, ['search_path=""', "statement_timeout=5min"])
