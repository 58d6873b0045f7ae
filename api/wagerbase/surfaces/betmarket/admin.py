"""/api/admin: create a game, stop its betting, set its result (paying the winners), and the
bookmaker's profit. Whether the caller is an admin is the engine's to say."""

from typing import Any

from litestar import Request, get, post
from psycopg.types.json import Jsonb

from wagerbase.database import Database
from wagerbase.money_calls import MoneyCalls
from wagerbase.surfaces.betmarket.answers import (
    ADMIN,
    ADMIN_CHANGE,
    BUSY,
    NOT_FOUND,
    BettingStopped,
    GameCreated,
    GameSettled,
    Profit,
    major,
    spec,
)
from wagerbase.surfaces.betmarket.auth import requires_sign_in
from wagerbase.surfaces.betmarket.bodies import POSITIONS, GameRef, GameResult, NewGame
from wagerbase.surfaces.betmarket.calls import (
    SQL_CLOSE,
    SQL_CREATE,
    SQL_PROFIT,
    SQL_SETTLE,
    change,
    result_of,
)
from wagerbase.surfaces.betmarket.games import body_game_id
from wagerbase.tokens import Claims


@post(
    "/admin/game",
    guards=[requires_sign_in],
    summary="Create a game (a two-outcome fixed-odds market), open at once",
    responses={**ADMIN_CHANGE, **BUSY},
)
async def create_game(
    request: Request[Any, Any, Any], data: NewGame, claims: Claims, money_calls: MoneyCalls
) -> GameCreated:
    params = {
        "title": data.question_text,
        "outcomes": Jsonb([data.opt1_text, data.opt2_text]),
        "options": Jsonb({"category": data.category}),
    }
    check = "look for the game in GET /api/games"
    market = await change(
        money_calls, request, claims, "create_market", SQL_CREATE, params, check=check
    )
    return GameCreated(message="Game created", game_id=market["id"])


@post(
    "/admin/stop_betting",
    status_code=200,
    guards=[requires_sign_in],
    summary="Stop taking bets on a game",
    responses={**BUSY, **ADMIN_CHANGE, **NOT_FOUND, 409: spec("Betting is closed already")},
)
async def stop_betting(
    request: Request[Any, Any, Any], data: GameRef, claims: Claims, money_calls: MoneyCalls
) -> BettingStopped:
    check = f"read betting_open of GET /api/games/{data.game_id}"
    params = {"game_id": body_game_id(data.game_id)}
    await change(money_calls, request, claims, "close_market", SQL_CLOSE, params, check=check)
    return BettingStopped(message="Betting stopped", game_id=data.game_id)


@post(
    "/admin/start_game",
    status_code=200,
    guards=[requires_sign_in],
    summary="Set a game's result and pay the winners (once: a second call is a 409)",
    responses={
        **BUSY,
        **ADMIN_CHANGE,
        **NOT_FOUND,
        409: spec("The game has its result already"),
    },
)
async def start_game(
    request: Request[Any, Any, Any], data: GameResult, claims: Claims, money_calls: MoneyCalls
) -> GameSettled:
    params = {"game_id": body_game_id(data.game_id), "position": POSITIONS[data.result]}
    check = f"read the result of GET /api/games/{data.game_id}"
    await change(money_calls, request, claims, "settle_market", SQL_SETTLE, params, check=check)
    return GameSettled(message="Result set; winners paid", game_id=data.game_id, result=data.result)


@get(
    "/admin/profit",
    guards=[requires_sign_in],
    summary="The bookmaker's profit: stakes kept minus winnings paid, over settled games",
    responses={**ADMIN, **BUSY},
)
async def profit(request: Request[Any, Any, Any], db: Database, claims: Claims) -> Profit:
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        summary = await result_of(conn, SQL_PROFIT, {})
    return Profit(profit=major(summary["profit"]))
