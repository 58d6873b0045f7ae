"""/rest/v1: the PostgREST subset the official Supabase clients use (SUPABASE_COMPAT.md 3 and 4).

- `GET|HEAD /rest/v1/{view}`: a view (or table) of schema `public`, with `select`, filters,
  `order`, `limit`, `offset` (grammar in pgrst_query.py), `Prefer: count=exact` and
  `Content-Range`, and `Accept: application/vnd.pgrst.object+json` for one object.
- `POST /rest/v1/rpc/{fn}` with a JSON object of named arguments; `GET|HEAD` with the arguments in
  the query string for STABLE and IMMUTABLE functions. Rows that a function returns take the same
  filters as a view.
- Writes to views and tables are refused as PostgREST refuses them when the role holds no write
  grant: `42501`, 401 for anon and 403 otherwise. No client role may write a table; every write
  goes through a function.

Each request runs as PostgREST runs it: the token's claims, then one transaction with `set local
role` and `request.jwt.claims` (read only for GET and HEAD, and for calls of non-volatile
functions), then one statement, so grants and RLS decide everything. Every error has PostgREST's
body `{code, message, details, hint}`.

Each transaction starts with server.begin_request, which applies the role's statement_timeout and
lock_timeout and, for a call, the function's own statement_timeout (PostgREST 12's hoisted function
settings): a statement past its limit answers 400 (57014) with a hint naming it, a lock wait past
lock_timeout 429 (55P03) with Retry-After. A read holds a place of the pool's read lane (a 429 with
Retry-After when none comes free in time, admission.py); a read whose client disconnects is
cancelled on the server (http/common.py).

A POST of a volatile function changes state: it goes through money_calls.py. A function with an
optional `idempotency_key` argument (place_wager, deposit, withdraw) always gets one: the body's,
or one made by the server and added to the call; one whose key is required (credit_wallet) gets
only the caller's, so that a missing or null key is refused by the engine, never replaced. If
the connection is lost while it commits, the call is resolved through that key; otherwise the
answer is a 503 `outcome_unknown` that names the key, or (without a key) says what to check
(docs/rest.md).

The schema cache (views, functions and their arguments, read from pg_catalog) is kept per
process and read again when a request names something it does not hold.

Limits (docs/rest.md, "Limits"): a read answers at most the node's row cap (`Config.max_rows`,
`WAGERBASE_MAX_ROWS`), the query grammar and bodies are bounded (request_limits.py), and an
argument whose type is a number must be a JSON number in a POST body and a plain decimal in a
query string.
"""

import asyncio
import difflib
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, NoReturn, TypeVar

import msgspec
import psycopg
from litestar import Request, Response, Router, get, head, post, route
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter, QueryParameter
from psycopg_pool import PoolTimeout

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError, OutcomeUnknown, from_database
from wagerbase.http import pgrst_sql
from wagerbase.http.common import (
    caller_claims,
    provide_db,
    provide_money_calls,
    provide_placements,
    provide_tokens,
    until_client_leaves,
)
from wagerbase.http.pgrst_query import LOGIC_KEYS, RESERVED, ReadQuery, bad_query, parse_read_query
from wagerbase.http.pgrst_sql import Catalog, Function, Params, Relation
from wagerbase.http.request_limits import json_depth, too_deep
from wagerbase.money_calls import KeySource, MoneyCall, MoneyCalls, idempotency_key
from wagerbase.placements import Placement, Placements
from wagerbase.tokens import Claims, Tokens

T = TypeVar("T")

JSON = "application/json; charset=utf-8"
OBJECT = "application/vnd.pgrst.object+json; charset=utf-8"
SCHEMA = pgrst_sql.SCHEMA
READ_METHODS = frozenset({"GET", "HEAD"})
STALE_SQLSTATES = frozenset({"42P01", "42883", "42703"})  # something the cache named is gone
KEY_ARGUMENT = "idempotency_key"
_MARKET = "the market's status (GET /rest/v1/markets?id=eq.<market_id>)"
_WAGER = "the wager's approval and settlement (GET /rest/v1/wagers?id=eq.<wager_id>)"
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
}


# --- the schema cache -------------------------------------------------------------------------


