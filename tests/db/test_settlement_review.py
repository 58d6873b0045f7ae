"""Settlement review (docs/settlement-review.md): preview_settlement shows, to the minor unit,
what settle_market then does, and changes nothing; a market can require two-step settlement
(propose, then confirm by another admin or the service role), with at most one pending proposal;
a direct settle_market is refused while confirmation is required or a proposal is pending.

Persona by persona: an admin, another admin (the reviewer), the service role, a bettor, anonymous.
The concurrent and notification tests commit, each in a fresh database."""

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, refusal
from tests.db.concurrent import all_at_once
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
from tests.db.personas import Persona, create_user, detail, persona
from tests.db.stream import StreamReader
from tests.pgserver import Connection

REVIEW_FUNCTIONS = {
    "preview_settlement": "bigint, bigint",
    "require_settlement_confirmation": "bigint, boolean",
    "propose_settlement": "bigint, bigint, text",
    "confirm_settlement": "bigint, bigint",
    "cancel_settlement_proposal": "bigint, text",
}
LONG = frozenset({"preview_settlement", "propose_settlement", "confirm_settlement"})
WAIT = 30.0


@pytest.fixture
def reviewer(conn: Connection) -> Persona:
    """A second admin: the other pair of eyes."""
    return persona(conn, "reviewer", admin=True)


def stake(who: Persona, market_id: int, outcome_id: int, amount: int) -> dict[str, Any]:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount
    )
    return placed


def settlement_row(conn: Connection, market_id: int) -> dict[str, Any]:
    """The settlements row as the superuser reads it."""
    cursor = conn.execute(
        f"select {', '.join(RECORD)}, winning_outcome_id, settled_by from app.settlements "
        "where market_id = %s",
        [market_id],
    )
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {c.name: v for c, v in zip(cursor.description, row, strict=True)}


def untouched(conn: Connection, market_id: int) -> tuple[Any, ...]:
    """Everything a preview must leave alone: the ledger, the market, its wagers and outcomes,
    the audit log, the telemetry and the proposals."""
    return (
        ledger_snapshot(conn),
        conn.execute("select * from app.markets where id = %s", [market_id]).fetchall(),
        conn.execute(
            "select * from app.outcomes where market_id = %s order by id", [market_id]
        ).fetchall(),
        conn.execute(
            "select * from app.wagers where market_id = %s order by id", [market_id]
        ).fetchall(),
        scalar(conn, "select count(*) from app.admin_actions"),
        scalar(conn, "select count(*) from app.quote_telemetry"),
        scalar(conn, "select count(*) from app.settlement_proposals"),
    )


def assert_preview_was_the_settlement(
    conn: Connection, preview: dict[str, Any], result: dict[str, Any], market_id: int
) -> None:
    """The preview's figures equal the settlements row and settle_market's answer; each wager's
    previewed payout and outcome is what it got; the pending ones are the ones rejected."""
    row = settlement_row(conn, market_id)
    assert {k: preview[k] for k in RECORD} == {k: row[k] for k in RECORD}
    assert {k: result[k] for k in RECORD} == {k: row[k] for k in RECORD}
    assert preview["winning_outcome_id"] == row["winning_outcome_id"]
    assert preview["pending_refunded"] == result["pending_refunded"]
    settled = conn.execute(
        """select w.id, w.user_id::text, p.username, w.outcome_id, w.stake, w.settlement, w.payout
           from app.wagers as w left join app.profiles as p on p.user_id = w.user_id
           where w.market_id = %s and w.approval = 'accepted' order by w.id""",
        [market_id],
    ).fetchall()
    assert [
        (
            w["wager_id"],
            w["user_id"],
            w["username"],
            w["outcome_id"],
            w["stake"],
            w["settlement"],
            w["payout"],
        )
        for w in preview["wagers"]
    ] == settled
    rejected = conn.execute(
        """select id, user_id::text, outcome_id, stake from app.wagers
           where market_id = %s and reject_reason = 'market_settled' order by id""",
        [market_id],
    ).fetchall()
    assert [
        (w["wager_id"], w["user_id"], w["outcome_id"], w["stake"])
        for w in preview["pending_wagers"]
    ] == rejected
    assert preview["pending_refunded"] == {
        "wagers": len(rejected),
        "amount": sum(r[3] for r in rejected),
    }


