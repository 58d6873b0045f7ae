"""Small helpers shared by the database tests: markets made in one line, and money read as the
superuser (the ground truth a persona's view is compared with)."""

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.db.personas import Persona
from tests.pgserver import Connection

# The figures of a settlement record, as the public `settlements` view shows them.
RECORD = (
    "total_pool",
    "rake",
    "net_pool",
    "winning_pool",
    "total_paid",
    "dust",
    "house_result",
    "refunded",
    "winners_count",
    "losers_count",
    "winning_users",
)


@dataclass(frozen=True)
class Market:
    """A market made by `make_market`: its id and its outcome ids in position order."""

    id: int
    outcomes: list[int]
    row: dict[str, Any]


def make_market(
    creator: Persona,
    kind: str = "fixed_odds",
    outcomes: list[Any] | None = None,
    title: str = "Test market",
    **options: Any,
) -> Market:
    row = creator.call(
        "create_market",
        title=title,
        outcomes=outcomes or ["Yes", "No"],
        kind=kind,
        options=options,
    )
    return Market(row["id"], [o["outcome_id"] for o in row["outcomes"]], row)


def outcome_ids(market: dict[str, Any]) -> list[int]:
    """The outcome ids of a market as create_market answers it, in position order."""
    return [o["outcome_id"] for o in market["outcomes"]]


def balance(conn: Connection, who: Persona | uuid.UUID) -> int:
    """A user's wallet balance, as the superuser; 0 when the wallet does not exist yet."""
    user_id = who.user_id if isinstance(who, Persona) else who
    row = conn.execute("select balance from app.accounts where user_id = %s", [user_id]).fetchone()
    return 0 if row is None else int(row[0])


def wallet_version(conn: Connection, who: Persona) -> int:
    row = conn.execute(
        "select version from app.accounts where user_id = %s", [who.user_id]
    ).fetchone()
    assert row is not None
    return int(row[0])


def escrow(conn: Connection, market_id: int) -> int:
    row = conn.execute(
        "select balance from app.accounts where market_id = %s", [market_id]
    ).fetchone()
    assert row is not None
    return int(row[0])


def house(conn: Connection) -> int:
    row = conn.execute("select balance from app.accounts where kind = 'house'").fetchone()
    assert row is not None
    return int(row[0])


def scalar(conn: Connection, query: str, params: list[Any] | None = None) -> int:
    """The single number a query returns, as the superuser."""
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return int(row[0])


def ledger_snapshot(conn: Connection) -> tuple[int, int, list[tuple[Any, ...]]]:
    """Everything a payout could change: transactions, entries, and every account's balance."""
    return (
        scalar(conn, "select count(*) from app.ledger_transactions"),
        scalar(conn, "select count(*) from app.ledger_entries"),
        conn.execute("select id, balance, version from app.accounts order by id").fetchall(),
    )


def wager(conn: Connection, wager_id: int) -> dict[str, Any]:
    """A wager row as the superuser, as a dict."""
    cursor = conn.execute("select * from app.wagers where id = %s", [wager_id])
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {column.name: value for column, value in zip(cursor.description, row, strict=True)}


def superuser_refused(conn: Connection, key: str, query: str, params: Any = None) -> psycopg.Error:
    """Run `query` as the test's superuser and assert the engine refuses it with catalog key
    `key` (in a savepoint, so the test goes on)."""
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        conn.execute(query, params)
    assert caught.value.diag.message_primary == key, caught.value
    return caught.value