class SchemaCache:
    """Views and functions of `public`, loaded once and read again when a request names one it
    does not hold (at most once a second for such misses, so unknown names cannot make every
    request read the catalog), or at once after `invalidate()`."""

    MISS_RELOAD_SECONDS = 1.0

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Read the catalog again on next use (the database said something it named is gone)."""
        if not self._recent():
            self._catalog = None

    async def _current(self, db: Database, *, reload_from: Catalog | None = None) -> Catalog:
        """The catalog; with `reload_from` (the one that missed) a newer one if it may be."""
        catalog = self._catalog
        if catalog is not None and (catalog is not reload_from or self._recent()):
            return catalog
        async with self._lock:
            catalog = self._catalog
            if catalog is not None and (catalog is not reload_from or self._recent()):
                return catalog  # another request reloaded it meanwhile
            async with db.as_server() as conn:
                catalog = await pgrst_sql.load_catalog(conn)
            self._catalog, self._loaded_at = catalog, time.monotonic()
            return catalog

    def _recent(self) -> bool:
        return time.monotonic() - self._loaded_at < self.MISS_RELOAD_SECONDS

    async def relation(self, db: Database, name: str, columns: Iterable[str] = ()) -> Relation:
        """The relation `name`, reloading the catalog if it lacks it or one of `columns`."""
        wanted = set(columns)
        catalog = await self._current(db)
        known = catalog.relations.get(name)
        if known is None or not wanted <= known.columns.keys():
            catalog = await self._current(db, reload_from=catalog)
        relation = catalog.relations.get(name)
        if relation is None:
            close = difflib.get_close_matches(name, list(catalog.relations), n=1)
            raise ApiError(
                404,
                "PGRST205",
                f"Could not find the table '{SCHEMA}.{name}' in the schema cache",
                hint=f"Perhaps you meant the table '{SCHEMA}.{close[0]}'" if close else None,
            )
        return relation

    async def overloads(self, db: Database, name: str) -> list[Function]:
        catalog = await self._current(db)
        return catalog.functions.get(name, [])

    async def function(self, db: Database, name: str, arguments: set[str]) -> Function:
        catalog = await self._current(db)
        found = _resolve(catalog, name, arguments)
        if found is None:
            catalog = await self._current(db, reload_from=catalog)
            found = _resolve(catalog, name, arguments)
        if found is None:
            raise _no_function(catalog, name, arguments)
        return found


def _resolve(catalog: Catalog, name: str, arguments: set[str]) -> Function | None:
    matches = [f for f in catalog.functions.get(name, []) if f.accepts(arguments)]
    # the fewest extra (defaulted) arguments wins, as PostgreSQL's named-notation resolution
    matches.sort(key=lambda f: len(f.arguments))
    return matches[0] if matches else None


def _no_function(catalog: Catalog, name: str, arguments: set[str]) -> ApiError:
    listed = ", ".join(sorted(arguments))
    searched = f"with parameters {listed}" if arguments else "without parameters"
    hint = None
    for candidate in catalog.functions.get(name, []):
        names = ", ".join(arg.name for arg in candidate.arguments)
        hint = f"Perhaps you meant to call the function {SCHEMA}.{name}({names})"
        break
    else:
        close = difflib.get_close_matches(name, list(catalog.functions), n=1)
        if close:
            hint = f"Perhaps you meant to call the function {SCHEMA}.{close[0]}"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {SCHEMA}.{name}({listed}) in the schema cache",
        details=f"Searched for the function {SCHEMA}.{name} {searched} or with a single unnamed "
        "json/jsonb parameter, but no matches were found in the schema cache.",
        hint=hint,
    )


def provide_schema_cache(state: State) -> SchemaCache:
    cache = state.get("pgrst_schema_cache")
    if cache is None:
        cache = SchemaCache()
        state["pgrst_schema_cache"] = cache
    assert isinstance(cache, SchemaCache)
    return cache


# --- request headers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """What the request asks of the answer: one object or an array, nulls stripped, a count."""

    single: bool = False
    strip_nulls: bool = False
    count: bool = False


def _check_profile(request: Request[Any, Any, Any]) -> None:
    """Only `public` is exposed: any other Accept-Profile (reads) or Content-Profile (writes)
    is a 406."""
    header = "accept-profile" if request.method in READ_METHODS else "content-profile"
    profile = request.headers.get(header, "").strip()
    if profile and profile != SCHEMA:
        raise ApiError(406, "PGRST106", f"The schema must be one of the following: {SCHEMA}")


def _wanted(request: Request[Any, Any, Any]) -> Wanted:
    prefer = request.headers.get("prefer", "")
    preferences = {p.strip().lower() for p in prefer.split(",")}
    count = bool(preferences & {"count=exact", "count=planned", "count=estimated"})
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return Wanted(count=count)
    for media_range in accept.split(","):
        media, *raw_params = (part.strip().lower() for part in media_range.split(";"))
        params = {p.partition("=")[0].strip(): p.partition("=")[2].strip() for p in raw_params}
        stripped = params.get("nulls") == "stripped"
        if media in ("*/*", "application/*", "application/json"):
            return Wanted(count=count)
        if media in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
            return Wanted(single=True, strip_nulls=stripped, count=count)
        if media == "application/vnd.pgrst.array+json":
            return Wanted(strip_nulls=stripped, count=count)
    raise ApiError(406, "PGRST107", f"None of these media types are available: {accept}")


# --- running one statement --------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: str | None
    media_type: str = JSON
    content_range: str | None = None


async def _read_rows(
    db: Database,
    claims: Claims,
    request: Request[Any, Any, Any],
    path: str,
    source: pgrst_sql.Source,
    query: ReadQuery,
    wanted: Wanted,
    *,
    read_only: bool,
    args: str | None = None,
    one_object: bool = False,
    change: "Change | None" = None,
    function: str | None = None,
) -> Answer:
    """The page of rows a view or a function (named `function`) gives (at most the row cap),
    shaped as PostgREST shapes it."""
    params = Params()
    single = wanted.single or one_object
    head_only = request.method == "HEAD"
    statement = pgrst_sql.read_statement(
        source,
        query,
        params,
        count=wanted.count,
        single=single,
        strip_nulls=wanted.strip_nulls,
        max_rows=_max_rows(request),
        with_body=not head_only,
    )
    if args is not None:
        params.values["args"] = args

    async def run(conn: Conn) -> tuple[dict[str, Any], int, int]:
        row = await (await conn.execute(statement, params.values)).fetchone()
        assert row is not None
        rows: int = row["page_count"]
        total: int | None = row["total"]
        if wanted.single and rows != 1:
            raise ApiError(
                406,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
                details=f"The result contains {rows} rows",
            )
        return row, rows, _range_status(query.offset, rows, total)

    row, rows, status = await _in_transaction(
        db, claims, request, path, run, read_only=read_only, change=change, function=function
    )
    total: int | None = row["total"]
    lower = query.offset
    shown = f"{lower}-{lower + rows - 1}" if rows else "*"
    content_range = f"{shown}/{total if total is not None else '*'}"
    body = None if head_only else (row["body"] if row["body"] is not None else "null")
    return Answer(status, body, OBJECT if wanted.single else JSON, content_range)


def _max_rows(request: Request[Any, Any, Any]) -> int:
    """The node's row cap: the most rows one answer holds."""
    max_rows: int = request.app.state.config.max_rows
    return max_rows


