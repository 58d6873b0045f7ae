"""What the settlement review tests share (docs/settlement-review.md): a stake in one line, the
settlements row, everything a preview or a refused call must leave alone, a preview checked
against the settlement it foretold, and the admin log since a given row."""

from typing import Any

from tests.db.helpers import RECORD, ledger_snapshot, scalar
from tests.db.personas import Persona
from tests.pgserver import Connection


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


def last_action(conn: Connection) -> int:
    return scalar(conn, "select coalesce(max(id), 0) from app.admin_actions")
