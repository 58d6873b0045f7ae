"""The statements a read or an RPC call becomes, around what compiler.py makes of the query
(embedding.py's, for a read that embeds resources).

RPC arguments go in as one jsonb object that `jsonb_to_record` turns into a row typed with the
function's declared argument types, which is how PostgREST does it too. A read returns at most
`max_rows` rows (the node's row cap, as PostgREST's `db-max-rows`), whatever `limit` asks.

A read's body is its rows as one JSON array, one object (`.single()`), or CSV (`Accept:
text/csv`, `.csv()`): PostgREST's, a row a line, each value as its JSON text but a string's as
the string itself, and null as nothing; a value that holds a comma, a double quote or a line
break (or is the empty string, so that it differs from null) is double-quoted, inner quotes
doubled (RFC 4180). The header line is made by the caller (reads.py), from the names it knows,
so that it is there even when no row is.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from wagerbase.surfaces.postgrest.catalog import SCHEMA, Column, Function, Relation
from wagerbase.surfaces.postgrest.compiler import NOTHING, SOURCE, Params, fields, order, where
from wagerbase.surfaces.postgrest.query import ReadQuery

Body = Literal["array", "object", "csv", "none"]


@dataclass(frozen=True)
class Source:
    """What a read selects from: a relation of `public`, or a function call's rows."""

    owner: str  # the name errors use: the view's or the function's
    columns: dict[str, Column]
    from_item: sql.Composable  # a relation, or the CTE holding the call's rows
    ctes: tuple[sql.Composable, ...] = ()  # the call's (`name as (...)`), none for relations


def relation_source(relation: Relation) -> Source:
    return Source(relation.name, relation.columns, sql.Identifier(SCHEMA, relation.name))


def with_clause(ctes: list[sql.Composable] | tuple[sql.Composable, ...]) -> sql.Composable:
    if not ctes:
        return NOTHING
    return sql.SQL("with {} ").format(sql.SQL(", ").join(ctes))


def csv_line(row: sql.Composable) -> sql.Composable:
    """One row (a JSON object) as a CSV line (the module's docstring says how)."""
    return sql.SQL(
        "(select coalesce(pg_catalog.string_agg(case when pgrst_f.value is null then ''"
        " when pgrst_f.value = '' or pgrst_f.value ~ '[\",\\n\\r]'"
        " then '\"' || pg_catalog.replace(pgrst_f.value, '\"', '\"\"') || '\"'"
        " else pgrst_f.value end, ',' order by pgrst_f.n), '')"
        " from pg_catalog.json_each_text({}) with ordinality as pgrst_f(key, value, n))"
    ).format(row)


def body_sql(
    row: sql.Composable, ordering: sql.Composable, body: Body, *, strip_nulls: bool
) -> sql.Composable:
    """The aggregate of the rows `row` (in `ordering`, an `order by ...` or NOTHING) that is the
    answer's body, as text."""
    if body == "none":
        return sql.SQL("null::pg_catalog.text")
    if body == "csv":
        line = csv_line(sql.SQL("pg_catalog.row_to_json({})").format(row))
        return sql.SQL("pg_catalog.string_agg({}, E'\\n'{})").format(line, ordering)
    aggregate: sql.Composable = sql.SQL("pg_catalog.json_agg({}{})").format(row, ordering)
    aggregate = (
        sql.SQL("{} -> 0").format(aggregate)
        if body == "object"
        else sql.SQL("coalesce({}, '[]'::pg_catalog.json)").format(aggregate)
    )
    if strip_nulls:
        aggregate = sql.SQL("pg_catalog.json_strip_nulls({})").format(aggregate)
    return sql.SQL("({})::pg_catalog.text").format(aggregate)


def _call(function: Function, names: list[str]) -> tuple[sql.Composable, sql.Composable]:
    """The call with named arguments read from the `pgrst_args` row, and the CTE making it."""
    if not names:
        return sql.SQL("{}()").format(sql.Identifier(SCHEMA, function.name)), NOTHING
    by_name = {arg.name: arg for arg in function.arguments}
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(name), by_name[name].type) for name in names
    )
    arguments = sql.SQL(", ").join(
        sql.SQL("{name} => (select pgrst_args.{name} from pgrst_args)").format(
            name=sql.Identifier(name)
        )
        for name in names
    )
    prelude = sql.SQL(
        "pgrst_args as (select * from pg_catalog.jsonb_to_record(%(args)s::pg_catalog.jsonb)"
        " as pgrst_a({}))"
    ).format(definitions)
    return sql.SQL("{}({})").format(sql.Identifier(SCHEMA, function.name), arguments), prelude


def call_source(function: Function, names: list[str]) -> Source:
    """The rows of a set- or row-returning function, computed once (a materialized CTE)."""
    call, args_cte = _call(function, names)
    ctes = [args_cte] if names else []
    ctes.append(sql.SQL("pgrst_call as materialized (select * from {} as pgrst_f)").format(call))
    return Source(function.name, function.columns, sql.Identifier("pgrst_call"), tuple(ctes))


def call_statement(function: Function, names: list[str], max_rows: int) -> sql.Composed:
    """A function that returns a scalar (or a set of them: at most `max_rows`), or void: one JSON
    value back."""
    call, args_cte = _call(function, names)
    prelude = sql.SQL("with {} ").format(args_cte) if names else NOTHING
    if function.returns == "void":
        return sql.SQL("{}select {} is null as void").format(prelude, call)
    if function.returns_set:
        return sql.SQL(
            "{}select coalesce(pg_catalog.json_agg(pgrst_f.pgrst_scalar), '[]')::text as body"
            " from (select * from {} limit {}) as pgrst_f(pgrst_scalar)"
        ).format(prelude, call, sql.Literal(max_rows))
    return sql.SQL("{}select pg_catalog.to_json({})::text as body").format(prelude, call)


def read_statement(
    source: Source,
    query: ReadQuery,
    params: Params,
    *,
    count: bool,
    body: Body,
    strip_nulls: bool,
    max_rows: int,
) -> sql.Composed:
    """One statement: the page (at most `max_rows` rows, whatever the query's limit) as the body
    (text), its row count, and (with count) the total."""
    columns, owner = source.columns, source.owner
    condition = where(query, columns, owner, params)
    ordering = order(query.order, columns, owner)
    selected = fields(query, columns, owner)
    page = max_rows if query.limit is None else min(query.limit, max_rows)
    limit = sql.SQL(" limit {}").format(params.add(page))
    offset: sql.Composable = NOTHING
    if query.offset:
        offset = sql.SQL(" offset {}").format(params.add(query.offset))
    total: sql.Composable = sql.SQL("null::pg_catalog.int8")
    if count:
        total = sql.SQL("(select pg_catalog.count(*) from {} as {}{})").format(
            source.from_item, SOURCE, condition
        )
    text = body_sql(sql.Identifier("pgrst_t"), NOTHING, body, strip_nulls=strip_nulls)
    return sql.SQL(
        "{prelude}select {total} as total, pg_catalog.count(*) as page_count,"
        " 0 as embedded, {body} as body"
        " from (select {fields} from {source} as {alias}{where}{order}{limit}{offset}) as pgrst_t"
    ).format(
        prelude=with_clause(source.ctes),
        total=total,
        body=text,
        fields=selected,
        source=source.from_item,
        alias=SOURCE,
        where=condition,
        order=ordering,
        limit=limit,
        offset=offset,
    )


def call_arguments(values: dict[str, Any]) -> str:
    """The arguments of a GET call (query-string text) as the jsonb object of the call."""
    return json.dumps(values)