def _range_status(lower: int, rows: int, total: int | None) -> int:
    """PostgREST's rangeStatus: 416 past the end, 206 for part of a counted result, else 200."""
    if total is None:
        return 200
    if lower > total:
        raise ApiError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            details=f"An offset of {lower} was requested, but there are only {total} rows.",
        )
    if rows < total:
        return 206
    return 200


@dataclass(frozen=True)
class Change:
    """A call that changes state, run through money_calls.py."""

    calls: MoneyCalls
    function: str
    key: str | None = None
    key_source: KeySource = "none"
    placements: Placements | None = None  # for place_wager: gathered per market


def _money_call(
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


async def _in_transaction(
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
    return await change.calls.run(_money_call(change, claims, request, path, run))


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


# place_wager's arguments, when every one is plain, make a wager of a batch (placements.py)
_PLACEMENT = frozenset({"market_id", "outcome_id", "stake", "expected_odds", KEY_ARGUMENT})
_BIGINT = range(-(2**63), 2**63)


def _placement(
    function: Function, claims: Claims, names: list[str], text: str
) -> tuple[int, dict[str, Any]] | None:
    """A signed-in caller's place_wager as a market and its wager of a batch (placements.py),
    when its arguments are plain: whole numbers that fit a bigint, odds that are a number, a key
    that is text. Anything else (and any other role) is called alone, so that PostgreSQL answers
    it exactly as before."""
    if function.name != "place_wager" or claims.get("role") != "authenticated":
        return None
    if not set(names) <= _PLACEMENT:
        return None
    values = json.loads(text, parse_float=Decimal)

    def whole(value: Any) -> bool:
        return type(value) is int and value in _BIGINT

    market, odds, key = (values.get(name) for name in ("market_id", "expected_odds", KEY_ARGUMENT))
    if not whole(market) or not isinstance(key, str):
        return None
    if not all(values.get(name) is None or whole(values[name]) for name in ("outcome_id", "stake")):
        return None
    if odds is not None and not (whole(odds) or isinstance(odds, Decimal)):
        return None
    return market, {
        "outcome_id": values.get("outcome_id"),
        "stake": values.get("stake"),
        "expected_odds": None if odds is None else str(odds),
        KEY_ARGUMENT: key,
    }


def _given_key(text: str) -> str | None:
    """The body's idempotency key as the engine reads it (text), or None when it has none."""
    given = json.loads(text, parse_float=Decimal).get(KEY_ARGUMENT)
    if given is None:
        return None
    return given if isinstance(given, str) else json.dumps(given)


def _with_key(text: str, names: list[str]) -> tuple[str, list[str], str, KeySource]:
    """The arguments of a call of a function whose idempotency key is optional, with one: the
    body's (any JSON value but null), or a new one added to the body's text (after any `null`
    one, so that it wins)."""
    given = _given_key(text)
    if given is not None:
        return text, names, given, "client"
    key, source = idempotency_key(None)
    entry = f"{json.dumps(KEY_ARGUMENT)}: {json.dumps(key)}"
    body = text.strip()[:-1].rstrip()  # the object without its closing brace
    text = f"{body}, {entry}}}" if names else f"{{{entry}}}"
    return text, names if KEY_ARGUMENT in names else [*names, KEY_ARGUMENT], key, source


async def _call(
    db: Database,
    claims: Claims,
    request: Request[Any, Any, Any],
    function: Function,
    arguments: dict[str, Any] | str,
    names: list[str],
    calls: MoneyCalls | None = None,
    placements: Placements | None = None,
) -> Answer:
    """Call a function with named arguments (a JSON object, or its exact text) and shape what
    it returns. On GET and HEAD the query keys that are arguments are not filters. A call that
    changes state (POST of a volatile function) is a money call, with a key when it takes one."""
    in_query = set(names) if request.method in READ_METHODS else set()
    query = parse_read_query(
        (k, v) for k, v in request.query_params.multi_items() if k not in in_query
    )
    wanted = _wanted(request)
    read_only = request.method in READ_METHODS or function.volatility != "v"
    path = f"/rpc/{function.name}"
    change = None
    if not read_only:
        assert calls is not None and isinstance(arguments, str)
        change = Change(calls, function.name)
        key_argument = next((a for a in function.arguments if a.name == KEY_ARGUMENT), None)
        if key_argument is not None and key_argument.has_default:
            arguments, names, key, source = _with_key(arguments, names)
            change = Change(calls, function.name, key, source, placements)
        elif key_argument is not None:
            # a function whose key is required (credit_wallet) gets the caller's own, or none:
            # a key made here would turn the caller's retry into a second execution
            given = _given_key(arguments)
            if given is not None:
                change = Change(calls, function.name, given, "client")
    args = arguments if isinstance(arguments, str) else pgrst_sql.call_arguments(arguments)
    if function.returns == "rows":
        return await _read_rows(
            db,
            claims,
            request,
            path,
            pgrst_sql.call_source(function, names),
            query,
            wanted,
            read_only=read_only,
            args=args if names else None,
            one_object=not function.returns_set,
            change=change,
            function=function.name,
        )
    if query.shapes_rows:
        raise bad_query(
            f"{SCHEMA}.{function.name} returns no rows to select, filter, order or page",
            "select, filters, order, limit and offset apply to functions that return rows.",
        )
    statement = pgrst_sql.call_statement(function, names, _max_rows(request))
    values = {"args": args} if names else {}

    async def run(conn: Conn) -> dict[str, Any] | None:
        return await (await conn.execute(statement, values)).fetchone()

    # a place_wager with plain arguments is gathered with others on its market (placements.py)
    gathering = change.placements if change is not None else None
    placement = (
        _placement(function, claims, names, arguments)
        if gathering is not None and isinstance(arguments, str)
        else None
    )
    if change is not None and gathering is not None and placement is not None:
        market, wager = placement
        call = _money_call(change, claims, request, path, run)
        row = await gathering.place(Placement(call, market, wager, answer=_body))
    else:
        row = await _in_transaction(
            db,
            claims,
            request,
            path,
            run,
            read_only=read_only,
            change=change,
            function=function.name,
        )
    body = "null" if row is None or function.returns == "void" else row["body"] or "null"
    return Answer(200, None if request.method == "HEAD" else body)


def _body(text: str) -> dict[str, Any]:
    """A call's row from its result's JSON text (a scalar call's statement answers `body`)."""
    return {"body": text}


def _respond(answer: Answer) -> Response[Any]:
    headers = {"Content-Range": answer.content_range} if answer.content_range else {}
    return Response(
        content=(answer.body or "").encode(),
        status_code=answer.status,
        media_type=answer.media_type,
        headers=headers,
    )


def _respond_head(answer: Answer) -> Response[None]:
    headers = {"Content-Range": answer.content_range} if answer.content_range else {}
    return Response(
        content=None, status_code=answer.status, media_type=answer.media_type, headers=headers
    )


# --- RPC arguments ----------------------------------------------------------------------------


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _body_arguments(body: bytes) -> tuple[str, dict[str, Any]]:
    """The JSON object of a POST call: its exact text (numbers keep every digit) and its values
    (numbers with a fraction as Decimals). Its depth was checked when the body was read
    (request_limits.BoundedRequest)."""
    if not body.strip():
        return "{}", {}
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400,
            "PGRST102",
            "Empty or invalid json",
            details=str(exc),
        ) from exc
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "PGRST102",
            "The request body must be a JSON object of named arguments",
            details=f"got a JSON {type(value).__name__.replace('dict', 'object')}",
        )
    return text, value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _numbers_only(value: Any, array: bool) -> bool:
    """A JSON number or null; for an array argument, arrays of them (any depth)."""
    if array and isinstance(value, list):
        return all(_numbers_only(item, array) for item in value)
    return _json_type(value) in ("number", "null")


