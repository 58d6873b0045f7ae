"""/api/games: the games, newest first, and one game. Games are the visible markets the engine
calls BetMarket games (the markets view's `betmarket_game`: two outcomes, fixed odds); whether
betting is open is its `accepting_wagers`."""

from collections.abc import Mapping
from typing import Any

from litestar import Request, get

from wagerbase.database import Database
from wagerbase.http.common import caller_claims
from wagerbase.surfaces.betmarket.answers import (
    BAD_REQUEST,
    BUSY,
    NOT_FOUND,
    Game,
    Games,
    major,
    odds,
    spec,
)
from wagerbase.surfaces.betmarket.bodies import MAX_BIGINT
from wagerbase.surfaces.betmarket.calls import SQL_GAME, SQL_GAMES, rows_of
from wagerbase.surfaces.betmarket.errors import game_not_found
from wagerbase.tokens import Tokens


def _game(row: Mapping[str, Any]) -> Game:
    return Game(
        game_id=row["game_id"],
        question_text=row["question_text"],
        opt1_text=row["opt1_text"],
        opt2_text=row["opt2_text"],
        category=row["category"],
        result=row["result"],
        betting_open=row["betting_open"],
        tot_opt1=major(row["tot_opt1"]),
        tot_opt2=major(row["tot_opt2"]),
        odd1=odds(row["odd1"]),
        odd2=odds(row["odd2"]),
        cap_opt1=major(row["cap_opt1"]),
        cap_opt2=major(row["cap_opt2"]),
        created_at=row["created_at"],
    )


def body_game_id(value: int) -> int | None:
    """A game id from a body, or None (no game) when it cannot be a bigint."""
    return value if 0 < value <= MAX_BIGINT else None


def path_game_id(text: str) -> int:
    """A game id from a path: digits that fit a bigint, else 404 (as for an unknown id)."""
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 19 and int(text) <= MAX_BIGINT):
        raise game_not_found()
    return int(text)


@get(
    "/games",
    summary="The games, newest first (at most the node's row cap)",
    responses={**BUSY, 401: spec("A token that is not valid")},
)
async def list_games(request: Request[Any, Any, Any], db: Database, tokens: Tokens) -> Games:
    claims = caller_claims(request, tokens)
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        rows = await rows_of(conn, SQL_GAMES, {"max_rows": request.app.state.config.max_rows})
    return Games(games=[_game(row) for row in rows])


@get(
    "/games/{game_id:str}",
    summary="One game",
    responses={**BUSY, **BAD_REQUEST, **NOT_FOUND, 401: spec("A token that is not valid")},
)
async def get_game(
    request: Request[Any, Any, Any], db: Database, tokens: Tokens, game_id: str
) -> Game:
    claims = caller_claims(request, tokens)
    params = {"game_id": path_game_id(game_id)}
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        rows = await rows_of(conn, SQL_GAME, params)
    if not rows:
        raise game_not_found()
    return _game(rows[0])
