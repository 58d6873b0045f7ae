"""The SQL of the PostgREST surface, in one place: the schema-cache queries and the statements a
read or an RPC call becomes.

Every name in a statement is an `sql.Identifier` taken from the catalog (never from the request
as typed), every value a placeholder. Filter values are cast to the column's own type from the
catalog (`%(p1)s::pg_catalog.int8`), so PostgreSQL's input functions decide what is valid, as
behind PostgREST. RPC arguments go in as one jsonb object that `jsonb_to_record` turns into a
row typed with the function's declared argument types, which is how PostgREST does it too.

A read returns at most `max_rows` rows (the node's row cap, as PostgREST's `db-max-rows`),
whatever `limit` asks; `select` may ask for at most MAX_SELECT_COLUMNS columns
(request_limits.py).
"""

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from psycopg import sql

from wagerbase.database import Conn
from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_SELECT_COLUMNS
from wagerbase.surfaces.postgrest.grammar import (
    Condition,
    Logic,
    OrderTerm,
    Predicate,
    ReadQuery,
    bad_query,
)

SCHEMA = "public"
# the types whose values are JSON numbers (an array of them is named `_<type>`)
NUMERIC_TYPES = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})

RELATIONS_SQL = """
select c.relname as name,
       c.relkind::text as kind,
       coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(a.attname, tn.nspname, t.typname)
                                    order by a.attnum)
                filter (where a.attnum is not null), '[]') as columns
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
left join pg_catalog.pg_attribute as a
    on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_type as t on t.oid = a.atttypid
left join pg_catalog.pg_namespace as tn on tn.oid = t.typnamespace
where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'f', 'p')
group by c.oid, c.relname, c.relkind
"""

FUNCTIONS_SQL = """
select p.proname as name,
       p.provolatile::text as volatility,
       p.proretset as returns_set,
       p.pronargdefaults as defaults,
       p.prorettype = 'pg_catalog.void'::pg_catalog.regtype as returns_void,
       rt.typrelid <> 0 as returns_composite,
       coalesce((
           select pg_catalog.json_agg(pg_catalog.json_build_array(
                      coalesce(p.proargnames[a.i], ''), coalesce(p.proargmodes[a.i], 'i'),
                      tn.nspname, t.typname) order by a.i)
           from pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[]))
                with ordinality as a(type_oid, i)
           join pg_catalog.pg_type as t on t.oid = a.type_oid
           join pg_catalog.pg_namespace as tn on tn.oid = t.typnamespace
       ), '[]') as args,
       coalesce((
           select pg_catalog.json_agg(pg_catalog.json_build_array(at.attname, tn.nspname, t.typname)
                                      order by at.attnum)
           from pg_catalog.pg_attribute as at
           join pg_catalog.pg_type as t on t.oid = at.atttypid
           join pg_catalog.pg_namespace as tn on tn.oid = t.typnamespace
           where at.attrelid = rt.typrelid and at.attnum > 0 and not at.attisdropped
       ), '[]') as columns
from pg_catalog.pg_proc as p
join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
join pg_catalog.pg_type as rt on rt.oid = p.prorettype
where n.nspname = %s and p.prokind = 'f'
"""


@dataclass(frozen=True)
class Column:
    name: str
    type_schema: str
    type_name: str

    @property
    def type(self) -> sql.Identifier:
        return sql.Identifier(self.type_schema, self.type_name)

    @property
    def is_json(self) -> bool:
        return self.type_schema == "pg_catalog" and self.type_name in ("json", "jsonb")

    @property
    def is_numeric(self) -> bool:
        """A number type, or an array of one."""
        return self.type_schema == "pg_catalog" and self.type_name.lstrip("_") in NUMERIC_TYPES

    @property
    def is_array(self) -> bool:
        return self.type_name.startswith("_")


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # pg_class.relkind: r table, v view, m materialized view, f foreign, p partitioned
    columns: dict[str, Column]

    @property
    def noun(self) -> str:
        return "view" if self.kind in ("v", "m") else "table"


@dataclass(frozen=True)
class Argument(Column):
    has_default: bool = False


@dataclass(frozen=True)
class Function:
    name: str
    volatility: Literal["v", "s", "i"]
    returns_set: bool
    returns: Literal["void", "scalar", "rows"]
    arguments: tuple[Argument, ...]
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def argument_names(self) -> set[str]:
        return {arg.name for arg in self.arguments}

    @property
    def required(self) -> set[str]:
        return {arg.name for arg in self.arguments if not arg.has_default}

    def accepts(self, names: set[str]) -> bool:
        """True when a call with exactly these named arguments resolves to this function."""
        return names <= self.argument_names and self.required <= names


@dataclass(frozen=True)
class Catalog:
    relations: dict[str, Relation]
    functions: dict[str, list[Function]]


def _column(row: list[str]) -> Column:
    return Column(row[0], row[1], row[2])