# A number in a query string: digits, an optional minus and fraction; no spaces, signs, hex,
# underscores or exponents, which PostgreSQL's input functions would otherwise read. An array
# argument may also be an array literal of them, `{4,5}` (NULL for a null element).
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ARRAY_LITERAL_PARTS = re.compile(r"[{},]")


def _plain_number(text: str, array: bool) -> bool:
    if PLAIN_DECIMAL.fullmatch(text):
        return True
    if not array or not text.startswith("{"):
        return False
    items = [item for item in _ARRAY_LITERAL_PARTS.split(text) if item]
    return all(PLAIN_DECIMAL.fullmatch(item) or item.upper() == "NULL" for item in items)


def _check_numbers(function: Function, values: dict[str, Any], *, in_query: bool) -> None:
    """An argument whose type is a number must be a JSON number in a body, and plain digits in a
    query string (where every value is text): PostgreSQL's input functions would read more
    (`"  1000 "`, and from PostgreSQL 16 `"0x10"` and `"1_000"`), so anything else is refused
    at the edge, with the code PostgreSQL gives a value it cannot read (22P02, as for `"abc"`)."""
    for argument in function.arguments:
        if not argument.is_numeric or argument.name not in values:
            continue
        value = values[argument.name]
        if in_query:
            texts = value if isinstance(value, list) else [value]
            wrong = [text for text in texts if not _plain_number(text, argument.is_array)]
            if not wrong:
                continue
            expected, got = "a plain decimal number", repr(wrong[0][:40])
            hint = "Write digits, with an optional - and fraction: no spaces, +, hex or exponent."
        else:
            if _numbers_only(value, argument.is_array):
                continue
            expected = "an array of JSON numbers" if argument.is_array else "a JSON number"
            got = f"a JSON {_json_type(value)}"
            hint = f'Send {argument.name} as a JSON number: 1000, not "1000".'
        raise ApiError(
            400,
            "22P02",
            f'Argument "{argument.name}" must be {expected}',
            details=f"{SCHEMA}.{function.name} takes {argument.name} as "
            f"{argument.type_name.lstrip('_')}; got {got}",
            hint=hint,
        )