def preview_then_settle(
    conn: Connection, admin: Persona, market_id: int, outcome_id: int
) -> dict[str, Any]:
    """Preview (checking it changed nothing), settle, and check that they agree. The preview."""
    before = untouched(conn, market_id)
    preview: dict[str, Any] = admin.call(
        "preview_settlement", market_id=market_id, outcome_id=outcome_id
    )
    assert untouched(conn, market_id) == before
    result = admin.call("settle_market", market_id=market_id, outcome_id=outcome_id)
    assert_preview_was_the_settlement(conn, preview, result, market_id)
    return preview


def figures(preview: dict[str, Any]) -> dict[str, Any]:
    return {k: preview[k] for k in RECORD}


def actions_since(conn: Connection, after_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        """select action, market_id, actor, reason from app.admin_actions
           where id > %s order by id""",
        [after_id],
    ).fetchall()


def last_action(conn: Connection) -> int:
    return scalar(conn, "select coalesce(max(id), 0) from app.admin_actions")


def proposal(conn: Connection, proposal_id: int) -> dict[str, Any]:
    cursor = conn.execute("select * from app.settlement_proposals where id = %s", [proposal_id])
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {c.name: v for c, v in zip(cursor.description, row, strict=True)}


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
    test_review_findings.py), checked against Python's integer division."""
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


# requiring confirmation --------------------------------------------------------------------------


def test_a_market_that_requires_confirmation_refuses_a_direct_settlement(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    row = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert row["settlement_requires_confirmation"] is True
    before = untouched(conn, market.id)

    for who in (admin, service_role):
        error = who.refused(
            "settlement_needs_confirmation",
            "settle_market",
            market_id=market.id,
            outcome_id=market.outcomes[0],
        )
        assert error.sqlstate == "PT409"
        assert detail(error) == {
            "market_id": market.id,
            "outcome_id": market.outcomes[0],
            "settlement_requires_confirmation": True,
            "pending_proposal_id": None,
        }
    assert untouched(conn, market.id) == before
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("open",)
    ]

    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert balance(conn, bettor) == 10500
    assert_invariants(conn)


def test_the_setting_is_logged_when_it_changes_and_only_then(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin, status="draft")
    start = last_action(conn)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    log = conn.execute(
        """select action, before ->> 'settlement_requires_confirmation',
                  after ->> 'settlement_requires_confirmation', actor
           from app.admin_actions where id > %s order by id""",
        [start],
    ).fetchall()
    assert log == [
        ("require_settlement_confirmation", "false", "true", admin.user_id),
        ("require_settlement_confirmation", "true", "false", admin.user_id),
    ]


