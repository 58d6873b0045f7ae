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
from wagerbase.tokens import Claims

# SQL ---------------------------------------------------------------------------------------------
# Games are the visible markets the engine calls BetMarket games (the markets view's
# betmarket_game: two outcomes, fixed odds); whether betting is open is its accepting_wagers.

_GAMES = """
select m.id as game_id,
       m.title as question_text,
       o1.label as opt1_text,
       o2.label as opt2_text,
       m.category,
       case m.winning_outcome_id when o1.id then 'opt1' when o2.id then 'opt2' end as result,
       m.accepting_wagers as betting_open,
       o1.pool as tot_opt1,
       o2.pool as tot_opt2,
       o1.odds as odd1,
       o2.odds as odd2,
       o1.cap as cap_opt1,
       o2.cap as cap_opt2,
       extract(epoch from m.created_at)::bigint as created_at
from public.markets as m
inner join public.outcomes as o1 on o1.market_id = m.id and o1.position = 1
inner join public.outcomes as o2 on o2.market_id = m.id and o2.position = 2
where m.betmarket_game
"""
# the newest games, at most the node's row cap (WAGERBASE_MAX_ROWS): the contract has no paging
SQL_GAMES = _GAMES + "order by m.created_at desc, m.id desc limit %(max_rows)s"
SQL_GAME = _GAMES + "and m.id = %(game_id)s"

# The id of outcome `position` of game `game_id`; null when that is no game, so that the engine
# answers market_not_found or outcome_not_found, after checking who calls, and changes nothing.
_OUTCOME_ID = """(
    select o.id
    from public.outcomes as o
    inner join public.markets as m on o.market_id = m.id
    where o.market_id = %(game_id)s and o.position = %(position)s and m.betmarket_game
)"""
SQL_PLACE_WAGER = f"""
select public.place_wager(
    market_id => %(game_id)s, outcome_id => {_OUTCOME_ID}, stake => %(stake)s,
    expected_odds => %(expected_odds)s, idempotency_key => %(idempotency_key)s) as result
"""
SQL_SETTLE = f"select public.settle_market(%(game_id)s, {_OUTCOME_ID}) as result"
SQL_CLOSE = """
select public.close_market((
    select m.id from public.markets as m where m.id = %(game_id)s and m.betmarket_game
)) as result
"""
SQL_CREATE = """
select public.create_market(
    title => %(title)s, outcomes => %(outcomes)s, kind => 'fixed_odds',
    options => %(options)s) as result
"""
SQL_WALLET = "select public.get_wallet() as result"
SQL_DEPOSIT = (
    "select public.deposit(amount => %(amount)s, idempotency_key => %(idempotency_key)s) as result"
)
SQL_PROFIT = "select public.house_summary() as result"
SQL_BETS = """
select w.id as bet_id,
       w.user_id,
       w.market_id as game_id,
       w.stake as amount,
       case w.position when 1 then 'opt1' when 2 then 'opt2' end as choice,
       w.odds as odd,
       extract(epoch from w.created_at)::bigint as placed_at,
       w.market_title as game_question,
       w.category as game_category,
       o1.label as opt1_text,
       o2.label as opt2_text,
       case w.winning_outcome_id when o1.id then 'opt1' when o2.id then 'opt2' end as game_result,
       m.accepting_wagers as betting_open,
       case w.settlement when 'won' then true when 'lost' then false end as won,
       w.payout
from public.my_wagers as w
inner join public.markets as m on w.market_id = m.id
inner join public.outcomes as o1 on o1.market_id = w.market_id and o1.position = 1
inner join public.outcomes as o2 on o2.market_id = w.market_id and o2.position = 2
where m.betmarket_game
    and (%(game_id)s::bigint is null or w.market_id = %(game_id)s::bigint)
order by w.created_at desc, w.id desc
limit %(max_rows)s
"""

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