async def _query_arguments(
    cache: SchemaCache, db: Database, request: Request[Any, Any, Any], name: str
) -> tuple[dict[str, Any], list[str]]:
    """The named arguments of a GET/HEAD call: the query keys that are argument names of `name`
    (the other keys filter the rows it returns). Repeated keys make an array argument."""
    overloads = await cache.overloads(db, name)
    by_name = {arg.name: arg for f in overloads for arg in f.arguments if arg.name}
    values: dict[str, Any] = {}
    for key, raw in request.query_params.multi_items():
        if key in RESERVED or key in LOGIC_KEYS or key not in by_name:
            continue
        argument = by_name[key]
        value: Any = raw
        if argument.is_json:
            message = too_deep(json_depth(raw.encode()), f'Argument "{key}"')
            if message is not None:
                raise bad_query(message)
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        if key in values:
            if not argument.type_name.startswith("_"):
                raise bad_query(f'argument "{key}" is given more than once')
            previous = values[key]
            values[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[key] = value
    return values, list(values)


# --- handlers ---------------------------------------------------------------------------------


class PostgrestErrorBody(msgspec.Struct):
    """PostgREST's error body; every key is always present."""

    code: str
    message: str
    details: Any
    hint: str | None


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=PostgrestErrorBody,
            description="PostgREST error body {code, message, details, hint}",
        )
        for status in statuses
    }


