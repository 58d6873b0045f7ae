"""What the correction tests share (docs/corrections.md): a stake in one line (its wager id), every
balance a settlement of a market touches with its wagers' results, and the money as it would be
had the right outcome been declared first (settled in a savepoint, read, rolled back)."""

from typing import Any

from tests.db.helpers import balance, escrow, house
from tests.db.personas import Persona
from tests.pgserver import Connection


def stake(who: Persona, market_id: int, outcome_id: int, amount: int) -> int:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount
    )
    return int(placed["id"])


def money(conn: Connection, market_id: int, people: list[Persona]) -> dict[str, Any]:
    """Every balance a settlement of `market_id` touches, and its wagers' results."""
    return {
        "users": {p.name: balance(conn, p) for p in people},
        "house": house(conn),
        "escrow": escrow(conn, market_id),
        "wagers": conn.execute(
            "select id, settlement, payout from app.wagers where market_id = %s order by id",
            [market_id],
        ).fetchall(),
    }


def settled_directly(
    conn: Connection, admin: Persona, market_id: int, outcome_id: int, people: list[Persona]
) -> dict[str, Any]:
    """The money as it would be had `outcome_id` been declared first: settled in a savepoint,
    read, and rolled back."""
    result: dict[str, Any] = {}
    with conn.transaction(force_rollback=True):
        admin.call("settle_market", market_id=market_id, outcome_id=outcome_id)
        result = money(conn, market_id, people)
    return result
