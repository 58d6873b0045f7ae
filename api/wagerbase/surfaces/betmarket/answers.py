"""What BetMarket answers: money as JSON numbers in major units, odds as numbers, the answers'
structs, and the answers each route documents (OpenAPI)."""

from decimal import Decimal
from typing import Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec

Choice = Literal["opt1", "opt2"]
Category = Literal["real", "virtual"]


def major(minor: int) -> float:
    """Minor units as a JSON number of major units (10050 -> 100.5), exact below 10^13."""
    return float(Decimal(minor).scaleb(-2))


def odds(value: Decimal | int | float) -> float:
    """Odds (numeric, 4 decimals in the engine) as a JSON number."""
    return float(value)


class Session(msgspec.Struct):
    token: str
    id: str
    isAdmin: bool
    expiryTimeEpochSeconds: int


class LoggedOut(msgspec.Struct):
    status: str


class Game(msgspec.Struct):
    game_id: int
    question_text: str
    opt1_text: str
    opt2_text: str
    category: Category
    result: Choice | None
    betting_open: bool
    tot_opt1: float
    tot_opt2: float
    odd1: float
    odd2: float
    cap_opt1: float
    cap_opt2: float
    created_at: int


class Games(msgspec.Struct):
    games: list[Game]


class BetPlaced(msgspec.Struct):
    message: str
    bet_id: int
    new_balance: float
    bet_odd: float
    new_odd1: float
    new_odd2: float
    new_cap_opt1: float
    new_cap_opt2: float


class Balance(msgspec.Struct):
    user_id: str
    balance: float


class Deposited(msgspec.Struct):
    user_id: str
    amount_added: float
    new_balance: float


class Bet(msgspec.Struct):
    bet_id: int
    user_id: str
    game_id: int
    amount: float
    choice: Choice
    odd: float
    placed_at: int
    game_question: str
    game_category: Category
    opt1_text: str
    opt2_text: str
    game_result: Choice | None
    betting_open: bool
    won: bool | None
    payout: float | None


class Bets(msgspec.Struct):
    bets: list[Bet]


class GameCreated(msgspec.Struct):
    message: str
    game_id: int


class BettingStopped(msgspec.Struct):
    message: str
    game_id: int


class GameSettled(msgspec.Struct):
    message: str
    game_id: int
    result: Choice


class Profit(msgspec.Struct):
    profit: float


class ErrorBody(msgspec.Struct):
    error: str


class BetRefused(msgspec.Struct):
    error: str
    max_cap: float | None = None


class BetConflict(msgspec.Struct):
    """409 on /api/bet: the odds moved (with current_odd, expected_odd and message), or the
    Idempotency-Key was used before for another bet (error only)."""

    error: str
    current_odd: float | None = None
    expected_odd: float | None = None
    message: str | None = None


class OutcomeUnknownBody(msgspec.Struct):
    """503: the call may or may not have taken effect (the database was lost while it committed,
    for longer than the node waits). With idempotency_key: send the same request with that
    Idempotency-Key; without: check what `error` says before calling again."""

    error: str
    idempotency_key: str | None = None


def spec(description: str, body: type[msgspec.Struct] = ErrorBody) -> ResponseSpec:
    return ResponseSpec(data_container=body, description=description)


# Every route: too many requests at once (a lane of the node's pool, admission.py) or a lock wait
# past lock_timeout. Nothing was done: send it again after Retry-After (a bet with the same key).
BUSY = {429: spec("Busy: nothing was done; send it again after Retry-After")}
BAD_REQUEST = {400: spec("Malformed JSON, a wrong type, a missing or unknown field")}
SIGNED_IN = {
    **BAD_REQUEST,
    401: spec("No token, a token that is not valid, or whose session ended (sign in again)"),
}
NOT_FOUND = {404: spec("No such game, or a malformed id")}
ADMIN = {**SIGNED_IN, 403: spec("The caller is not an admin")}
UNKNOWN = {
    503: spec(
        "Outcome unknown: retry with the idempotency_key named (Retry-After, Idempotency-Key)",
        OutcomeUnknownBody,
    )
}
ADMIN_CHANGE = {
    **ADMIN,
    503: spec("Outcome unknown: check what the error names before calling again", ErrorBody),
}