PARTIAL = {
    206: ResponseSpec(
        data_container=list[dict[str, Any]],
        description="Part of a counted result (Prefer: count=exact with limit or offset)",
    )
}
READ_ERRORS = PARTIAL | _errors(400, 401, 403, 404, 406, 416, 429, 503)
CALL_ERRORS = PARTIAL | _errors(400, 401, 402, 403, 404, 405, 406, 409, 416, 422, 429, 503)
WRITE_ERRORS = _errors(400, 401, 403, 404, 406, 429, 503)

SELECT = QueryParameter(
    name="select", required=False, description="Columns: *, a,b, alias:col, col::text"
)
ORDER = QueryParameter(
    name="order", required=False, description="col.asc|desc[.nullsfirst|.nullslast],..."
)
# `minimum` by hand: this Litestar leaves a falsy `ge=0` out of the schema
WHOLE = {"minimum": 0, "maximum": 2**53}
LIMIT = QueryParameter(
    name="limit", required=False, ge=0, schema_extra=WHOLE, description="At most n rows"
)
OFFSET = QueryParameter(
    name="offset", required=False, ge=0, schema_extra=WHOLE, description="Skip n rows"
)
PREFER = HeaderParameter(
    name="Prefer", required=False, description="count=exact puts the total in Content-Range"
)
PUBLIC_ONLY = {"enum": [SCHEMA]}
ACCEPT_PROFILE = HeaderParameter(
    name="Accept-Profile", required=False, schema_extra=PUBLIC_ONLY, description="Only public"
)
CONTENT_PROFILE = HeaderParameter(
    name="Content-Profile", required=False, schema_extra=PUBLIC_ONLY, description="Only public"
)


