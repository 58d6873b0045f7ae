"""/api: BetMarket's REST contract (../shared/BETMARKET_API.md) on top of the engine.

A BetMarket game is a two-outcome fixed-odds market: `opt1` and `opt2` are its outcomes at
positions 1 and 2. Every handler parses, authenticates, calls one engine function or reads one
view, and shapes the answer; the engine decides everything about money.

Money and odds are JSON numbers in major units here and minor units (bigint) in the engine; the
conversion happens only at this edge and exactly: request bodies are decoded from their bytes
straight into `Decimal` (never through a float), an amount must be a whole number of minor units,
and answers are written from whole minor units (exact for any amount below 10^13).

Errors are BetMarket's `{"error": "<text>", ...}`: the engine's refusals by their catalog key
(docs/errors.md), GoTrue's refusals of /api/auth by their code, and Litestar's own (bad JSON, wrong
types, unknown fields, bad tokens) all go through the one exception handler at the end.

Bets, deposits and the admin calls are money calls (money_calls.py): a bet or a deposit always has
an idempotency key (the `Idempotency-Key` header, or one made by the server), so that a call whose
connection died while it committed is resolved through it; when it cannot be, the answer is a 503
`{"error": "outcome unknown: retry with idempotency_key=<key>", "idempotency_key": "<key>"}`. An
admin call has no key: its 503 says what to check before calling again. Bets on one game that
arrive together are decided in one transaction (placements.py), each with its own answer.
"""

import decimal
import json
import logging
from collections.abc import Generator, Mapping
from decimal import Decimal
from functools import cache, partial
from typing import Annotated, Any, ClassVar, Literal, cast

import msgspec
import psycopg
from litestar import HttpMethod, Request, Response, Router, get, post, route
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.dto import AbstractDTO, DTOConfig, DTOFieldDefinition
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Reference, Schema
from litestar.params import HeaderParameter
from litestar.typing import FieldDefinition
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads

from wagerbase import accounts
from wagerbase.accounts import Accounts
from wagerbase.database import Conn, Database
from wagerbase.errors import (
    LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    ApiError,
    OutcomeUnknown,
    detail_object,
    from_database,
)
from wagerbase.http.common import (
    bearer,
    caller_claims,
    client_address,
    provide_accounts,
    provide_db,
    provide_money_calls,
    provide_placements,
    provide_tokens,
)
from wagerbase.money_calls import KeySource, MoneyCall, MoneyCalls
from wagerbase.money_calls import idempotency_key as new_key
from wagerbase.placements import Placement, Placements
from wagerbase.tokens import Claims, Tokens

log = logging.getLogger("wagerbase.betmarket")

Choice = Literal["opt1", "opt2"]
Category = Literal["real", "virtual"]
POSITIONS: dict[str, int] = {"opt1": 1, "opt2": 2}
MAX_BIGINT = 2**63 - 1

# A JSON number kept exact: decoded as Decimal, documented as a number (Litestar would say string).
Number = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {"type": OpenAPIType.NUMBER}})]
OptionalNumber = Annotated[
    Decimal | None,
    msgspec.Meta(
        extra_json_schema={
            "extra": {"one_of": None, "type": [OpenAPIType.NUMBER, OpenAPIType.NULL]}
        }
    ),
]


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
_json_loads = partial(json.loads, parse_float=Decimal)


