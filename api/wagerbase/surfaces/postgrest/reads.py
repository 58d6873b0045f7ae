"""A read's answer: what the request's headers ask of it (one object, an array or CSV, nulls
stripped, a count, no body; the profile), its one statement in the caller's transaction (with
the resources it embeds: embeds.py, embedding.py), and the answer as PostgREST shapes it
(`Content-Range`, 206 and 416 for a counted range, 406 for `.single()` of other than one row).
"""

from dataclasses import dataclass, field, replace
from typing import Any

from litestar import Request, Response

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.http.request_limits import EMBEDDED_ROWS_PER_PAGE
from wagerbase.surfaces.postgrest.catalog import SCHEMA, schema_cache
from wagerbase.surfaces.postgrest.compiler import Params, output_names
from wagerbase.surfaces.postgrest.embedding import embed_statement
from wagerbase.surfaces.postgrest.embeds import resolve_embeds
from wagerbase.surfaces.postgrest.query import ReadQuery
from wagerbase.surfaces.postgrest.statements import Body, Source, read_statement
from wagerbase.surfaces.postgrest.transactions import READ_METHODS, Change, in_transaction
from wagerbase.tokens import Claims

JSON = "application/json; charset=utf-8"
OBJECT = "application/vnd.pgrst.object+json; charset=utf-8"
CSV = "text/csv"  # Litestar adds `; charset=utf-8` to a text/* type


@dataclass(frozen=True)
class Wanted:
    """What the request asks of the answer: one object, an array or CSV, nulls stripped, a
    count; `minimal`: no body at all (`Prefer: return=minimal` on a call)."""

    single: bool = False
    strip_nulls: bool = False
    count: bool = False
    csv: bool = False
    minimal: bool = False


def check_profile(request: Request[Any, Any, Any]) -> None:
    """Only `public` is exposed: any other Accept-Profile (reads) or Content-Profile (writes)
    is a 406."""
    header = "accept-profile" if request.method in READ_METHODS else "content-profile"
    profile = request.headers.get(header, "").strip()
    if profile and profile != SCHEMA:
        raise ApiError(406, "PGRST106", f"The schema must be one of the following: {SCHEMA}")


def wanted(request: Request[Any, Any, Any]) -> Wanted:
    """The `Prefer` and `Accept` headers: `count=exact|planned|estimated` (each counts exactly),
    `return=minimal` (honoured on calls: a POST), and the first media type of Accept this server
    makes."""
    prefer = request.headers.get("prefer", "")
    preferences = {p.strip().lower() for p in prefer.split(",")}
    count = bool(preferences & {"count=exact", "count=planned", "count=estimated"})
    minimal = "return=minimal" in preferences and request.method == "POST"
    found = _media(request.headers.get("accept", "").strip())
    return replace(found, count=count, minimal=minimal)


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
        if media == "text/csv":
            return Wanted(csv=True)
    raise ApiError(406, "PGRST107", f"None of these media types are available: {accept}")


@dataclass(frozen=True)
class Answer:
    status: int
    body: str | None
    media_type: str = JSON
    content_range: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def minimal(answer: Answer) -> Answer:
    """`Prefer: return=minimal`: the same outcome, 204 and no body."""
    return Answer(204, None, answer.media_type, answer.content_range, PREFERENCE_MINIMAL)


PREFERENCE_MINIMAL = {"Preference-Applied": "return=minimal"}


def csv_header(names: list[str]) -> str:
    """The header line of a CSV body: the names, quoted as the values are (statements.py)."""

    def quoted(name: str) -> str:
        if name == "" or any(char in name for char in '",\n\r'):
            return '"' + name.replace('"', '""') + '"'
        return name

    return ",".join(quoted(name) for name in names)


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
    body: Body = (
        "none"
        if head_only or wanted.minimal
        else "csv"
        if wanted.csv
        else "object"
        if wanted.single or one_object
        else "array"
    )
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
    if body == "csv":
        names = output_names(query, source.columns)
        names += [node.embed.label for node in embeds if node.embed.shown]
        lines = row["body"]
        text = csv_header(names) + ("" if lines is None else "\n" + lines)
        return Answer(status, text, CSV, content_range)
    shown = None if body == "none" else (row["body"] if row["body"] is not None else "null")
    answer = Answer(status, shown, OBJECT if wanted.single else JSON, content_range)
    return minimal(answer) if wanted.minimal else answer


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
    headers = {"Content-Range": answer.content_range} if answer.content_range else {}
    return {**headers, **answer.headers}


def respond(answer: Answer) -> Response[Any]:
    if answer.status == 204:
        return Response(content=None, status_code=204, headers=_headers(answer))
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