@dataclass
class ArgumentsBody(Operation):
    """The OpenAPI operation of `POST /rpc/{fn}`: a JSON object of named arguments."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, additional_properties=True)
                )
            },
            description='The function\'s arguments by name, e.g. {"amount": 500}',
            required=False,
        )


@get("/{name:str}", summary="Read a view", responses=READ_ERRORS)
async def read_view(
    request: Request[Any, Any, Any],
    name: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
    select: Annotated[str | None, SELECT] = None,
    order: Annotated[str | None, ORDER] = None,
    limit: Annotated[int | None, LIMIT] = None,
    offset: Annotated[int | None, OFFSET] = None,
    prefer: Annotated[str | None, PREFER] = None,
    accept_profile: Annotated[str | None, ACCEPT_PROFILE] = None,
) -> Response[Any]:
    """Rows of a view of `public` that the caller may see (RLS decides), with PostgREST's
    select, filters (col=eq.1, col=in.(a,b), col=is.null, not., or=(..)), order, limit, offset;
    `Prefer: count=exact` gives the total in Content-Range."""
    return _respond(await _read_view(request, name, db, tokens, schema_cache))


@head("/{name:str}", summary="Count rows of a view", responses=READ_ERRORS)
async def head_view(
    request: Request[Any, Any, Any],
    name: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
    prefer: Annotated[str | None, PREFER] = None,
    accept_profile: Annotated[str | None, ACCEPT_PROFILE] = None,
) -> Response[None]:
    """As GET without the body: Content-Range carries the count (with Prefer: count=exact)."""
    return _respond_head(await _read_view(request, name, db, tokens, schema_cache))


async def _read_view(
    request: Request[Any, Any, Any],
    name: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
) -> Answer:
    claims = caller_claims(request, tokens)
    _check_profile(request)
    relation = await schema_cache.relation(db, name)
    wanted = _wanted(request)
    query = parse_read_query(request.query_params.multi_items())
    relation = await schema_cache.relation(db, name, query.columns())
    return await _read_rows(
        db,
        claims,
        request,
        f"/{name}",
        pgrst_sql.relation_source(relation),
        query,
        wanted,
        read_only=True,
    )


@route(
    "/{name:str}",
    http_method=["POST", "PATCH", "PUT", "DELETE"],
    status_code=200,
    summary="Write a view or table (refused)",
    responses=WRITE_ERRORS,
)
async def write_view(
    request: Request[Any, Any, Any],
    name: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
) -> Response[Any]:
    """Refused for every caller, as PostgREST refuses a role without write grants: 42501
    (401 for anon, 403 otherwise). Money moves only through the functions under /rpc."""
    claims = caller_claims(request, tokens)
    _check_profile(request)
    relation = await schema_cache.relation(db, name)
    raise ApiError(
        401 if claims["role"] == "anon" else 403,
        "42501",
        f"permission denied for {relation.noun} {relation.name}",
        hint="Views and tables are read-only; call the functions under /rest/v1/rpc to write.",
    )


@post(
    "/rpc/{fn:str}",
    status_code=200,
    summary="Call a function",
    responses=CALL_ERRORS,
    operation_class=ArgumentsBody,
)
async def call_post(
    request: Request[Any, Any, Any],
    fn: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
    money_calls: MoneyCalls,
    placements: Placements,
    prefer: Annotated[str | None, PREFER] = None,
    content_profile: Annotated[str | None, CONTENT_PROFILE] = None,
) -> Response[Any]:
    """Call a function of `public` with a JSON object of named arguments. A scalar result comes
    back as JSON, rows as an array (filter them like a view), void as null. A volatile function
    with an `idempotency_key` argument gets a key made by the server when the body has none;
    a 503 `outcome_unknown` names it (retry with it: the call acts at most once)."""
    claims = caller_claims(request, tokens)
    _check_profile(request)
    text, values = _body_arguments(await request.body())
    function = await schema_cache.function(db, fn, set(values))
    _check_numbers(function, values, in_query=False)
    return _respond(
        await _call(db, claims, request, function, text, list(values), money_calls, placements)
    )


@get("/rpc/{fn:str}", summary="Call a stable function", responses=CALL_ERRORS)
async def call_get(
    request: Request[Any, Any, Any],
    fn: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
    prefer: Annotated[str | None, PREFER] = None,
    accept_profile: Annotated[str | None, ACCEPT_PROFILE] = None,
) -> Response[Any]:
    """Call a STABLE or IMMUTABLE function with its arguments in the query string (read only);
    a volatile function answers 405."""
    return _respond(await _call_read_only(request, fn, db, tokens, schema_cache))


@head("/rpc/{fn:str}", summary="Call a stable function, headers only", responses=CALL_ERRORS)
async def call_head(
    request: Request[Any, Any, Any],
    fn: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
    prefer: Annotated[str | None, PREFER] = None,
    accept_profile: Annotated[str | None, ACCEPT_PROFILE] = None,
) -> Response[None]:
    """As GET without the body."""
    return _respond_head(await _call_read_only(request, fn, db, tokens, schema_cache))


async def _call_read_only(
    request: Request[Any, Any, Any],
    fn: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
) -> Answer:
    claims = caller_claims(request, tokens)
    _check_profile(request)
    values, names = await _query_arguments(schema_cache, db, request, fn)
    function = await schema_cache.function(db, fn, set(names))
    _check_numbers(function, values, in_query=True)
    if function.volatility == "v":
        raise ApiError(
            405,
            "PGRST101",
            f"The function {SCHEMA}.{fn} is volatile: call it with POST",
            details="GET and HEAD run read only and may call only STABLE or IMMUTABLE functions.",
            headers={"Allow": "POST"},
        )
    return await _call(db, claims, request, function, values, names)


@route(
    "/rpc/{fn:str}",
    http_method=["PATCH", "PUT", "DELETE"],
    status_code=200,
    include_in_schema=False,
)
async def call_other(fn: str) -> Response[Any]:
    """Functions take only GET, HEAD and POST: 405 PGRST101, as PostgREST answers."""
    raise ApiError(
        405,
        "PGRST101",
        "For functions, only GET and POST verbs are allowed",
        headers={"Allow": "GET, HEAD, POST"},
    )


def _allow(methods: str) -> Response[None]:
    return Response(content=None, status_code=204, headers={"Allow": methods})


@route("/{name:str}", http_method="OPTIONS", status_code=204, include_in_schema=False)
async def view_options(name: str) -> Response[None]:
    """The methods of a view's path (writes are answered, with a refusal)."""
    return _allow("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")


