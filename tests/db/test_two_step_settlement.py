"""Two-step settlement (docs/settlement-review.md): an admin proposes, another admin or the service
role confirms (never the proposer), with at most one pending proposal per market; a pending
proposal blocks a direct settlement; a proposal is cancelled with a reason; confirm and propose
refuse what they must; a confirmation pays the pools of its moment and says whether they changed.
Persona by persona: an admin, another admin (the reviewer), the service role, a bettor,
anonymous."""

from typing import Any

import pytest

from tests.db.helpers import RECORD, balance, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.db.review_helpers import figures, last_action, settlement_row, stake, untouched
from tests.pgserver import Connection


@pytest.fixture
def reviewer(conn: Connection) -> Persona:
    """A second admin: the other pair of eyes."""
    return persona(conn, "reviewer", admin=True)


def actions_since(conn: Connection, after_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        """select action, market_id, actor, reason from app.admin_actions
           where id > %s order by id""",
        [after_id],
    ).fetchall()


def proposal(conn: Connection, proposal_id: int) -> dict[str, Any]:
    cursor = conn.execute("select * from app.settlement_proposals where id = %s", [proposal_id])
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {c.name: v for c, v in zip(cursor.description, row, strict=True)}


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