def test_the_setting_moves_the_market_version_when_it_changes_and_only_then(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """A new version is how a reader of the markets view knows its row changed."""
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    query = "select version, settlement_requires_confirmation from public.markets where id = %s"
    ((version, _),) = bettor.rows(query, [market.id])
    on = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert on["version"] == version + 1
    assert bettor.rows(query, [market.id]) == [(version + 1, True)]
    again = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert again["version"] == version + 1
    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    assert bettor.rows(query, [market.id]) == [(version + 2, False)]
    # the outcomes carry the market's version too
    assert bettor.rows(
        "select distinct market_version from public.outcomes where market_id = %s", [market.id]
    ) == [(version + 2,)]


def test_the_setting_is_for_admins_and_markets_not_yet_decided(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    bettor.refused(
        "not_admin", "require_settlement_confirmation", market_id=market.id, required=True
    )
    anon.denied("select public.require_settlement_confirmation(%s, true)", [market.id])
    service_role.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.refused(
        "invalid_argument", "require_settlement_confirmation", market_id=market.id, required=None
    )
    missing = scalar(conn, "select coalesce(max(id), 0) + 1000 from app.markets")
    admin.refused(
        "market_not_found", "require_settlement_confirmation", market_id=missing, required=True
    )
    settled, voided = make_market(admin), make_market(admin)
    admin.call("settle_market", market_id=settled.id, outcome_id=settled.outcomes[0])
    admin.call("void_market", market_id=voided.id, reason="off")
    admin.refused(
        "already_settled", "require_settlement_confirmation", market_id=settled.id, required=True
    )
    admin.refused(
        "invalid_market_state",
        "require_settlement_confirmation",
        market_id=voided.id,
        required=True,
    )


# two-step settlement -----------------------------------------------------------------------------


def test_an_admin_proposes_and_another_confirms(
    conn: Connection,
    admin: Persona,
    reviewer: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
) -> None:
    """A proposal closes the open market and holds the preview; the reviewer confirms it, which
    settles the market with the proposed winner exactly as previewed."""
    market = make_market(admin, kind="parimutuel", rake_bps=500)
    x, y = market.outcomes
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    stake(bettor, market.id, x, 1234)
    stake(other, market.id, y, 2501)
    stake(other, market.id, x, 3333)
    start = last_action(conn)

    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=x, note="photo")

    assert (proposed["status"], proposed["outcome_id"], proposed["note"]) == ("pending", x, "photo")
    assert proposed["proposed_by"] == str(admin.user_id)
    assert "confirmed_xact" not in proposed
    preview = proposed["preview"]
    assert preview == reviewer.call("preview_settlement", market_id=market.id, outcome_id=x)
    assert preview["status"] == "closed"
    stored = proposal(conn, proposed["id"])
    assert stored["preview"] == {
        k: v for k, v in preview.items() if k not in ("wagers", "pending_wagers")
    }
    assert stored["market_version"] == preview["market_version"]
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("closed",)
    ]

    view = (
        "select id, status, outcome_label, proposed_by_username, decided_by_username "
        "from public.settlement_proposals where market_id = %s"
    )
    for who in (admin, reviewer):
        assert who.rows(view, [market.id]) == [(proposed["id"], "pending", "Yes", "admin", None)]
    assert bettor.rows("select count(*) from public.settlement_proposals") == [(0,)]
    assert bettor.rows("select count(*) from app.settlement_proposals") == [(0,)]
    anon.denied("select * from public.settlement_proposals")

    result = reviewer.call("confirm_settlement", market_id=market.id)

    row = settlement_row(conn, market.id)
    assert {k: result[k] for k in RECORD} == {k: row[k] for k in RECORD} == figures(preview)
    assert (row["winning_outcome_id"], row["settled_by"]) == (x, reviewer.user_id)
    assert result["matches_proposal"] is True
    assert (result["proposal"]["status"], result["proposal"]["decided_by"]) == (
        "confirmed",
        str(reviewer.user_id),
    )
    assert admin.rows(view, [market.id]) == [
        (proposed["id"], "confirmed", "Yes", "admin", "reviewer")
    ]
    assert [w["payout"] for w in preview["wagers"]] == [
        wager(conn, w["wager_id"])["payout"] for w in preview["wagers"]
    ]
    assert actions_since(conn, start) == [
        ("close_market", market.id, admin.user_id, "settlement proposed"),
        ("propose_settlement", market.id, admin.user_id, "photo"),
        ("settle_market", market.id, reviewer.user_id, None),
        ("confirm_settlement", market.id, reviewer.user_id, "photo"),
    ]
    confirmed = conn.execute(
        "select before, after from app.admin_actions order by id desc limit 1"
    ).fetchone()
    assert confirmed is not None
    assert (confirmed[0]["status"], confirmed[1]["status"]) == ("pending", "confirmed")
    assert confirmed[1]["settlement"]["total_paid"] == row["total_paid"]
    assert_invariants(conn)


def test_the_proposer_cannot_confirm_their_own_proposal(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[0])
    before = untouched(conn, market.id)

    error = admin.refused("same_admin", "confirm_settlement", market_id=market.id)

    assert error.sqlstate == "PT403"
    assert detail(error)["proposal_id"] == proposed["id"]
    assert untouched(conn, market.id) == before
    assert proposal(conn, proposed["id"])["status"] == "pending"


def test_the_service_role_is_a_second_pair_of_eyes_but_not_its_own(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona
) -> None:
    first, second = make_market(admin), make_market(admin)
    for market in (first, second):
        stake(bettor, market.id, market.outcomes[0], 1000)

    admin.call("propose_settlement", market_id=first.id, outcome_id=first.outcomes[0])
    settled = service_role.call("confirm_settlement", market_id=first.id)
    assert (settled["winning_outcome_id"], settled["proposal"]["decided_role"]) == (
        first.outcomes[0],
        "service_role",
    )

    made = service_role.call(
        "propose_settlement", market_id=second.id, outcome_id=second.outcomes[1]
    )
    assert (made["proposed_by"], made["proposed_role"]) == (None, "service_role")
    service_role.refused("same_admin", "confirm_settlement", market_id=second.id)
    settled = admin.call("confirm_settlement", market_id=second.id, proposal_id=made["id"])
    assert settled["winning_outcome_id"] == second.outcomes[1]
    assert balance(conn, bettor) == 10000 - 2000 + 1500
    assert_invariants(conn)


