"""/rest/v1: the PostgREST subset the official Supabase clients use (SUPABASE_COMPAT.md 3 and 4).

- `GET|HEAD /rest/v1/{view}`: a view (or table) of schema `public`, with `select` (and the
  resources it embeds: embedding.py), filters, `order`, `limit`, `offset` (grammar.py,
  query.py), `Prefer: count=exact` and `Content-Range`, and `Accept:
  application/vnd.pgrst.object+json` for one object, `text/csv` for CSV.
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
cancelled on the server (http/common.py). A POST of a volatile function changes state: it goes
through money_calls.py (calls.py, transactions.py; docs/rest.md).

The schema cache (catalog.py) is kept per process and read again when a request names something
it does not hold.

Limits (docs/rest.md, "Limits"): a read answers at most the node's row cap (`Config.max_rows`,
`WAGERBASE_MAX_ROWS`), the query grammar and bodies are bounded (request_limits.py), and an
argument whose type is a number must be a JSON number in a POST body and a plain decimal in a
query string.
"""

from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from litestar import Request, Response, Router, get, head, post, route
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import HeaderParameter, QueryParameter

from wagerbase.database import Database
from wagerbase.errors import ApiError, OutcomeUnknown
from wagerbase.http.common import caller_claims, dependencies
from wagerbase.money_calls import MoneyCalls
from wagerbase.placements import Placements
from wagerbase.surfaces.postgrest.arguments import body_arguments, check_numbers, query_arguments
from wagerbase.surfaces.postgrest.calls import call
from wagerbase.surfaces.postgrest.catalog import SCHEMA, SchemaCache, provide_schema_cache
from wagerbase.surfaces.postgrest.errors import error_response, error_specs
from wagerbase.surfaces.postgrest.query import parse_read_query
from wagerbase.surfaces.postgrest.reads import (
    Answer,
    check_profile,
    read_rows,
    respond,
    respond_head,
)
from wagerbase.surfaces.postgrest.reads import wanted as wanted_of
from wagerbase.surfaces.postgrest.statements import relation_source
from wagerbase.tokens import Tokens

PARTIAL = {
    206: ResponseSpec(
        data_container=list[dict[str, Any]],
        description="Part of a counted result (Prefer: count=exact with limit or offset)",
    )
}
# 300: an embedded resource that more than one relationship could mean (PGRST201), as PostgREST
READ_ERRORS = PARTIAL | error_specs(300, 400, 401, 403, 404, 406, 416, 429, 503)
MINIMAL = {204: ResponseSpec(data_container=None, description="Prefer: return=minimal")}
CALL_ERRORS = (
    PARTIAL | MINIMAL | error_specs(300, 400, 401, 402, 403, 404, 405, 406, 409, 416, 422, 429, 503)
)
WRITE_ERRORS = error_specs(400, 401, 403, 404, 406, 429, 503)

SELECT = QueryParameter(
    name="select",
    required=False,
    description="Columns: *, a,b, alias:col, col::text; embedded resources: "
    "view(cols), alias:view!hint!inner(cols)",
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
    name="Prefer",
    required=False,
    description="count=exact|planned|estimated puts the total in Content-Range; "
    "return=minimal (calls) answers 204 without a body",
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
    select (embedded resources too: markets?select=*,outcomes!market_id(*)), filters (col=eq.1,
    col=in.(a,b), col=is.null, col=fts(english).word, not., or=(..)), order, limit, offset;
    `Prefer: count=exact` gives the total in Content-Range; `Accept: text/csv` answers CSV."""
    return respond(await _read_view(request, name, db, tokens, schema_cache))


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
    return respond_head(await _read_view(request, name, db, tokens, schema_cache))


async def _read_view(
    request: Request[Any, Any, Any],
    name: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
) -> Answer:
    claims = caller_claims(request, tokens)
    check_profile(request)
    relation = await schema_cache.relation(db, name)
    wanted = wanted_of(request)
    query = parse_read_query(request.query_params.multi_items())
    relation = await schema_cache.relation(db, name, query.columns())
    return await read_rows(
        db,
        claims,
        request,
        f"/{name}",
        relation_source(relation),
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
    check_profile(request)
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
    check_profile(request)
    text, values = body_arguments(await request.body())
    function = await schema_cache.function(db, fn, set(values))
    check_numbers(function, values, in_query=False)
    return respond(
        await call(db, claims, request, function, text, list(values), money_calls, placements)
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
    return respond(await _call_read_only(request, fn, db, tokens, schema_cache))


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
    return respond_head(await _call_read_only(request, fn, db, tokens, schema_cache))


async def _call_read_only(
    request: Request[Any, Any, Any],
    fn: str,
    db: Database,
    tokens: Tokens,
    schema_cache: SchemaCache,
) -> Answer:
    claims = caller_claims(request, tokens)
    check_profile(request)
    values, names = await query_arguments(schema_cache, db, request, fn)
    function = await schema_cache.function(db, fn, set(names))
    check_numbers(function, values, in_query=True)
    if function.volatility == "v":
        raise ApiError(
            405,
            "PGRST101",
            f"The function {SCHEMA}.{fn} is volatile: call it with POST",
            details="GET and HEAD run read only and may call only STABLE or IMMUTABLE functions.",
            headers={"Allow": "POST"},
        )
    return await call(db, claims, request, function, values, names)


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
    dependencies=dependencies(
        "db", "tokens", "money_calls", "placements", schema_cache=provide_schema_cache
    ),
    exception_handlers={
        ApiError: error_response,
        OutcomeUnknown: error_response,
        psycopg.Error: error_response,
        HTTPException: error_response,
    },
    tags=["rest"],
)
