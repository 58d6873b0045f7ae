"""What the market depth and history tests share (docs/depth.md): a stake on an outcome by its
position, a single value read as the superuser, and a market's pool snapshots of one reason."""

from typing import Any

from tests.db.helpers import Market
from tests.db.personas import Persona
from tests.pgserver import Connection


def bet(who: Persona, market: Market, position: int, stake: int) -> int:
    row = who.call(
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[position - 1],
        stake=stake,
    )
    return int(row["wager_id"])


def scalar(conn: Connection, query: str, params: list[Any] | None = None) -> Any:
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return row[0]


def snapshots(conn: Connection, market: Market, reason: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        """select outcome_id, outcome_pool, total_pool, takeout, share, odds
           from app.pool_snapshots where market_id = %s and reason = %s
           order by taken_at, outcome_id""",
        [market.id, reason],
    ).fetchall()
