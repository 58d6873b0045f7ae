"""Calling a function of `public`: a read when it is STABLE or IMMUTABLE (or called by GET or
HEAD), else a money call (transactions.py). Rows a function returns are read like a view's
(reads.py); a scalar or void comes back as one JSON value.

A function with an optional `idempotency_key` argument (place_wager, deposit, withdraw) always
gets one: the body's, or one made by the server and added to the call; one whose key is required
(credit_wallet) gets only the caller's, so that a missing or null key is refused by the engine,
never replaced. A signed-in caller's place_wager with plain arguments is gathered with others on
its market (placements.py).
"""

import json
from decimal import Decimal
from typing import Any

from litestar import Request

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.money_calls import KeySource, MoneyCalls, idempotency_key
from wagerbase.placements import Placement, Placements
from wagerbase.surfaces.postgrest.catalog import SCHEMA, Function
from wagerbase.surfaces.postgrest.grammar import bad_query
from wagerbase.surfaces.postgrest.query import parse_read_query
from wagerbase.surfaces.postgrest.reads import Answer, max_rows, minimal, read_rows
from wagerbase.surfaces.postgrest.reads import wanted as wanted_of
from wagerbase.surfaces.postgrest.statements import call_arguments, call_source, call_statement
from wagerbase.surfaces.postgrest.transactions import (
    READ_METHODS,
    Change,
    in_transaction,
    money_call,
)
from wagerbase.tokens import Claims

KEY_ARGUMENT = "idempotency_key"
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


async def call(
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
    wanted = wanted_of(request)
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
    args = arguments if isinstance(arguments, str) else call_arguments(arguments)
    if function.returns == "rows":
        return await read_rows(
            db,
            claims,
            request,
            path,
            call_source(function, names),
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
    if wanted.csv:
        raise ApiError(
            406,
            "PGRST107",
            f"None of these media types are available: {request.headers.get('accept')}",
            details=f"{SCHEMA}.{function.name} returns no rows: its result is JSON only.",
        )
    statement = call_statement(function, names, max_rows(request))
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
        call = money_call(change, claims, request, path, run)
        row = await gathering.place(Placement(call, market, wager, answer=_body))
    else:
        row = await in_transaction(
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
    answer = Answer(200, None if request.method == "HEAD" else body)
    return minimal(answer) if wanted.minimal else answer


def _body(text: str) -> dict[str, Any]:
    """A call's row from its result's JSON text (a scalar call's statement answers `body`)."""
    return {"body": text}
