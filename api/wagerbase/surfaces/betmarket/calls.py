"""How BetMarket calls the engine: its statements, read as the caller (numbers with a fraction
as exact Decimals), and the calls that change state as money calls (money_calls.py).

A bet or a deposit always has an idempotency key (the `Idempotency-Key` header, or one made by the
server), so that a call whose connection died while it committed is resolved through it; when it
cannot be, the answer is a 503 `{"error": "outcome unknown: retry with idempotency_key=<key>",
"idempotency_key": "<key>"}`. An admin call has no key: its 503 says what to check before calling
again. Bets on one game that arrive together are decided in one transaction (placements.py), each
with its own answer.
"""

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import partial
from typing import Any, cast

from litestar import Request
from litestar.params import HeaderParameter
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from wagerbase.database import Conn
from wagerbase.money_calls import KeySource, MoneyCall, MoneyCalls
from wagerbase.placements import Placement, Placements
from wagerbase.sql_files import SqlFileError, statements
from wagerbase.tokens import Claims

# The statements (games.sql), read once. `games` and `game` go on from the fragment `game_rows`,
# `place_wager` and `settle_market` take the fragment `outcome_id`: one copy of each.
_SQL = statements(__package__, "games.sql")
_FRAGMENTS = ("game_rows", "outcome_id")
_UNFILLED = re.compile(r"\{[a-z_]+\}")


def _statement(name: str) -> str:
    """Statement `name` of games.sql with each fragment it names in place (without the fragment's
    own comment lines); a name left unfilled fails at import."""
    text = _SQL[name]
    for fragment in _FRAGMENTS:
        lines = _SQL[fragment].splitlines()
        while lines and lines[0].startswith("--"):
            lines.pop(0)
        text = text.replace("{" + fragment + "}", "\n".join(lines))
    unfilled = _UNFILLED.search(text)
    if unfilled:
        raise SqlFileError(f"games.sql: {name} names {unfilled.group()}, which is no fragment")
    return text


SQL_GAMES = _statement("games")
SQL_GAME = _statement("game")
SQL_BETS = _statement("bets")
SQL_PLACE_WAGER = _statement("place_wager")
SQL_WALLET = _statement("get_wallet")
SQL_DEPOSIT = _statement("deposit")
SQL_CREATE = _statement("create_market")
SQL_CLOSE = _statement("close_market")
SQL_SETTLE = _statement("settle_market")
SQL_PROFIT = _statement("house_summary")

# jsonb numbers with a fraction (odds) are read as exact Decimals, on this surface's cursors only.
json_loads = partial(json.loads, parse_float=Decimal)


async def rows_of(conn: Conn, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    cursor = conn.cursor(row_factory=dict_row)
    set_json_loads(json_loads, cursor)
    await cursor.execute(query, params)
    return await cursor.fetchall()


async def result_of(conn: Conn, query: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The jsonb `result` of a function call."""
    (row,) = await rows_of(conn, query, params)
    return cast(dict[str, Any], row["result"])


def _was_replayed(result: Mapping[str, Any]) -> bool | None:
    replayed = result.get("replayed")
    return replayed if isinstance(replayed, bool) else None


def money_call(
    request: Request[Any, Any, Any],
    claims: Claims,
    function: str,
    query: str,
    params: dict[str, Any],
    *,
    key_source: KeySource = "none",
    check: str = "",
) -> MoneyCall[dict[str, Any]]:
    """A call of an engine function that changes state, answering its jsonb `result`; its
    idempotency key, if it takes one, is `params["idempotency_key"]`."""
    return MoneyCall(
        function=function,
        claims=claims,
        run=lambda conn: result_of(conn, query, params),
        key=params.get("idempotency_key"),
        key_source=key_source,
        check=check,
        path=request.url.path,
        replayed=_was_replayed,
    )


async def change(
    calls: MoneyCalls,
    request: Request[Any, Any, Any],
    claims: Claims,
    function: str,
    query: str,
    params: dict[str, Any],
    *,
    key_source: KeySource = "none",
    check: str = "",
) -> dict[str, Any]:
    """The jsonb `result` of an engine function that changes state, called as a money call."""
    return await calls.run(
        money_call(request, claims, function, query, params, key_source=key_source, check=check)
    )


async def place(
    placements: Placements,
    request: Request[Any, Any, Any],
    claims: Claims,
    params: dict[str, Any],
    key_source: KeySource,
) -> dict[str, Any]:
    """A bet, as the caller's own call of place_wager or in a batch of placements on its game
    (placements.py): the same answer either way."""
    call = money_call(
        request, claims, "place_wager", SQL_PLACE_WAGER, params, key_source=key_source
    )
    game = params["game_id"]
    if game is None:  # no game: the call alone says so
        return await placements.place_alone(call)
    odds_given = params["expected_odds"]
    wager = {
        "position": params["position"],
        "stake": params["stake"],
        "expected_odds": None if odds_given is None else str(odds_given),
        "idempotency_key": params["idempotency_key"],
    }
    return await placements.place(Placement(call, game, wager, answer=json_loads))


# Idempotency --------------------------------------------------------------------------------------

IDEMPOTENCY_KEY: Any = HeaderParameter(
    name="Idempotency-Key",
    default=None,
    description="Optional, 1 to 200 characters: a retry with the same key acts once and "
    "answers the first call's result (with `Idempotent-Replayed: true`).",
)


def replayed_header(result: Mapping[str, Any]) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if result.get("replayed") else {}