def test_a_market_has_one_pending_proposal_at_most(
    conn: Connection, admin: Persona, reviewer: Persona
) -> None:
    market = make_market(admin)
    a, b = market.outcomes
    first = admin.call("propose_settlement", market_id=market.id, outcome_id=a)
    for who, outcome in ((admin, a), (reviewer, b)):
        error = who.refused(
            "proposal_exists", "propose_settlement", market_id=market.id, outcome_id=outcome
        )
        assert error.sqlstate == "PT409"
        assert detail(error) == {
            "market_id": market.id,
            "proposal_id": first["id"],
            "outcome_id": a,
            "proposed_by": str(admin.user_id),
        }
    assert (
        scalar(
            conn, "select count(*) from app.settlement_proposals where market_id = %s", [market.id]
        )
        == 1
    )

    reviewer.call("cancel_settlement_proposal", market_id=market.id, reason="wrong result")
    second = reviewer.call("propose_settlement", market_id=market.id, outcome_id=b)
    result = admin.call("confirm_settlement", market_id=market.id)
    assert result["winning_outcome_id"] == b
    assert result["proposal"]["id"] == second["id"]
    assert [
        (r[0], r[1])
        for r in conn.execute(
            "select status, outcome_id from app.settlement_proposals where market_id = %s "
            "order by id",
            [market.id],
        ).fetchall()
    ] == [("cancelled", a), ("confirmed", b)]


def test_a_pending_proposal_blocks_a_direct_settlement_even_without_the_setting(
    conn: Connection, admin: Persona, reviewer: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[1])
    for who in (admin, reviewer):
        error = who.refused(
            "settlement_needs_confirmation",
            "settle_market",
            market_id=market.id,
            outcome_id=market.outcomes[0],
        )
        assert detail(error)["pending_proposal_id"] == proposed["id"]
        assert detail(error)["settlement_requires_confirmation"] is False

    admin.call("cancel_settlement_proposal", market_id=market.id, reason="withdrawn")
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert balance(conn, bettor) == 10500
    assert_invariants(conn)


def test_a_proposal_is_cancelled_with_a_reason_by_any_admin_and_the_market_stays_closed(
    conn: Connection, admin: Persona, reviewer: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    for canceller in (admin, reviewer):
        proposed = admin.call(
            "propose_settlement", market_id=market.id, outcome_id=market.outcomes[0]
        )
        canceller.refused(
            "invalid_argument", "cancel_settlement_proposal", market_id=market.id, reason="  "
        )
        start = last_action(conn)
        cancelled = canceller.call(
            "cancel_settlement_proposal", market_id=market.id, reason=" photo finish "
        )
        assert (cancelled["id"], cancelled["status"], cancelled["cancel_reason"]) == (
            proposed["id"],
            "cancelled",
            "photo finish",
        )
        assert cancelled["decided_by"] == str(canceller.user_id)
        assert actions_since(conn, start) == [
            ("cancel_settlement_proposal", market.id, canceller.user_id, "photo finish")
        ]
    error = admin.refused(
        "no_pending_proposal", "cancel_settlement_proposal", market_id=market.id, reason="again"
    )
    assert detail(error)["pending_proposal_id"] is None
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("closed",)
    ]
    bettor.refused("not_admin", "cancel_settlement_proposal", market_id=market.id, reason="mine")


