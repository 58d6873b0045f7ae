"""A read's answer: what the request's headers ask of it (one object or an array, nulls
stripped, a count; the profile), its one statement in the caller's transaction (with
the resources it embeds: embeds.py, embedding.py), and the answer as PostgREST shapes it
(`Content-Range`, 206 and 416 for a counted range, 406 for `.single()` of other than one row).
"""

from dataclasses import dataclass, replace
from typing import Any

from litestar import Request, Response

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.http.request_limits import EMBEDDED_ROWS_PER_PAGE
from wagerbase.surfaces.postgrest.catalog import SCHEMA, schema_cache
from wagerbase.surfaces.postgrest.compiler import Params
from wagerbase.surfaces.postgrest.embedding import embed_statement
from wagerbase.surfaces.postgrest.embeds import resolve_embeds
from wagerbase.surfaces.postgrest.query import ReadQuery
from wagerbase.surfaces.postgrest.statements import Body, Source, read_statement
from wagerbase.surfaces.postgrest.transactions import READ_METHODS, Change, in_transaction
from wagerbase.tokens import Claims

JSON = "application/json; charset=utf-8"
OBJECT = "application/vnd.pgrst.object+json; charset=utf-8"


@dataclass(frozen=True)
class Wanted:
    """What the request asks of the answer: one object or an array, nulls stripped, a count."""

    single: bool = False
    strip_nulls: bool = False
    count: bool = False


def check_profile(request: Request[Any, Any, Any]) -> None:
    """Only `public` is exposed: any other Accept-Profile (reads) or Content-Profile (writes)
    is a 406."""
    header = "accept-profile" if request.method in READ_METHODS else "content-profile"
    profile = request.headers.get(header, "").strip()
    if profile and profile != SCHEMA:
        raise ApiError(406, "PGRST106", f"The schema must be one of the following: {SCHEMA}")


def wanted(request: Request[Any, Any, Any]) -> Wanted:
    """The `Prefer` and `Accept` headers: `count=exact|planned|estimated` (each counts exactly),
    and the first media type of Accept this server makes."""
    prefer = request.headers.get("prefer", "")
    preferences = {p.strip().lower() for p in prefer.split(",")}
    count = bool(preferences & {"count=exact", "count=planned", "count=estimated"})
    found = _media(request.headers.get("accept", "").strip())
    return replace(found, count=count)


def _media(accept: str) -> Wanted:
    if not accept:
        return Wanted()
    for media_range in accept.split(","):
        media, *raw_params = (part.strip().lower() for part in media_range.split(";"))
        params = {p.partition("=")[0].strip(): p.partition("=")[2].strip() for p in raw_params}
        stripped = params.get("nulls") == "stripped"
        if media in ("*/*", "application/*", "application/json"):
            return Wanted()
        if media in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
            return Wanted(single=True, strip_nulls=stripped)
        if media == "application/vnd.pgrst.array+json":
            return Wanted(strip_nulls=stripped)
    raise ApiError(406, "PGRST107", f"None of these media types are available: {accept}")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str | None
    media_type: str = JSON
    content_range: str | None = None


async def read_rows(
    db: Database,
    claims: Claims,
    request: Request[Any, Any, Any],
    path: str,
    source: Source,
    query: ReadQuery,
    wanted: Wanted,
    *,
    read_only: bool,
    args: str | None = None,
    one_object: bool = False,
    change: Change | None = None,
    function: str | None = None,
) -> Answer:
    """The page of rows a view or a function (named `function`) gives (at most the row cap),
    with the resources it embeds, shaped as PostgREST shapes it."""
    params = Params()
    head_only = request.method == "HEAD"
    body: Body = "none" if head_only else "object" if wanted.single or one_object else "array"
    cap = max_rows(request)
    budget = EMBEDDED_ROWS_PER_PAGE * cap
    embeds = await resolve_embeds(schema_cache(db), db, source.owner, query)
    if embeds:
        statement = embed_statement(
            source,
            query,
            embeds,
            params,
            count=wanted.count,
            body=body,
            strip_nulls=wanted.strip_nulls,
            max_rows=cap,
            budget=budget,
        )
    else:
        statement = read_statement(
            source,
            query,
            params,
            count=wanted.count,
            body=body,
            strip_nulls=wanted.strip_nulls,
            max_rows=cap,
        )
    if args is not None:
        params.values["args"] = args

    async def run(conn: Conn) -> tuple[dict[str, Any], int, int]:
        row = await (await conn.execute(statement, params.values)).fetchone()
        assert row is not None
        if row["embedded"] > budget:
            raise _over_budget(budget, cap)
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

    row, rows, status = await in_transaction(
        db, claims, request, path, run, read_only=read_only, change=change, function=function
    )
    total: int | None = row["total"]
    lower = query.offset
    span = f"{lower}-{lower + rows - 1}" if rows else "*"
    content_range = f"{span}/{total if total is not None else '*'}"
    shown = None if body == "none" else (row["body"] if row["body"] is not None else "null")
    return Answer(status, shown, OBJECT if wanted.single else JSON, content_range)


def _over_budget(budget: int, cap: int) -> ApiError:
    return ApiError(
        400,
        "PGRST100",
        f"An answer may hold at most {budget} embedded rows",
        details=f"Embedded resources, every level together, may add at most "
        f"{EMBEDDED_ROWS_PER_PAGE} rows for each row of the node's row cap ({cap}); this read "
        "would add more.",
        hint="Read fewer rows at a time (limit), or fewer embedded ones (label.limit=n, or "
        "filters on them: label.column=eq.x).",
    )


def max_rows(request: Request[Any, Any, Any]) -> int:
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


def _headers(answer: Answer) -> dict[str, str]:
    return {"Content-Range": answer.content_range} if answer.content_range else {}


def respond(answer: Answer) -> Response[Any]:
    return Response(
        content=(answer.body or "").encode(),
        status_code=answer.status,
        media_type=answer.media_type,
        headers=_headers(answer),
    )


def respond_head(answer: Answer) -> Response[None]:
    headers = _headers(answer)
    return Response(
        content=None, status_code=answer.status, media_type=answer.media_type, headers=headers
    )