def _function(row: dict[str, Any]) -> Function:
    inputs: list[tuple[str, str, str]] = []
    outputs: dict[str, Column] = {}
    for name, mode, type_schema, type_name in row["args"]:
        if mode in ("i", "b", "v"):
            inputs.append((name, type_schema, type_name))
        if mode in ("o", "b", "t"):
            outputs[name] = Column(name, type_schema, type_name)
    first_default = len(inputs) - row["defaults"]
    arguments = tuple(
        Argument(name, type_schema, type_name, has_default=index >= first_default)
        for index, (name, type_schema, type_name) in enumerate(inputs)
    )
    columns = {c[0]: _column(c) for c in row["columns"]} if row["returns_composite"] else outputs
    returns: Literal["void", "scalar", "rows"] = (
        "void" if row["returns_void"] else "rows" if columns else "scalar"
    )
    volatility: Literal["v", "s", "i"] = (
        "s" if row["volatility"] == "s" else "i" if row["volatility"] == "i" else "v"
    )
    return Function(row["name"], volatility, row["returns_set"], returns, arguments, columns)


async def load_catalog(conn: Conn) -> Catalog:
    relations: dict[str, Relation] = {}
    for row in await (await conn.execute(RELATIONS_SQL, [SCHEMA])).fetchall():
        columns = {c[0]: _column(c) for c in row["columns"]}
        relations[row["name"]] = Relation(row["name"], row["kind"], columns)
    functions: dict[str, list[Function]] = {}
    for row in await (await conn.execute(FUNCTIONS_SQL, [SCHEMA])).fetchall():
        functions.setdefault(row["name"], []).append(_function(row))
    return Catalog(relations, functions)


# --- statements -------------------------------------------------------------------------------

SOURCE = sql.Identifier("pgrst_source")
NOTHING = sql.SQL("")

_COMPARE = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "isdistinct": "is distinct from",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
}
_TEXT_MATCH = {"like": "like", "ilike": "ilike", "match": "~", "imatch": "~*"}
_IS = {
    "null": "is null",
    "not_null": "is not null",
    "true": "is true",
    "false": "is false",
    "unknown": "is unknown",
}
# `select=col::int`: the SQL spellings of built-in types, as the names pg_type knows them by
CAST_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "real": "float4",
    "float": "float8",
    "decimal": "numeric",
    "boolean": "bool",
    "character": "bpchar",
    "char": "bpchar",
}
TEXT = sql.Identifier("pg_catalog", "text")
TEXT_ARRAY = sql.Identifier("pg_catalog", "_text")


class Params:
    """Named placeholders and their values, so one fragment can appear twice in a statement."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> sql.Placeholder:
        check_text(value)
        name = f"p{len(self.values) + 1}"
        self.values[name] = value
        return sql.Placeholder(name)


def check_text(value: Any) -> None:
    """PostgreSQL text cannot hold NUL or unpaired surrogates: refuse them as PostgreSQL would."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str):
            continue
        if "\x00" in item:
            raise ApiError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')
        try:
            item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ApiError(400, "22021", 'invalid byte sequence for encoding "UTF8"') from exc


def unknown_column(owner: str, name: str) -> ApiError:
    return ApiError(400, "42703", f"column {owner}.{name} does not exist")


def _column_of(columns: dict[str, Column], owner: str, name: str) -> Column:
    column = columns.get(name)
    if column is None:
        raise unknown_column(owner, name)
    return column


def _predicate(
    predicate: Predicate, columns: dict[str, Column], owner: str, params: Params
) -> sql.Composable:
    if isinstance(predicate, Logic):
        joiner = sql.SQL(" and ") if predicate.operator == "and" else sql.SQL(" or ")
        parts = [_predicate(child, columns, owner, params) for child in predicate.children]
        combined = sql.SQL("({})").format(joiner.join(parts))
        return sql.SQL("not {}").format(combined) if predicate.negated else combined
    condition: Condition = predicate
    column = _column_of(columns, owner, condition.column)
    ref = sql.SQL("{}.{}").format(SOURCE, sql.Identifier(column.name))
    op = condition.operator
    expression: sql.Composable
    if op == "is":
        expression = sql.SQL("{} {}").format(ref, sql.SQL(_IS[str(condition.value)]))
    elif op == "in":
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        if not values:
            expression = sql.SQL("false")
        else:
            items = [sql.SQL("{}::{}").format(params.add(v), column.type) for v in values]
            expression = sql.SQL("{} in ({})").format(ref, sql.SQL(", ").join(items))
    elif op in _TEXT_MATCH:
        operator = sql.SQL(_TEXT_MATCH[op])
        as_text = sql.SQL("{}::{}").format(ref, TEXT)
        if condition.quantifier is not None:
            patterns = [_pattern(op, v) for v in condition.value]
            expression = sql.SQL("{} {} {}({}::{})").format(
                as_text, operator, sql.SQL(condition.quantifier), params.add(patterns), TEXT_ARRAY
            )
        else:
            pattern = _pattern(op, str(condition.value))
            placeholder = params.add(pattern)
            expression = sql.SQL("{} {} {}::{}").format(as_text, operator, placeholder, TEXT)
    else:
        expression = sql.SQL("{} {} {}::{}").format(
            ref, sql.SQL(_COMPARE[op]), params.add(str(condition.value)), column.type
        )
    return sql.SQL("not ({})").format(expression) if condition.negated else expression


