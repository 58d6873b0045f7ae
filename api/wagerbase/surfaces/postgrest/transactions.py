"""Running a request's statement: in the caller's transaction (read only for reads and calls of
non-volatile functions), or, for a call that changes state, as a money call (money_calls.py),
which resolves a commit whose outcome is lost through the call's idempotency key, or says what to
check before calling again.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar import Request

from wagerbase.database import Conn, Database
from wagerbase.http.common import until_client_leaves
from wagerbase.money_calls import KeySource, MoneyCall, MoneyCalls
from wagerbase.placements import Placements
from wagerbase.surfaces.postgrest.catalog import SCHEMA
from wagerbase.tokens import Claims

T = TypeVar("T")

READ_METHODS = frozenset({"GET", "HEAD"})
_MARKET = "the market's status (GET /rest/v1/markets?id=eq.<market_id>)"
_WAGER = "the wager's approval and settlement (GET /rest/v1/wagers?id=eq.<wager_id>)"
_ROUND = "the round of mines (POST /rest/v1/rpc/get_mines_round {round_id})"
# What to check, for a call without a key whose outcome is unknown, before calling it again.
CHECKS = {
    "create_market": "look for the market in GET /rest/v1/markets",
    "create_virtual_market": "look for the market in GET /rest/v1/markets",
    "open_market": f"read {_MARKET}",
    "close_market": f"read {_MARKET}",
    "settle_market": f"read {_MARKET}",
    "void_market": f"read {_MARKET}",
    "unsettle_market": f"read {_MARKET}",
    "resettle_market": f"read {_MARKET}",
    "propose_settlement": f"read {_MARKET} and its settlement proposal",
    "confirm_settlement": f"read {_MARKET}",
    "cancel_settlement_proposal": "read the market's settlement proposal",
    "approve_wager": f"read {_WAGER}",
    "reject_wager": f"read {_WAGER}",
    "void_wager": f"read {_WAGER}",
    "rotate_seed": "read your seed pairs (GET /rest/v1/my_seed_pairs): a new active pair",
    "update_house_game": "read the game's settings (GET /rest/v1/house_games?game=eq.<game>)",
    "open_mines": f"read {_ROUND}: without an id, your open round",
    "reveal_mines_cell": f"read {_ROUND}",
    "cashout_mines": f"read {_ROUND}",
    "settle_house_round": "read the round (GET /rest/v1/house_bets?id=eq.<round_id>)",
}


@dataclass(frozen=True)
class Change:
    """A call that changes state, run through money_calls.py."""

    calls: MoneyCalls
    function: str
    key: str | None = None
    key_source: KeySource = "none"
    placements: Placements | None = None  # for place_wager: gathered per market


def money_call(
    change: Change,
    claims: Claims,
    request: Request[Any, Any, Any],
    path: str,
    run: Callable[[Conn], Awaitable[T]],
) -> MoneyCall[T]:
    return MoneyCall(
        function=change.function,
        claims=claims,
        run=run,
        key=change.key,
        key_source=change.key_source,
        check=CHECKS.get(change.function, f"read what {SCHEMA}.{change.function} changes"),
        method=request.method,
        path=path,
        replayed=_replayed,
    )


async def in_transaction(
    db: Database,
    claims: Claims,
    request: Request[Any, Any, Any],
    path: str,
    run: Callable[[Conn], Awaitable[T]],
    *,
    read_only: bool,
    change: Change | None,
    function: str | None = None,
) -> T:
    """`run` in the caller's transaction: as a money call when it changes state. `function` is
    the function called (its own statement_timeout applies), if any. A read-only POST whose
    client goes away is cancelled (GET and HEAD are, by the app's middleware)."""
    if change is None:

        async def read() -> T:
            async with db.as_caller(
                claims, read_only=read_only, method=request.method, path=path, function=function
            ) as conn:
                return await run(conn)

        if request.method in READ_METHODS:
            return await read()
        return await until_client_leaves(request.receive, read())
    return await change.calls.run(money_call(change, claims, request, path, run))


def _replayed(result: Any) -> bool | None:
    """Whether a call's answer (a row with a JSON `body`) is the engine's replay of its key."""
    row = result[0] if isinstance(result, tuple) else result
    try:
        value = json.loads(row["body"])
    except (TypeError, KeyError, ValueError):
        return None
    if isinstance(value, dict) and isinstance(value.get("replayed"), bool):
        return bool(value["replayed"])
    return None
