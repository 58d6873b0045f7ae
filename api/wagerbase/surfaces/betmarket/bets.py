"""/api/bet and /api/user/bets: a bet at a game's live odds (refused if they moved from the odd
the user was shown), and the caller's bets, newest first."""

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, get, post

from wagerbase.database import Database
from wagerbase.money_calls import idempotency_key as new_key
from wagerbase.placements import Placements
from wagerbase.surfaces.betmarket.answers import (
    BUSY,
    NOT_FOUND,
    SIGNED_IN,
    UNKNOWN,
    Bet,
    BetConflict,
    BetPlaced,
    BetRefused,
    Bets,
    major,
    odds,
    spec,
)
from wagerbase.surfaces.betmarket.auth import requires_sign_in
from wagerbase.surfaces.betmarket.bodies import POSITIONS, BetRequest, expected_odds, minor_units
from wagerbase.surfaces.betmarket.calls import (
    IDEMPOTENCY_KEY,
    SQL_BETS,
    place,
    replayed_header,
    rows_of,
)
from wagerbase.surfaces.betmarket.games import body_game_id, path_game_id
from wagerbase.tokens import Claims


@post(
    "/bet",
    guards=[requires_sign_in],
    summary="Bet on a game at its live odds (refused if they moved from expected_odd)",
    responses={
        **BUSY,
        **SIGNED_IN,
        400: spec(
            "Malformed input, amount above the cap (with max_cap), insufficient balance, "
            "betting closed",
            BetRefused,
        ),
        404: spec("No such game"),
        409: spec(
            "The odds moved from expected_odd (with current_odd), or the Idempotency-Key "
            "was used for another bet",
            BetConflict,
        ),
        **UNKNOWN,
    },
)
async def place_bet(
    request: Request[Any, Any, Any],
    data: BetRequest,
    claims: Claims,
    placements: Placements,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Response[BetPlaced]:
    params: dict[str, Any] = {
        "game_id": body_game_id(data.game_id),
        "position": POSITIONS[data.choice],
        "stake": minor_units(data.amount),
        "expected_odds": expected_odds(data.expected_odd),
    }
    params["idempotency_key"], source = new_key(idempotency_key)
    wager = await place(placements, request, claims, params, source)
    quotes = {outcome["position"]: outcome for outcome in wager["market"]["outcomes"]}
    placed = BetPlaced(
        message="Bet placed",
        bet_id=wager["wager_id"],
        new_balance=major(wager["balance"]),
        bet_odd=odds(wager["odds"]),
        new_odd1=odds(quotes[1]["odds"]),
        new_odd2=odds(quotes[2]["odds"]),
        new_cap_opt1=major(quotes[1]["cap"]),
        new_cap_opt2=major(quotes[2]["cap"]),
    )
    return Response(placed, status_code=201, headers=replayed_header(wager))


def _bet(row: Mapping[str, Any]) -> Bet:
    return Bet(
        bet_id=row["bet_id"],
        user_id=str(row["user_id"]),
        game_id=row["game_id"],
        amount=major(row["amount"]),
        choice=row["choice"],
        odd=odds(row["odd"]),
        placed_at=row["placed_at"],
        game_question=row["game_question"],
        game_category=row["game_category"],
        opt1_text=row["opt1_text"],
        opt2_text=row["opt2_text"],
        game_result=row["game_result"],
        betting_open=row["betting_open"],
        won=row["won"],
        payout=None if row["payout"] is None else major(row["payout"]),
    )


async def _my_bets(
    request: Request[Any, Any, Any], db: Database, claims: Claims, game_id: int | None
) -> Bets:
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        rows = await rows_of(
            conn, SQL_BETS, {"game_id": game_id, "max_rows": request.app.state.config.max_rows}
        )
    return Bets(bets=[_bet(row) for row in rows])


@get(
    "/user/bets",
    guards=[requires_sign_in],
    summary="My bets, newest first",
    responses={**SIGNED_IN, **BUSY},
)
async def my_bets(request: Request[Any, Any, Any], db: Database, claims: Claims) -> Bets:
    return await _my_bets(request, db, claims, None)


@get(
    "/user/bets/{game_id:str}",
    guards=[requires_sign_in],
    summary="My bets on one game, newest first (none for an unknown game)",
    responses={**BUSY, **SIGNED_IN, **NOT_FOUND},
)
async def my_bets_on_game(
    request: Request[Any, Any, Any], db: Database, claims: Claims, game_id: str
) -> Bets:
    return await _my_bets(request, db, claims, path_game_id(game_id))
