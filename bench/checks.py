"""Checks that a benchmark measured real work: after settlement, the settlement row adds up, every
wager is decided, each user got exactly the sum of their winning wagers in one balanced ledger
transaction, the side effects counted every wager once, the whole ledger still balances, and
every invariant `wagerbase db check` checks holds.

Each check is a query returning the rows that break it (none when it holds), a statement of
settlement_checks.sql or ledger_checks.sql.
"""

from __future__ import annotations

from typing import Any

import psycopg

from bench.fixtures import Connection
from bench.sql_files import statements
from wagerbase.operations.invariants import violations

# Each check is a statement of settlement_checks.sql (parameter: the market id) or
# ledger_checks.sql, named by the words a failure is reported under (a result's check_failures and
# ledger_check_failures) but for the punctuation a name cannot hold: those are here.
_PUNCTUATED = {
    "market_not_settled_or_no_settlement_row": "market not settled, or no settlement row",
    "a_users_credit_differs_from_their_winnings": "a user's credit differs from their winnings",
}


def _named(filename: str) -> dict[str, str]:
    return {
        _PUNCTUATED.get(name, name.replace("_", " ")): query
        for name, query in statements(filename).items()
    }


SETTLEMENT_CHECKS = _named("settlement_checks.sql")
LEDGER_CHECKS = _named("ledger_checks.sql")
if not SETTLEMENT_CHECKS.keys() >= set(_PUNCTUATED.values()):
    raise RuntimeError(f"settlement_checks.sql lacks a check of {sorted(_PUNCTUATED)}")


def _run(conn: Connection, checks: dict[str, str], market_id: int | None) -> dict[str, Any]:
    failures: dict[str, Any] = {}
    params = None if market_id is None else {"market_id": market_id}
    for name, query in checks.items():
        rows = conn.execute(query, params).fetchall()
        if rows:
            failures[name] = [list(map(str, row)) for row in rows]
    conn.commit()
    return failures


def settlement_failures(conn: Connection, market_id: int) -> dict[str, Any]:
    """The settlement checks of one market that fail, with example rows."""
    return _run(conn, SETTLEMENT_CHECKS, market_id)


def ledger_failures(conn: Connection) -> dict[str, Any]:
    """The whole-ledger checks that fail, with example rows, and every invariant of the engine
    that `wagerbase db check` finds broken (wagerbase.operations.invariants, in one snapshot as it
    reads them)."""
    failures = _run(conn, LEDGER_CHECKS, None)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    for name, rows in violations(conn).items():
        failures[f"wagerbase db check: {name}"] = [str(row) for row in rows[:5]]
    conn.commit()
    return failures