@route("/rpc/{fn:str}", http_method="OPTIONS", status_code=204, include_in_schema=False)
async def call_options(fn: str) -> Response[None]:
    """The methods of a function's path."""
    return _allow("GET, HEAD, POST, OPTIONS")


# --- the one error handler --------------------------------------------------------------------


def _role(request: Request[Any, Any, Any]) -> str:
    role = getattr(request.state, "role", None)
    return role if isinstance(role, str) else "anon"


def _as_api_error(request: Request[Any, Any, Any], exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OutcomeUnknown):
        return exc.as_api_error()
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            if exc.sqlstate in STALE_SQLSTATES:
                provide_schema_cache(request.app.state).invalidate()
            return from_database(exc, _role(request))
        if isinstance(exc, PoolTimeout):
            # admitted to its lane, yet no connection: the database is down or failing over
            return ApiError(
                503,
                "PGRST003",
                "Timed out acquiring connection from connection pool.",
                headers={"Retry-After": "1"},
            )
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return ApiError(503, "PGRST001", "Database client error. Retrying the connection.")
        return ApiError(400, "22000", str(exc))
    if isinstance(exc, ValidationException):
        code = "PGRST100" if request.method in READ_METHODS else "PGRST102"
        return ApiError(400, code, str(exc.detail), details=exc.extra)
    if isinstance(exc, HTTPException):
        code = "PGRST102" if exc.status_code in (400, 408, 413, 415) else str(exc.status_code)
        return ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
    raise exc


def _error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    error = _as_api_error(request, exc)
    body = {
        "code": error.code,
        "message": error.message,
        "details": error.details,
        "hint": error.hint,
    }
    return Response(
        content=json.dumps(body, default=str).encode(),
        status_code=error.status,
        media_type=JSON,
        headers=error.headers,
    )


router = Router(
    path="/rest/v1",
    # the OPTIONS handlers first: Litestar otherwise makes one per path from the first handler
    # registered, whose Allow lists that handler's methods only
    route_handlers=[
        view_options,
        call_options,
        read_view,
        head_view,
        write_view,
        call_post,
        call_get,
        call_head,
        call_other,
    ],
    dependencies={
        "db": Provide(provide_db, sync_to_thread=False),
        "tokens": Provide(provide_tokens, sync_to_thread=False),
        "schema_cache": Provide(provide_schema_cache, sync_to_thread=False),
        "money_calls": Provide(provide_money_calls, sync_to_thread=False),
        "placements": Provide(provide_placements, sync_to_thread=False),
    },
    exception_handlers={
        ApiError: _error_response,
        OutcomeUnknown: _error_response,
        psycopg.Error: _error_response,
        HTTPException: _error_response,
    },
    tags=["rest"],
)
