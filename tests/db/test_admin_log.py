"""The admin actions log: every admin action that changes something writes exactly one row with
who did it, what, and the state before and after; a refused action writes nothing."""

from typing import Any

from tests.db.helpers import make_market, scalar
from tests.db.personas import Persona
from tests.pgserver import Connection

COLUMNS = (
    "id",
    "actor",
    "actor_role",
    "action",
    "market_id",
    "wager_id",
    "reason",
    "before",
    "after",
)


def log_since(admin: Persona, after_id: int) -> list[dict[str, Any]]:
    rows = admin.rows(
        f"select {', '.join(COLUMNS)} from public.admin_actions where id > %s order by id",
        [after_id],
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]


def last_id(conn: Connection) -> int:
    return scalar(conn, "select coalesce(max(id), 0) from app.admin_actions")


def test_each_admin_action_writes_one_row_with_actor_and_before_after(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    start = last_id(conn)
    market = make_market(admin, requires_approval=True)
    draft = make_market(admin, status="draft")
    first = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100
    )
    second = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=200
    )
    admin.call("open_market", market_id=draft.id)
    admin.call("approve_wager", wager_id=first["id"])
    admin.call("reject_wager", wager_id=second["id"], reason="late")
    admin.call("close_market", market_id=market.id)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    admin.call("void_market", market_id=draft.id, reason="duplicate")

    log = log_since(admin, start)

    assert [(r["action"], r["market_id"], r["wager_id"], r["reason"]) for r in log] == [
        ("create_market", market.id, None, None),
        ("create_market", draft.id, None, None),
        ("open_market", draft.id, None, None),
        ("approve_wager", market.id, first["id"], None),
        ("reject_wager", market.id, second["id"], "late"),
        ("close_market", market.id, None, None),
        ("settle_market", market.id, None, None),
        ("void_market", draft.id, None, "duplicate"),
    ]
    assert {(r["actor"], r["actor_role"]) for r in log} == {(admin.user_id, "authenticated")}

    created, _, opened, approved, rejected, closed, settled, voided = log
    assert created["before"] is None
    assert (created["after"]["id"], created["after"]["status"]) == (market.id, "open")
    assert len(created["after"]["outcomes"]) == 2
    assert (opened["before"]["status"], opened["after"]["status"]) == ("draft", "open")
    assert (approved["before"]["approval"], approved["after"]["approval"]) == (
        "pending",
        "accepted",
    )
    assert (rejected["before"]["approval"], rejected["after"]["approval"]) == (
        "pending",
        "rejected",
    )
    assert rejected["after"]["payout"] == 200
    assert (closed["before"]["status"], closed["after"]["status"]) == ("open", "closed")
    assert (settled["before"]["status"], settled["after"]["status"]) == ("closed", "settled")
    assert settled["after"]["settlement"]["total_pool"] == 100
    assert settled["after"]["winning_outcome_id"] == market.outcomes[0]
    assert (voided["before"]["status"], voided["after"]["status"]) == ("open", "void")
    assert voided["after"]["void_reason"] == "duplicate"


def test_a_refused_admin_action_logs_nothing(conn: Connection, admin: Persona) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    start = last_id(conn)
    admin.refused(
        "already_settled", "settle_market", market_id=market.id, outcome_id=market.outcomes[0]
    )
    admin.refused("already_settled", "void_market", market_id=market.id, reason="late")
    admin.refused("invalid_argument", "create_market", title="", outcomes=["a", "b"])
    assert log_since(admin, start) == []