async def _rows(conn: Conn, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    cursor = conn.cursor(row_factory=dict_row)
    set_json_loads(_json_loads, cursor)
    await cursor.execute(query, params)
    return await cursor.fetchall()


async def _result(conn: Conn, query: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The jsonb `result` of a function call."""
    (row,) = await _rows(conn, query, params)
    return cast(dict[str, Any], row["result"])


def _was_replayed(result: Mapping[str, Any]) -> bool | None:
    replayed = result.get("replayed")
    return replayed if isinstance(replayed, bool) else None


def _money_call(
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
        run=lambda conn: _result(conn, query, params),
        key=params.get("idempotency_key"),
        key_source=key_source,
        check=check,
        path=request.url.path,
        replayed=_was_replayed,
    )


async def _change(
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
        _money_call(request, claims, function, query, params, key_source=key_source, check=check)
    )


async def _place(
    placements: Placements,
    request: Request[Any, Any, Any],
    claims: Claims,
    params: dict[str, Any],
    key_source: KeySource,
) -> dict[str, Any]:
    """A bet, as the caller's own call of place_wager or in a batch of placements on its game
    (placements.py): the same answer either way."""
    call = _money_call(
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
    return await placements.place(Placement(call, game, wager, answer=_json_loads))


# Money at the edge -------------------------------------------------------------------------------

# Wide enough that multiplying an accepted amount (at most 40 digits) by 100 is exact; any
# rounding, overflow or NaN raises instead.
_EXACT = decimal.Context(
    prec=60,
    traps=[decimal.Inexact, decimal.Rounded, decimal.Overflow, decimal.InvalidOperation],
)


def minor_units(amount: Decimal, name: str = "amount") -> int:
    """An amount in major units as whole minor units, exactly; 400 unless it has at most two
    decimals and fits the engine's bigint. Whether it is positive, within a cap or a maximum
    is the engine's to say."""
    if amount.is_finite() and amount.adjusted() > 18:
        raise _bad_request(f"{name} is out of range")
    try:
        if len(amount.as_tuple().digits) > 40:
            raise ArithmeticError
        minor = _EXACT.multiply(amount, 100)
        if minor != minor.to_integral_value():
            raise ArithmeticError
        value = int(minor)
    except ArithmeticError:
        raise _bad_request(f"{name} must be a number with at most 2 decimals") from None
    if abs(value) > MAX_BIGINT:
        raise _bad_request(f"{name} is out of range")
    return value


def expected_odds(value: Decimal | None) -> Decimal | None:
    """The odd the user was shown, as sent; 400 when it is absurdly long, large or small."""
    if value is not None and (
        len(value.as_tuple().digits) > 40 or not -12 <= value.adjusted() <= 12
    ):
        raise _bad_request("expected_odd is out of range")
    return value


def major(minor: int) -> float:
    """Minor units as a JSON number of major units (10050 -> 100.5), exact below 10^13."""
    return float(Decimal(minor).scaleb(-2))


def odds(value: Decimal | int | float) -> float:
    """Odds (numeric, 4 decimals in the engine) as a JSON number."""
    return float(value)


# Bodies ------------------------------------------------------------------------------------------

_EXACT_JSON = msgspec.json.Decoder(float_hook=Decimal)


@cache
def _number_fields(model: type[msgspec.Struct]) -> list[str]:
    """The fields of `model` that hold a Decimal (`Number`, `OptionalNumber`)."""
    info = cast(msgspec.inspect.StructType, msgspec.inspect.type_info(model))
    names = []
    for field in info.fields:
        kinds = [field.type]
        while kinds:
            kind = kinds.pop()
            if isinstance(kind, msgspec.inspect.Metadata):
                kinds.append(kind.type)
            elif isinstance(kind, msgspec.inspect.UnionType):
                kinds.extend(kind.types)
            elif isinstance(kind, msgspec.inspect.DecimalType):
                names.append(field.encode_name)
                break
    return names


def decode_body(raw: bytes, model: type[msgspec.Struct]) -> Any:
    """A request body decoded strictly from its bytes: malformed JSON, a missing field, an unknown
    one (where the Struct forbids them), a wrong type (no string for a number, no number for a
    string) are a 400; JSON numbers with a fraction become exact Decimals."""
    try:
        value = _EXACT_JSON.decode(raw)
    except msgspec.ValidationError as exc:  # an integer beyond 64 bits
        raise _bad_request(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise _bad_request(f"Malformed JSON: {exc}") from None
    if isinstance(value, dict):
        for name in _number_fields(model):
            if isinstance(value.get(name), str):
                raise _bad_request(f"Expected `number`, got `str` - at `$.{name}`")
    try:
        return msgspec.convert(value, model, strict=True)
    except msgspec.ValidationError as exc:
        raise _bad_request(str(exc)) from None


class StrictBody(AbstractDTO[Any]):
    """Decodes every `data` body of this router with `decode_body` (Litestar's own decoding
    coerces strings to numbers and reads numbers as floats), and documents it as its Struct."""

    config: ClassVar[DTOConfig] = DTOConfig()
    _models: ClassVar[dict[str, type[msgspec.Struct]]] = {}

    @classmethod
    def generate_field_definitions(
        cls, model_type: type[Any]
    ) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        cls._models[handler_id] = field_definition.annotation

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        return cast(Reference | Schema, schema_creator.for_field_definition(field_definition))

    def decode_bytes(self, value: bytes) -> Any:
        return decode_body(value, self._models[self.asgi_connection.route_handler.handler_id])

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        raise _bad_request("Send the body as JSON")


class Credentials(msgspec.Struct):
    """Other fields (an `isAdmin`, say) are ignored: registration never grants admin."""

    username: str
    password: str


def _documented(**schema: Any) -> msgspec.Meta:
    """OpenAPI facts of a field that the engine (not the decoder) checks."""
    return msgspec.Meta(extra_json_schema={"extra": schema})


class Registration(msgspec.Struct):
    """Other fields (an `isAdmin`, say) are ignored: registration never grants admin."""

    username: Annotated[str, _documented(pattern="^[A-Za-z0-9_.-]{3,32}$")]
    password: Annotated[str, _documented(min_length=accounts.MIN_PASSWORD)]


class BetRequest(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int
    amount: Number
    choice: Choice
    expected_odd: OptionalNumber = None


class DepositRequest(msgspec.Struct, forbid_unknown_fields=True):
    amount: Number


class NewGame(msgspec.Struct, forbid_unknown_fields=True):
    question_text: str
    opt1_text: str
    opt2_text: str
    category: Category


class GameRef(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int


class GameResult(msgspec.Struct, forbid_unknown_fields=True):
    game_id: int
    result: Choice


# Answers -----------------------------------------------------------------------------------------


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


def _spec(description: str, body: type[msgspec.Struct] = ErrorBody) -> ResponseSpec:
    return ResponseSpec(data_container=body, description=description)


# Every route: too many requests at once (a lane of the node's pool, admission.py) or a lock wait
# past lock_timeout. Nothing was done: send it again after Retry-After (a bet with the same key).
_BUSY = {429: _spec("Busy: nothing was done; send it again after Retry-After")}
_BAD_REQUEST = {400: _spec("Malformed JSON, a wrong type, a missing or unknown field")}
_SIGNED_IN = {
    **_BAD_REQUEST,
    401: _spec("No token, a token that is not valid, or whose session ended (sign in again)"),
}
_NOT_FOUND = {404: _spec("No such game, or a malformed id")}
_ADMIN = {**_SIGNED_IN, 403: _spec("The caller is not an admin")}
_UNKNOWN = {
    503: _spec(
        "Outcome unknown: retry with the idempotency_key named (Retry-After, Idempotency-Key)",
        OutcomeUnknownBody,
    )
}
_ADMIN_CHANGE = {
    **_ADMIN,
    503: _spec("Outcome unknown: check what the error names before calling again", ErrorBody),
}


# Auth ---------------------------------------------------------------------------------------------


async def _signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a valid user (or service) token, checked before the body is read. Admin rights
    are the engine's to check."""
    request = cast("Request[Any, Any, Any]", connection)
    claims = caller_claims(request, connection.app.state.tokens)
    if claims["role"] == "anon":
        raise ApiError(
            status=401,
            code="not_authenticated",
            message="Sign in first: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.claims = claims


def provide_claims(request: Request[Any, Any, Any]) -> Claims:
    claims: Claims = request.state.claims
    return claims


def _session(signed_in: accounts.SignedIn) -> Session:
    app_metadata = signed_in.user.get("app_metadata") or {}
    return Session(
        token=signed_in.access_token,
        id=str(signed_in.user["id"]),
        isAdmin=app_metadata.get("role") == "admin",
        expiryTimeEpochSeconds=signed_in.expires_at,
    )


_TOO_MANY = _spec(
    "Too many attempts from this address (or, for a sign-in, for this username), too many "
    "passwords being checked at once, or the node busy: nothing was done; wait Retry-After "
    "seconds"
)


@post(
    "/auth/register",
    status_code=200,
    summary="Register and sign in at once (never as an admin)",
    responses={**_BAD_REQUEST, 409: _spec("The username is taken"), 429: _TOO_MANY},
)
async def register(request: Request[Any, Any, Any], data: Registration, auth: Accounts) -> Session:
    return _session(
        await auth.sign_up(
            address=client_address(request),
            email=None,
            username=data.username,
            password=data.password,
        )
    )


@post(
    "/auth/login",
    status_code=200,
    summary="Sign in with a username and a password",
    responses={**_BAD_REQUEST, 401: _spec("Wrong username or password"), 429: _TOO_MANY},
)
async def login(request: Request[Any, Any, Any], data: Credentials, auth: Accounts) -> Session:
    return _session(
        await auth.sign_in(
            address=client_address(request), identifier=data.username, password=data.password
        )
    )


@post(
    "/auth/logout",
    status_code=200,
    summary="End the session of the token (if any): its access tokens stop at once",
    responses={**_BUSY, 401: _spec("A token that is not valid")},
)
async def logout(request: Request[Any, Any, Any], auth: Accounts, tokens: Tokens) -> LoggedOut:
    token = bearer(request)
    if token is not None:
        claims = caller_claims(request, tokens)
        if claims["role"] == "authenticated":
            await auth.end_session(claims)
    return LoggedOut(status="ok")


# Games --------------------------------------------------------------------------------------------


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


def _bigint(value: int) -> int | None:
    """A game id from a body, or None (no game) when it cannot be a bigint."""
    return value if 0 < value <= MAX_BIGINT else None


def _game_id(text: str) -> int:
    """A game id from a path: digits that fit a bigint, else 404 (as for an unknown id)."""
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 19 and int(text) <= MAX_BIGINT):
        raise _game_not_found()
    return int(text)


@get(
    "/games",
    summary="The games, newest first (at most the node's row cap)",
    responses={**_BUSY, 401: _spec("A token that is not valid")},
)
async def list_games(request: Request[Any, Any, Any], db: Database, tokens: Tokens) -> Games:
    claims = caller_claims(request, tokens)
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        rows = await _rows(conn, SQL_GAMES, {"max_rows": request.app.state.config.max_rows})
    return Games(games=[_game(row) for row in rows])


@get(
    "/games/{game_id:str}",
    summary="One game",
    responses={**_BUSY, **_BAD_REQUEST, **_NOT_FOUND, 401: _spec("A token that is not valid")},
)
async def get_game(
    request: Request[Any, Any, Any], db: Database, tokens: Tokens, game_id: str
) -> Game:
    claims = caller_claims(request, tokens)
    params = {"game_id": _game_id(game_id)}
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        rows = await _rows(conn, SQL_GAME, params)
    if not rows:
        raise _game_not_found()
    return _game(rows[0])


# Betting and balance ------------------------------------------------------------------------------


IDEMPOTENCY_KEY: Any = HeaderParameter(
    name="Idempotency-Key",
    default=None,
    description="Optional, 1 to 200 characters: a retry with the same key acts once and "
    "answers the first call's result (with `Idempotent-Replayed: true`).",
)


@post(
    "/bet",
    guards=[_signed_in],
    summary="Bet on a game at its live odds (refused if they moved from expected_odd)",
    responses={
        **_BUSY,
        **_SIGNED_IN,
        400: _spec(
            "Malformed input, amount above the cap (with max_cap), insufficient balance, "
            "betting closed",
            BetRefused,
        ),
        404: _spec("No such game"),
        409: _spec(
            "The odds moved from expected_odd (with current_odd), or the Idempotency-Key "
            "was used for another bet",
            BetConflict,
        ),
        **_UNKNOWN,
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
        "game_id": _bigint(data.game_id),
        "position": POSITIONS[data.choice],
        "stake": minor_units(data.amount),
        "expected_odds": expected_odds(data.expected_odd),
    }
    params["idempotency_key"], source = new_key(idempotency_key)
    wager = await _place(placements, request, claims, params, source)
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
    return Response(placed, status_code=201, headers=_replayed(wager))


def _replayed(result: Mapping[str, Any]) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if result.get("replayed") else {}


@route(
    "/balance",
    http_method=[HttpMethod.OPTIONS],
    include_in_schema=False,
    sync_to_thread=False,
)
def balance_options() -> Response[None]:
    """OPTIONS /api/balance. Litestar's automatic answer lists the methods of only one of the
    handlers of a path, so this path of two handlers answers for itself."""
    return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})


@get(
    "/balance",
    guards=[_signed_in],
    summary="My balance (the wallet is made on the first call, with the sign-up grant if any)",
    responses={**_SIGNED_IN, **_BUSY},
)
async def get_balance(
    request: Request[Any, Any, Any], money_calls: MoneyCalls, claims: Claims
) -> Balance:
    # a money call: the first call makes the wallet and credits its grant, a commit like any other
    wallet = await _change(
        money_calls,
        request,
        claims,
        "get_wallet",
        SQL_WALLET,
        {},
        check="read your balance (GET /api/balance)",
    )
    return Balance(user_id=str(wallet["user_id"]), balance=major(wallet["balance"]))


@post(
    "/balance",
    status_code=200,
    guards=[_signed_in],
    summary="Deposit into my balance (bounded per call; recorded in the ledger)",
    responses={
        **_BUSY,
        **_SIGNED_IN,
        400: _spec("Malformed amount, not positive, or above the per-call maximum"),
        409: _spec("The Idempotency-Key was used for another amount"),
        **_UNKNOWN,
    },
)
async def deposit(
    request: Request[Any, Any, Any],
    data: DepositRequest,
    claims: Claims,
    money_calls: MoneyCalls,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Response[Deposited]:
    params: dict[str, Any] = {"amount": minor_units(data.amount)}
    params["idempotency_key"], source = new_key(idempotency_key)
    result = await _change(
        money_calls, request, claims, "deposit", SQL_DEPOSIT, params, key_source=source
    )
    deposited = Deposited(
        user_id=str(result["user_id"]),
        amount_added=major(result["amount"]),
        new_balance=major(result["balance"]),
    )
    return Response(deposited, status_code=200, headers=_replayed(result))


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
        rows = await _rows(
            conn, SQL_BETS, {"game_id": game_id, "max_rows": request.app.state.config.max_rows}
        )
    return Bets(bets=[_bet(row) for row in rows])


@get(
    "/user/bets",
    guards=[_signed_in],
    summary="My bets, newest first",
    responses={**_SIGNED_IN, **_BUSY},
)
async def my_bets(request: Request[Any, Any, Any], db: Database, claims: Claims) -> Bets:
    return await _my_bets(request, db, claims, None)


@get(
    "/user/bets/{game_id:str}",
    guards=[_signed_in],
    summary="My bets on one game, newest first (none for an unknown game)",
    responses={**_BUSY, **_SIGNED_IN, **_NOT_FOUND},
)
async def my_bets_on_game(
    request: Request[Any, Any, Any], db: Database, claims: Claims, game_id: str
) -> Bets:
    return await _my_bets(request, db, claims, _game_id(game_id))


# Admin --------------------------------------------------------------------------------------------


@post(
    "/admin/game",
    guards=[_signed_in],
    summary="Create a game (a two-outcome fixed-odds market), open at once",
    responses={**_ADMIN_CHANGE, **_BUSY},
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
    market = await _change(
        money_calls, request, claims, "create_market", SQL_CREATE, params, check=check
    )
    return GameCreated(message="Game created", game_id=market["id"])


@post(
    "/admin/stop_betting",
    status_code=200,
    guards=[_signed_in],
    summary="Stop taking bets on a game",
    responses={**_BUSY, **_ADMIN_CHANGE, **_NOT_FOUND, 409: _spec("Betting is closed already")},
)
async def stop_betting(
    request: Request[Any, Any, Any], data: GameRef, claims: Claims, money_calls: MoneyCalls
) -> BettingStopped:
    check = f"read betting_open of GET /api/games/{data.game_id}"
    params = {"game_id": _bigint(data.game_id)}
    await _change(money_calls, request, claims, "close_market", SQL_CLOSE, params, check=check)
    return BettingStopped(message="Betting stopped", game_id=data.game_id)


@post(
    "/admin/start_game",
    status_code=200,
    guards=[_signed_in],
    summary="Set a game's result and pay the winners (once: a second call is a 409)",
    responses={
        **_BUSY,
        **_ADMIN_CHANGE,
        **_NOT_FOUND,
        409: _spec("The game has its result already"),
    },
)
async def start_game(
    request: Request[Any, Any, Any], data: GameResult, claims: Claims, money_calls: MoneyCalls
) -> GameSettled:
    params = {"game_id": _bigint(data.game_id), "position": POSITIONS[data.result]}
    check = f"read the result of GET /api/games/{data.game_id}"
    await _change(money_calls, request, claims, "settle_market", SQL_SETTLE, params, check=check)
    return GameSettled(message="Result set; winners paid", game_id=data.game_id, result=data.result)


@get(
    "/admin/profit",
    guards=[_signed_in],
    summary="The bookmaker's profit: stakes kept minus winnings paid, over settled games",
    responses={**_ADMIN, **_BUSY},
)
async def profit(request: Request[Any, Any, Any], db: Database, claims: Claims) -> Profit:
    async with db.as_caller(claims, read_only=True, method="GET", path=request.url.path) as conn:
        summary = await _result(conn, SQL_PROFIT, {})
    return Profit(profit=major(summary["profit"]))


# Errors -------------------------------------------------------------------------------------------


def _bad_request(message: str) -> ApiError:
    return ApiError(status=400, code="bad_request", message=message)


def _game_not_found() -> ApiError:
    return ApiError(status=404, code="market_not_found", message="Game not found")


# The engine's refusals (docs/errors.md) in BetMarket's words; a key not listed keeps its
# catalog status and answers its key.
_REFUSALS: dict[str, tuple[int, str]] = {
    "not_authenticated": (401, "Sign in first"),
    "unknown_user": (401, "Unknown user: sign in again"),
    "session_ended": (401, "Session ended: sign in again"),
    "not_admin": (403, "Admins only"),
    "invalid_amount": (400, "Amount must be positive"),
    "invalid_idempotency_key": (400, "Idempotency-Key must be 1 to 200 characters"),
    "insufficient_funds": (400, "Insufficient balance"),
    "market_not_found": (404, "Game not found"),
    "outcome_not_found": (404, "Game not found"),
    "wager_not_found": (404, "Bet not found"),
    "market_not_open": (400, "Betting is closed"),
    "already_settled": (409, "The game has its result already"),
    "idempotency_conflict": (409, "Idempotency-Key was used for another request"),
    "payout_above_maximum": (400, "The payout would exceed the maximum per bet"),
    "user_exists": (409, "Username already taken"),
}

# GoTrue's refusals (wagerbase.accounts) as BetMarket answers them.
_AUTH_REFUSALS: dict[str, tuple[int, str | None]] = {
    "user_already_exists": (409, "Username already taken"),
    "weak_password": (400, None),
    "validation_failed": (400, None),
    "invalid_credentials": (401, "Invalid username or password"),
    "over_request_rate_limit": (429, None),
}


def _engine_refusal(exc: psycopg.Error, role: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers for an engine error: its catalog key (message) and the values
    of its detail shape BetMarket's answer."""
    if exc.sqlstate is None:
        if isinstance(exc, psycopg.DataError):  # refused before it was sent: a NUL in a text
            return 400, {"error": f"Invalid value: {exc}"}, {}
        return 503, {"error": "The database is unavailable; try again"}, {"Retry-After": "1"}
    error = from_database(exc, role)
    if exc.sqlstate == STATEMENT_TIMEOUT:  # the role's (or the function's) statement_timeout
        return 400, {"error": f"The request took too long: {error.hint}"}, {}
    if exc.sqlstate == LOCK_TIMEOUT:  # nothing was done
        return 429, {"error": f"Busy: {error.hint}"}, error.headers
    key = error.message
    detail = detail_object(error)
    if key == "odds_changed":
        current = odds(Decimal(str(detail.get("current_odds"))))
        expected = odds(Decimal(str(detail.get("expected_odds"))))
        return (
            409,
            {
                "error": "Odds have changed",
                "current_odd": current,
                "expected_odd": expected,
                "message": f"The odds moved from {expected} to {current}: bet again to take them",
            },
            {},
        )
    if key == "stake_above_cap":
        return 400, {"error": "Amount exceeds cap", "max_cap": major(int(detail["cap"]))}, {}
    if key == "amount_above_maximum":
        maximum = major(int(detail["maximum"]))
        return 400, {"error": "Amount exceeds the maximum", "max_amount": maximum}, {}
    if key in ("invalid_argument", "invalid_option"):
        name = detail.get("argument") or detail.get("option")
        return 400, {"error": f"Invalid {name}: {detail.get('reason', key)}"}, {}
    if key == "invalid_market_state":
        return 409, {"error": f"Not possible: the game is {detail.get('status')}"}, {}
    if key in _REFUSALS:
        status, text = _REFUSALS[key]
        return status, {"error": text}, {}
    if exc.sqlstate == "42501":
        text = "Sign in first" if error.status == 401 else "Not allowed"
        return error.status, {"error": text}, {}
    if exc.sqlstate.startswith(("22", "23")):
        return 400, {"error": f"Invalid value: {key}"}, {}
    if exc.sqlstate in ("40001", "40P01"):
        return 409, {"error": "A concurrent request got in the way; try again"}, {}
    return error.status, {"error": key}, {}


def _readable(message: str) -> str:
    """A refusal's message; the engine's JSON detail {argument, reason} put in words."""
    try:
        detail = json.loads(message)
    except ValueError:
        return message
    if isinstance(detail, dict) and "reason" in detail:
        return f"Invalid {detail.get('argument', 'value')}: {detail['reason']}"
    return message


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    headers: dict[str, str] = {}
    if isinstance(exc, OutcomeUnknown):
        status, headers = 503, exc.headers
        body: dict[str, Any] = {"error": exc.sentence}
        if exc.idempotency_key is not None:
            body["idempotency_key"] = exc.idempotency_key
    elif isinstance(exc, ApiError):
        headers = dict(exc.headers)
        status, text = _AUTH_REFUSALS.get(exc.code, (exc.status, None))
        body = {"error": text or _readable(exc.message)}
    elif isinstance(exc, psycopg.Error):
        role = getattr(request.state, "role", None) or "anon"
        try:
            status, body, headers = _engine_refusal(exc, role)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            # a detail without the values its key promises: still the key's answer, not a 500
            error = from_database(exc, role)
            status, body = error.status, {"error": error.message}
        if status >= 500:
            log.error("database error on %s: %s", request.url.path, exc)
    elif isinstance(exc, ValidationException):
        status = 400
        problems = [e for e in exc.extra or [] if isinstance(e, dict)]
        if any(e.get("key") == "data" for e in problems):
            body = {"error": "A JSON body is required"}
        else:
            messages = [f"{e.get('key')}: {e.get('message')}" for e in problems]
            body = {"error": "; ".join([str(exc.detail), *messages])}
    elif isinstance(exc, HTTPException):
        status, headers = exc.status_code, dict(exc.headers or {})
        body = {"error": str(exc.detail)}
    else:
        log.exception("unexpected error on %s", request.url.path, exc_info=exc)
        status, body = 500, {"error": "Internal server error"}
    return Response(body, status_code=status, headers=headers)


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
    dependencies={
        "db": Provide(provide_db, sync_to_thread=False),
        "tokens": Provide(provide_tokens, sync_to_thread=False),
        "auth": Provide(provide_accounts, sync_to_thread=False),
        "claims": Provide(provide_claims, sync_to_thread=False),
        "money_calls": Provide(provide_money_calls, sync_to_thread=False),
        "placements": Provide(provide_placements, sync_to_thread=False),
    },
    dto=StrictBody,
    return_dto=None,
    exception_handlers={Exception: _error_response},
    tags=["betmarket"],
)