def test_confirm_refuses_without_a_pending_proposal_or_the_one_named(
    conn: Connection, admin: Persona, reviewer: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    error = reviewer.refused("no_pending_proposal", "confirm_settlement", market_id=market.id)
    assert error.sqlstate == "PT409"
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[0])
    error = reviewer.refused(
        "no_pending_proposal",
        "confirm_settlement",
        market_id=market.id,
        proposal_id=proposed["id"] + 1,
    )
    assert detail(error) == {
        "market_id": market.id,
        "proposal_id": proposed["id"] + 1,
        "pending_proposal_id": proposed["id"],
    }
    bettor.refused("not_admin", "confirm_settlement", market_id=market.id)
    anon.denied("select public.confirm_settlement(%s)", [market.id])
    missing = scalar(conn, "select coalesce(max(id), 0) + 1000 from app.markets")
    reviewer.refused("market_not_found", "confirm_settlement", market_id=missing)

    reviewer.call("confirm_settlement", market_id=market.id, proposal_id=proposed["id"])
    reviewer.refused("already_settled", "confirm_settlement", market_id=market.id)
    admin.refused(
        "already_settled", "propose_settlement", market_id=market.id, outcome_id=market.outcomes[0]
    )
    admin.refused(
        "no_pending_proposal", "cancel_settlement_proposal", market_id=market.id, reason="late"
    )


def test_a_voided_market_cannot_be_confirmed_but_its_proposal_can_be_cancelled(
    conn: Connection, admin: Persona, reviewer: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[0])
    admin.call("void_market", market_id=market.id, reason="abandoned")
    error = reviewer.refused("invalid_market_state", "confirm_settlement", market_id=market.id)
    assert detail(error)["status"] == "void"
    reviewer.call("cancel_settlement_proposal", market_id=market.id, reason="market voided")
    assert balance(conn, bettor) == 10000
    assert_invariants(conn)


def test_propose_refuses_non_admins_unknown_markets_and_outcomes_and_decided_markets(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market, elsewhere = make_market(admin), make_market(admin)
    args = {"market_id": market.id, "outcome_id": market.outcomes[0]}
    bettor.refused("not_admin", "propose_settlement", **args)
    anon.denied("select public.propose_settlement(%s, %s)", [market.id, market.outcomes[0]])
    missing = scalar(conn, "select coalesce(max(id), 0) + 1000 from app.markets")
    admin.refused("market_not_found", "propose_settlement", market_id=missing, outcome_id=1)
    admin.refused(
        "outcome_not_found",
        "propose_settlement",
        market_id=market.id,
        outcome_id=elsewhere.outcomes[0],
    )
    admin.refused("invalid_argument", "propose_settlement", **args, note="x" * 501)
    draft = make_market(admin, status="draft")
    admin.refused(
        "invalid_market_state",
        "propose_settlement",
        market_id=draft.id,
        outcome_id=draft.outcomes[0],
    )
    admin.call("void_market", market_id=elsewhere.id, reason="off")
    admin.refused(
        "invalid_market_state",
        "propose_settlement",
        market_id=elsewhere.id,
        outcome_id=elsewhere.outcomes[0],
    )
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("open",)
    ]
    assert (
        scalar(
            conn, "select count(*) from app.settlement_proposals where market_id = %s", [market.id]
        )
        == 0
    )


def test_a_confirmation_pays_the_pools_of_its_moment_and_says_whether_they_changed(
    conn: Connection, admin: Persona, reviewer: Persona, bettor: Persona, other: Persona
) -> None:
    """A held wager approved between the proposal and the confirmation joins the settlement;
    the answer says the figures no longer match the proposal's preview."""
    market = make_market(admin, requires_approval=True)
    a, b = market.outcomes
    first = stake(bettor, market.id, a, 1000)
    admin.call("approve_wager", wager_id=first["id"])
    held = stake(other, market.id, b, 400)
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=a)
    assert proposed["preview"]["pending_refunded"] == {"wagers": 1, "amount": 400}

    admin.call("approve_wager", wager_id=held["id"])
    fresh = reviewer.call("preview_settlement", market_id=market.id, outcome_id=a)
    result = reviewer.call("confirm_settlement", market_id=market.id)

    assert result["matches_proposal"] is False
    assert figures(result) == figures(fresh)
    assert (result["total_pool"], result["losers_count"]) == (1400, 1)
    assert wager(conn, held["id"])["settlement"] == "lost"
    assert_invariants(conn)


# the rules kept twice ----------------------------------------------------------------------------


