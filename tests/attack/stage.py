"""The stage of the matrix tests, shared between the database level and HTTP: callers that either
answer or raise Refused, and a Stage with two callers of its own, neither of them the persona
under test: `clerk`, an admin who makes markets and proposals, and `owner` (bettor A, who owns
the wagers). Each prepared call gets fresh markets, so a call never depends on what another did.

What the matrix does on the stage is in the modules next to it: matrix_arguments.py (the
arguments with which every function of `public` succeeds for a caller allowed to call it),
matrix_rows.py (rows in every view) and matrix_checks.py (how a refusal must look for each
Outcome, and a digest of the rows a call could change).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


@dataclass
class Refused(Exception):
    """A refusal, at either level: `code` is the SQLSTATE (PostgREST's `code`), `key` the engine's
    catalog key (the message), `status` the HTTP status (None at the database level)."""

    code: str
    key: str
    status: int | None = None


class MatrixCaller(Protocol):
    """Whoever the matrix tests call as, at the database (test_matrix_db's DbActor) or over HTTP
    (over_http's RestActor): a name, a user id, and calls that answer or raise Refused."""

    @property
    def name(self) -> str: ...

    @property
    def user_id(self) -> str | None: ...

    def call(self, function: str, **arguments: Any) -> Any:
        """The function's result; raises Refused."""
        ...


@dataclass
class Stage:
    clerk: MatrixCaller  # an admin, not the one under test
    owner: MatrixCaller  # bettor A
    # the persona under test, for the calls on the caller's own rounds (None: not said)
    caller: MatrixCaller | None = None
    markets: list[int] = field(default_factory=list)  # made for the call being prepared
    outcomes: dict[int, list[int]] = field(default_factory=dict)  # market id -> outcome ids
    serial: int = 0

    def market(self, kind: str = "fixed_odds", **options: Any) -> dict[str, Any]:
        self.serial += 1
        row: dict[str, Any] = self.clerk.call(
            "create_market",
            title=f"Matrix market {self.serial}",
            outcomes=["Home", "Away"],
            kind=kind,
            options=options,
        )
        self._made(row)
        return row

    def _made(self, row: dict[str, Any]) -> None:
        self.markets.append(int(row["id"]))
        self.outcomes[int(row["id"])] = [int(o["outcome_id"]) for o in row["outcomes"]]

    def virtual(self) -> dict[str, Any]:
        self.serial += 1
        row: dict[str, Any] = self.clerk.call(
            "create_virtual_market",
            template="dice",
            title=f"Matrix dice {self.serial}",
            closes_at=later(hours=6),
            options={},
        )
        self._made(row)
        return row

    def wager(self, market: dict[str, Any], position: int = 0, stake: int = 100) -> int:
        placed = self.owner.call(
            "place_wager",
            market_id=market["id"],
            outcome_id=outcome(market, position),
            stake=stake,
        )
        return int(placed["id"])


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def outcome(market: dict[str, Any], position: int) -> int:
    return int(market["outcomes"][position]["outcome_id"])


def pending_withdrawal(clerk: MatrixCaller, who: MatrixCaller, amount: int = 100) -> int:
    """A withdrawal of `who` waiting for an admin: approval switched on for it, then off again
    (the default), so that every other call withdraws as it always did."""
    clerk.call("update_settings", settings={"withdrawals_require_approval": True})
    try:
        return int(who.call("withdraw", amount=amount)["withdrawal_id"])
    finally:
        clerk.call("update_settings", settings={"withdrawals_require_approval": False})
