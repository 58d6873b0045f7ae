"""What the settlement tests share: a market's settlement record as the public `settlements` view
shows it, the entries of its settlement transaction, and a stake in one line."""

from typing import Any

from tests.db.helpers import RECORD
from tests.db.personas import Persona
from tests.pgserver import Connection


def record(who: Persona, market_id: int) -> dict[str, Any]:
    """The market's settlement record as the public `settlements` view shows it."""
    rows = who.rows(
        f"select {', '.join(RECORD)} from public.settlements where market_id = %s", [market_id]
    )
    assert len(rows) == 1
    return dict(zip(RECORD, rows[0], strict=True))


def settlement_entries(conn: Connection, market_id: int) -> list[tuple[Any, ...]]:
    """(account kind, user, amount) of the market's settlement transaction, by amount."""
    return conn.execute(
        """select a.kind, e.user_id, e.amount
           from app.ledger_entries as e
           join app.ledger_transactions as t on t.id = e.transaction_id
           join app.accounts as a on a.id = e.account_id
           where t.kind = 'settlement' and t.market_id = %s
           order by e.amount, a.kind""",
        [market_id],
    ).fetchall()


def stake(who: Persona, market_id: int, outcome_id: int, amount: int) -> dict[str, Any]:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=amount
    )
    return placed
