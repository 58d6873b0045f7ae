"""BetMarket's /api router: its routes, what they are given (the database, tokens, accounts, the
caller's claims, money calls, placements), its strict body decoding and its one error handler."""

from litestar import Router

from wagerbase.http.common import dependencies
from wagerbase.surfaces.betmarket.admin import create_game, profit, start_game, stop_betting
from wagerbase.surfaces.betmarket.auth import login, logout, provide_claims, register
from wagerbase.surfaces.betmarket.balance import balance_options, deposit, get_balance
from wagerbase.surfaces.betmarket.bets import my_bets, my_bets_on_game, place_bet
from wagerbase.surfaces.betmarket.bodies import StrictBody
from wagerbase.surfaces.betmarket.errors import error_response
from wagerbase.surfaces.betmarket.games import get_game, list_games

router = Router(
    path="/api",
    route_handlers=[
        register,
        login,
        logout,
        list_games,
        get_game,
        place_bet,
        balance_options,
        get_balance,
        deposit,
        my_bets,
        my_bets_on_game,
        create_game,
        stop_betting,
        start_game,
        profit,
    ],
    dependencies=dependencies(
        "db", "tokens", "auth", "money_calls", "placements", claims=provide_claims
    ),
    dto=StrictBody,
    return_dto=None,
    exception_handlers={Exception: error_response},
    tags=["betmarket"],
)