def test_the_table_itself_refuses_a_second_pending_proposal_and_a_self_confirmation(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin)
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[0])
    with pytest.raises(psycopg.errors.UniqueViolation) as caught, conn.transaction():
        conn.execute(
            """insert into app.settlement_proposals (market_id, outcome_id, preview, market_version)
               values (%s, %s, '{}', 1)""",
            [market.id, market.outcomes[1]],
        )
    assert caught.value.diag.constraint_name == "settlement_proposals_one_pending"
    with pytest.raises(psycopg.errors.CheckViolation) as checked, conn.transaction():
        conn.execute(
            """update app.settlement_proposals
               set status = 'confirmed', decided_by = proposed_by, decided_at = now(),
                   confirmed_xact = pg_current_xact_id()
               where id = %s""",
            [proposed["id"]],
        )
    assert checked.value.diag.constraint_name == "settlement_proposals_four_eyes"


def test_no_settlement_row_gets_past_the_gate_without_a_confirmation(
    conn: Connection, admin: Persona
) -> None:
    """Even the superuser, writing app.settlements by hand, meets the gate."""
    market = make_market(admin)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        conn.execute(
            """insert into app.settlements (market_id, winning_outcome_id, kind, total_pool, rake,
                   net_pool, winning_pool, total_paid, dust, house_result, refunded,
                   winners_count, losers_count, winning_users)
               values (%s, %s, 'fixed_odds', 0, 0, 0, 0, 0, 0, 0, false, 0, 0, 0)""",
            [market.id, market.outcomes[0]],
        )
    assert caught.value.diag.message_primary == "settlement_needs_confirmation"


def test_the_review_functions_and_view_are_granted_to_admin_roles_only(conn: Connection) -> None:
    for function, arguments in REVIEW_FUNCTIONS.items():
        signature = f"public.{function}({arguments})"
        granted = conn.execute(
            """select r.rolname, has_function_privilege(r.rolname, %s, 'execute')
               from unnest(array['anon', 'authenticated', 'service_role']) as r (rolname)""",
            [signature],
        ).fetchall()
        assert granted == [("anon", False), ("authenticated", True), ("service_role", True)]
        # the ones whose work grows with the market's wagers may run up to 5 minutes
        config = ['search_path=""'] + (["statement_timeout=5min"] if function in LONG else [])
        assert conn.execute(
            "select prosecdef, proconfig from pg_catalog.pg_proc where oid = %s::regprocedure",
            [signature],
        ).fetchone() == (True, config)
    assert conn.execute(
        """select r.rolname, has_table_privilege(r.rolname, 'public.settlement_proposals', p)
           from unnest(array['anon', 'authenticated', 'service_role']) as r (rolname)
           cross join unnest(array['select', 'insert', 'update', 'delete']) as p
           where has_table_privilege(r.rolname, 'public.settlement_proposals', p)"""
    ).fetchall() == [("authenticated", True), ("service_role", True)]


# committed: notifications and races --------------------------------------------------------------


@pytest.fixture
def committed(fresh_db: Callable[[], str]) -> Iterator[tuple[str, dict[str, uuid.UUID]]]:
    """A fresh database with two admins, a third admin and two bettors, committed."""
    url = fresh_db()
    with psycopg.connect(url) as conn:
        users = {
            name: create_user(conn, name, admin=name.startswith("admin"))
            for name in ("admin1", "admin2", "admin3", "bettor1", "bettor2")
        }
        conn.commit()
    yield url, users


def delivered(stream: StreamReader) -> list[tuple[str, dict[str, Any]]]:
    """(channel, message) of everything committed since the last read on the reader's channels,
    in the order a node's relay delivers them."""
    return stream.read()


def admin_messages(stream: StreamReader) -> list[dict[str, Any]]:
    """Every message committed since the last read (the reader takes wagerbase_admin)."""
    return [message for _, message in delivered(stream)]