def _pattern(op: str, value: str) -> str:
    """PostgREST lets `*` stand for `%` in like/ilike patterns (it needs no URL-encoding)."""
    return value.replace("*", "%") if op in ("like", "ilike") else value


def _where(
    query: ReadQuery, columns: dict[str, Column], owner: str, params: Params
) -> sql.Composable:
    if not query.where:
        return NOTHING
    parts = [_predicate(p, columns, owner, params) for p in query.where]
    return sql.SQL(" where {}").format(sql.SQL(" and ").join(parts))


def _order(terms: tuple[OrderTerm, ...], columns: dict[str, Column], owner: str) -> sql.Composable:
    if not terms:
        return NOTHING
    items = []
    for term in terms:
        column = _column_of(columns, owner, term.column)
        item = sql.SQL("{}.{} {}").format(
            SOURCE, sql.Identifier(column.name), sql.SQL("desc" if term.descending else "asc")
        )
        if term.nulls is not None:
            item = sql.SQL("{} nulls {}").format(item, sql.SQL(term.nulls))
        items.append(item)
    return sql.SQL(" order by {}").format(sql.SQL(", ").join(items))


def _fields(query: ReadQuery, columns: dict[str, Column], owner: str) -> sql.Composable:
    if query.fields is None:
        return sql.SQL("{}.*").format(SOURCE)
    width = sum(len(columns) if item.column == "*" else 1 for item in query.fields)
    if width > max(MAX_SELECT_COLUMNS, len(columns)):
        raise bad_query(
            f"select may ask for at most {MAX_SELECT_COLUMNS} columns",
            f"This one asks for {width} (a * counts as each of the {len(columns)} columns of "
            f"{owner}).",
        )
    items: list[sql.Composable] = []
    for item in query.fields:
        if item.column == "*":
            items.append(sql.SQL("{}.*").format(SOURCE))
            continue
        column = _column_of(columns, owner, item.column)
        ref: sql.Composable = sql.SQL("{}.{}").format(SOURCE, sql.Identifier(column.name))
        if item.cast is not None:
            cast = CAST_ALIASES.get(item.cast.lower(), item.cast)
            ref = sql.SQL("{}::{}").format(ref, sql.Identifier(cast))
        items.append(sql.SQL("{} as {}").format(ref, sql.Identifier(item.alias or column.name)))
    return sql.SQL(", ").join(items)


@dataclass(frozen=True)
class Source:
    """What a read selects from: a relation of `public`, or a function call's rows."""

    owner: str  # the name errors use: the view's or the function's
    columns: dict[str, Column]
    from_item: sql.Composable  # a relation, or the CTE holding the call's rows
    prelude: sql.Composable  # `with ...` for calls, NOTHING for relations


def relation_source(relation: Relation) -> Source:
    return Source(relation.name, relation.columns, sql.Identifier(SCHEMA, relation.name), NOTHING)


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
    prelude = sql.SQL("with {} ").format(sql.SQL(", ").join(ctes))
    return Source(function.name, function.columns, sql.Identifier("pgrst_call"), prelude)


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
    single: bool,
    strip_nulls: bool,
    max_rows: int,
    with_body: bool = True,
) -> sql.Composed:
    """One statement: the page (at most `max_rows` rows, whatever the query's limit) as a JSON
    text, its row count, and (with count) the total."""
    columns, owner = source.columns, source.owner
    where = _where(query, columns, owner, params)
    order = _order(query.order, columns, owner)
    fields = _fields(query, columns, owner)
    page = max_rows if query.limit is None else min(query.limit, max_rows)
    limit = sql.SQL(" limit {}").format(params.add(page))
    offset: sql.Composable = NOTHING
    if query.offset:
        offset = sql.SQL(" offset {}").format(params.add(query.offset))
    total: sql.Composable = sql.SQL("null::pg_catalog.int8")
    if count:
        total = sql.SQL("(select pg_catalog.count(*) from {} as {}{})").format(
            source.from_item, SOURCE, where
        )
    body: sql.Composable
    if not with_body:
        body = sql.SQL("null::pg_catalog.text")
    else:
        body = (
            sql.SQL("pg_catalog.json_agg(pgrst_t) -> 0")
            if single
            else sql.SQL("coalesce(pg_catalog.json_agg(pgrst_t), '[]'::pg_catalog.json)")
        )
        if strip_nulls:
            body = sql.SQL("pg_catalog.json_strip_nulls({})").format(body)
        body = sql.SQL("({})::pg_catalog.text").format(body)
    return sql.SQL(
        "{prelude}select {total} as total, pg_catalog.count(*) as page_count, {body} as body"
        " from (select {fields} from {source} as {alias}{where}{order}{limit}{offset}) as pgrst_t"
    ).format(
        prelude=source.prelude,
        total=total,
        body=body,
        fields=fields,
        source=source.from_item,
        alias=SOURCE,
        where=where,
        order=order,
        limit=limit,
        offset=offset,
    )


def call_arguments(values: dict[str, Any]) -> str:
    """The arguments of a GET call (query-string text) as the jsonb object of the call."""
    return json.dumps(values)