def test_every_review_action_is_announced_to_admins_on_commit(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    url, users = committed
    with ExitStack() as stack:
        stream = stack.enter_context(StreamReader(url, channels=("wagerbase_admin",)))
        one = stack.enter_context(Actor(url, users["admin1"], admin=True))
        two = stack.enter_context(Actor(url, users["admin2"], admin=True))
        bettor = stack.enter_context(Actor(url, users["bettor1"]))

        def review(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [m for m in messages if str(m.get("type", "")).startswith("settlement_")]

        market = one.call("create_market", title="M", outcomes=["A", "B"])
        a = market["outcomes"][0]["outcome_id"]
        bettor.call("place_wager", market_id=market["id"], outcome_id=a, stake=1000)
        admin_messages(stream)

        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_confirmation",
                "market_id": market["id"],
                "status": "open",
                "required": True,
                "changed_by": str(users["admin1"]),
            }
        ]

        first = one.call("propose_settlement", market_id=market["id"], outcome_id=a, note="n")
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_proposed",
                "proposal_id": first["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin1"]),
                "note": "n",
                "total_pool": 1000,
                "total_paid": 1500,
                "house_result": -500,
                "refunded": False,
            }
        ]

        with pytest.raises(psycopg.Error):
            one.call("confirm_settlement", market_id=market["id"])
        with pytest.raises(psycopg.Error):
            two.call("propose_settlement", market_id=market["id"], outcome_id=a)
        assert review(admin_messages(stream)) == []

        two.call("cancel_settlement_proposal", market_id=market["id"], reason="check")
        assert review(admin_messages(stream)) == [
            {
                "type": "settlement_cancelled",
                "proposal_id": first["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin1"]),
                "cancelled_by": str(users["admin2"]),
                "reason": "check",
            }
        ]

        second = two.call("propose_settlement", market_id=market["id"], outcome_id=a)
        admin_messages(stream)
        one.call("confirm_settlement", market_id=market["id"])
        messages = admin_messages(stream)
        assert review(messages) == [
            {
                "type": "settlement_confirmed",
                "proposal_id": second["id"],
                "market_id": market["id"],
                "outcome_id": a,
                "proposed_by": str(users["admin2"]),
                "confirmed_by": str(users["admin1"]),
                "total_paid": 1500,
                "house_result": -500,
                "matches_proposal": True,
            }
        ]
        assert messages[-1]["type"] == "settlement_confirmed"


def test_the_switch_is_a_market_message_for_everyone_but_a_draft_says_nothing(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    """Bettors read settlement_requires_confirmation in the markets view: the switch is announced
    on the public channel like any market change, with the market's new version and numbers.
    A draft stays unannounced until it opens; admins still hear of it."""
    url, users = committed
    with ExitStack() as stack:
        stream = stack.enter_context(
            StreamReader(url, channels=("wagerbase_market", "wagerbase_admin"))
        )
        one = stack.enter_context(Actor(url, users["admin1"], admin=True))
        bettor = stack.enter_context(Actor(url, users["bettor1"]))

        market = one.call("create_market", title="M", outcomes=["A", "B"])
        a, b = (o["outcome_id"] for o in market["outcomes"])
        placed = bettor.call("place_wager", market_id=market["id"], outcome_id=a, stake=1000)
        draft = one.call(
            "create_market", title="D", outcomes=["A", "B"], options={"status": "draft"}
        )
        delivered(stream)
        version = placed["accepted_version"]

        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        one.call("require_settlement_confirmation", market_id=market["id"], required=True)
        messages = delivered(stream)
        assert [(channel, m["type"]) for channel, m in messages] == [
            ("wagerbase_admin", "settlement_confirmation"),
            ("wagerbase_market", "settlement_confirmation"),
        ]
        public = messages[1][1]
        assert {k: public[k] for k in ("market_id", "version", "status", "total_pool")} == {
            "market_id": market["id"],
            "version": version + 1,
            "status": "open",
            "total_pool": 1000,
        }
        assert public["settlement_requires_confirmation"] is True
        assert [(o["outcome_id"], o["pool"]) for o in public["outcomes"]] == [(a, 1000), (b, 0)]
        assert "changed_by" not in public  # who switched it is for admins

        one.call("require_settlement_confirmation", market_id=market["id"], required=False)
        (off,) = [m for c, m in delivered(stream) if c == "wagerbase_market"]
        assert (off["type"], off["version"], off["settlement_requires_confirmation"]) == (
            "settlement_confirmation",
            version + 2,
            False,
        )

        one.call("require_settlement_confirmation", market_id=draft["id"], required=True)
        assert delivered(stream) == [
            (
                "wagerbase_admin",
                {
                    "type": "settlement_confirmation",
                    "market_id": draft["id"],
                    "status": "draft",
                    "required": True,
                    "changed_by": str(users["admin1"]),
                },
            )
        ]
        # its version moved all the same: opening it announces the market as it is now
        one.call("open_market", market_id=draft["id"])
        opened = [m for c, m in delivered(stream) if c == "wagerbase_market"]
        assert [(m["type"], m["version"]) for m in opened] == [("opened", draft["version"] + 2)]


def test_concurrent_proposals_leave_exactly_one_pending(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    url, users = committed
    admins = [users["admin1"], users["admin2"], users["admin3"]]
    with ExitStack() as stack:
        actors = [
            stack.enter_context(Actor(url, admins[i % 3], admin=True, name=f"a{i}"))
            for i in range(9)
        ]
        market = actors[0].call("create_market", title="M", outcomes=["A", "B", "C"])
        outcomes = [o["outcome_id"] for o in market["outcomes"]]

        results = all_at_once(
            9,
            lambda i: actors[i].call(
                "propose_settlement", market_id=market["id"], outcome_id=outcomes[i % 3]
            ),
        )

        made = [r for r in results if isinstance(r, dict)]
        assert len(made) == 1
        assert Counter(refusal(r) for r in results if not isinstance(r, dict)) == {
            "proposal_exists": 8
        }
        with psycopg.connect(url) as conn:
            assert conn.execute(
                "select id, status from app.settlement_proposals where market_id = %s",
                [market["id"]],
            ).fetchall() == [(made[0]["id"], "pending")]


def test_concurrent_confirmations_settle_once_and_direct_settlements_never(
    committed: tuple[str, dict[str, uuid.UUID]],
) -> None:
    """admin1 proposes; then at once eight connections of admin2 and admin3 confirm, two of
    admin1 (the proposer) confirm, and four call settle_market directly. Exactly one
    confirmation settles; the ledger balances and each bettor is paid once."""
    url, users = committed
    with ExitStack() as stack:
        proposer = stack.enter_context(Actor(url, users["admin1"], admin=True))
        bettors = [stack.enter_context(Actor(url, users[n])) for n in ("bettor1", "bettor2")]
        market = proposer.call("create_market", title="M", outcomes=["A", "B"], kind="parimutuel")
        a, b = (o["outcome_id"] for o in market["outcomes"])
        proposer.call("require_settlement_confirmation", market_id=market["id"], required=True)
        bettors[0].call("place_wager", market_id=market["id"], outcome_id=a, stake=1234)
        bettors[1].call("place_wager", market_id=market["id"], outcome_id=b, stake=3333)
        preview = proposer.call("propose_settlement", market_id=market["id"], outcome_id=a)[
            "preview"
        ]

        plan: list[tuple[uuid.UUID, str]] = (
            [(users["admin2"], "confirm")] * 4
            + [(users["admin3"], "confirm")] * 4
            + [(users["admin1"], "confirm")] * 2
            + [(users["admin2"], "settle")] * 2
            + [(users["admin3"], "settle")] * 2
        )
        actors = [
            stack.enter_context(Actor(url, who, admin=True, name=f"{what}{i}"))
            for i, (who, what) in enumerate(plan)
        ]

        def call(i: int) -> Any:
            if plan[i][1] == "confirm":
                return actors[i].call("confirm_settlement", market_id=market["id"])
            return actors[i].call("settle_market", market_id=market["id"], outcome_id=b)

        results = all_at_once(len(plan), call)

        settled = [(plan[i], r) for i, r in enumerate(results) if isinstance(r, dict)]
        assert len(settled) == 1
        (who, what), result = settled[0]
        assert what == "confirm" and who != users["admin1"]
        assert {k: result[k] for k in RECORD} == {k: preview[k] for k in RECORD}
        refused = Counter(
            (plan[i][1], refusal(r)) for i, r in enumerate(results) if not isinstance(r, dict)
        )
        assert set(refused) <= {
            ("confirm", "already_settled"),
            ("confirm", "same_admin"),
            ("settle", "already_settled"),
            ("settle", "settlement_needs_confirmation"),
        }
        assert sum(refused.values()) == len(plan) - 1

        with psycopg.connect(url) as conn:
            assert_invariants(conn)
            assert conn.execute(
                "select status, decided_by from app.settlement_proposals where market_id = %s",
                [market["id"]],
            ).fetchall() == [("confirmed", who)]
            assert conn.execute(
                """select user_id, balance from app.accounts
                   where user_id = any(%s) order by balance""",
                [[users["bettor1"], users["bettor2"]]],
            ).fetchall() == [
                (users["bettor2"], 10000 - 3333),
                (users["bettor1"], 10000 - 1234 + preview["total_paid"]),
            ]
