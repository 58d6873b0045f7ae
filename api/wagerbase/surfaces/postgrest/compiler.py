"""PostgREST's filters, `order` and `select` as SQL: one compiler, for both surfaces that read
the grammar (grammar.py, query.py): /rest/v1's reads and the filters of Realtime's
postgres_changes bindings (surfaces/realtime/bindings.py), which differ only in the alias of the
row they filter and in their placeholders (named here, positional there).

Every name is an `sql.Identifier` taken from the catalog (never from the request as typed),
every value a placeholder. Filter values are cast to the column's own type from the catalog, by
its schema and name, without a type modifier (`%(p1)s::pg_catalog.numeric`, never
`numeric(24,4)`, which would round the value first), so PostgreSQL's input functions decide what
is valid, as behind PostgREST. `select` may ask for at most MAX_SELECT_COLUMNS columns
(request_limits.py).
"""

import difflib
from collections.abc import Iterable
from typing import Any

from psycopg import sql

from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_SELECT_COLUMNS
from wagerbase.surfaces.postgrest.catalog import Column
from wagerbase.surfaces.postgrest.grammar import Condition, Logic, Predicate, bad_query
from wagerbase.surfaces.postgrest.shapes import OrderTerm, ReadQuery

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
# full-text search: the function that reads the value as a tsquery, as PostgREST maps them
_TS_QUERY = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}
REGCONFIG = sql.Identifier("pg_catalog", "regconfig")
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


class Positional:
    """Positional placeholders (`%s`) and their values, in order: for a fragment composed with
    other positional SQL (a Realtime re-select)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> sql.Placeholder:
        check_text(value)
        self.values.append(value)
        return sql.Placeholder()


Placeholders = Params | Positional


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


def output_name(name: str) -> sql.Identifier:
    """A name the request gives a column of its answer (an alias, an embedded resource's label),
    any text: its `%` doubled, since psycopg reads `%` as a placeholder anywhere in a statement
    run with parameters (every read is: its page's limit is one), quotes or not."""
    return sql.Identifier(name.replace("%", "%%"))


def unknown_column(owner: str, name: str, known: Iterable[str] = ()) -> ApiError:
    """PostgreSQL's error for a column a relation lacks, with the hint it gives for a close
    name."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f'Perhaps you meant to reference the column "{owner}.{close[0]}".' if close else None
    return ApiError(400, "42703", f"column {owner}.{name} does not exist", hint=hint)


def column_of(columns: dict[str, Column], owner: str, name: str) -> Column:
    column = columns.get(name)
    if column is None:
        raise unknown_column(owner, name, columns)
    return column


def _predicate(
    predicate: Predicate,
    columns: dict[str, Column],
    owner: str,
    params: Params,
    source: sql.Identifier,
) -> sql.Composable:
    if isinstance(predicate, Logic):
        joiner = sql.SQL(" and ") if predicate.operator == "and" else sql.SQL(" or ")
        parts = [_predicate(child, columns, owner, params, source) for child in predicate.children]
        combined = sql.SQL("({})").format(joiner.join(parts))
        return sql.SQL("not {}").format(combined) if predicate.negated else combined
    column = column_of(columns, owner, predicate.column)
    return condition_sql(predicate, column, params, source)


def typed(params: Placeholders, value: str, column: Column) -> sql.Composable:
    """A value as a placeholder cast to the column's type."""
    return sql.SQL("{}::{}").format(params.add(value), column.type)


def condition_sql(
    condition: Condition,
    column: Column,
    params: Placeholders,
    source: sql.Identifier = SOURCE,
) -> sql.Composable:
    """One condition on `column` of the row `source`, as a boolean expression."""
    ref = sql.SQL("{}.{}").format(source, sql.Identifier(column.name))
    op = condition.operator
    expression: sql.Composable
    if op == "is":
        expression = sql.SQL("{} {}").format(ref, sql.SQL(_IS[str(condition.value)]))
    elif op == "in":
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        if not values:
            expression = sql.SQL("false")
        else:
            items = [typed(params, v, column) for v in values]
            expression = sql.SQL("{} in ({})").format(ref, sql.SQL(", ").join(items))
    elif op in _TS_QUERY:
        expression = _full_text(condition, column, ref, params)
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
        value = typed(params, str(condition.value), column)
        expression = sql.SQL("{} {} {}").format(ref, sql.SQL(_COMPARE[op]), value)
    return sql.SQL("not ({})").format(expression) if condition.negated else expression


def _full_text(
    condition: Condition, column: Column, ref: sql.Composable, params: Placeholders
) -> sql.Composable:
    """`to_tsvector([config,] column) @@ <query function>([config,] value)`: the column's text
    (json and jsonb as they are: to_tsvector reads their string values; a tsvector as it is),
    and the value read by the operator's tsquery function, both with the configuration named
    (`fts(english)`) or, without one, the session's default_text_search_config."""

    def config() -> list[sql.Composable]:
        """The configuration as an argument (a placeholder of its own at each use, so that
        positional placeholders stay in step), or none."""
        if condition.language is None:
            return []
        return [sql.SQL("{}::{}").format(params.add(condition.language), REGCONFIG)]

    document: sql.Composable = ref
    if not (column.type_schema == "pg_catalog" and column.type_name == "tsvector"):
        text = ref if column.is_json else sql.SQL("{}::{}").format(ref, TEXT)
        arguments = sql.SQL(", ").join([*config(), text])
        document = sql.SQL("pg_catalog.to_tsvector({})").format(arguments)
    query_function = sql.Identifier("pg_catalog", _TS_QUERY[condition.operator])
    value = sql.SQL("{}::{}").format(params.add(str(condition.value)), TEXT)
    query = sql.SQL("{}({})").format(query_function, sql.SQL(", ").join([*config(), value]))
    return sql.SQL("{} @@ {}").format(document, query)


def _pattern(op: str, value: str) -> str:
    """PostgREST lets `*` stand for `%` in like/ilike patterns (it needs no URL-encoding)."""
    return value.replace("*", "%") if op in ("like", "ilike") else value


def conditions(
    query: ReadQuery,
    columns: dict[str, Column],
    owner: str,
    params: Params,
    source: sql.Identifier = SOURCE,
) -> list[sql.Composable]:
    """The query's filters on the row `source`, each a boolean expression (all must hold)."""
    return [_predicate(p, columns, owner, params, source) for p in query.where]


def where_clause(parts: list[sql.Composable]) -> sql.Composable:
    if not parts:
        return NOTHING
    return sql.SQL(" where {}").format(sql.SQL(" and ").join(parts))


def where(
    query: ReadQuery, columns: dict[str, Column], owner: str, params: Params
) -> sql.Composable:
    return where_clause(conditions(query, columns, owner, params))


def order(
    terms: tuple[OrderTerm, ...],
    columns: dict[str, Column],
    owner: str,
    source: sql.Identifier = SOURCE,
) -> sql.Composable:
    if not terms:
        return NOTHING
    items = []
    for term in terms:
        column = column_of(columns, owner, term.column)
        item = sql.SQL("{}.{} {}").format(
            source, sql.Identifier(column.name), sql.SQL("desc" if term.descending else "asc")
        )
        if term.nulls is not None:
            item = sql.SQL("{} nulls {}").format(item, sql.SQL(term.nulls))
        items.append(item)
    return sql.SQL(" order by {}").format(sql.SQL(", ").join(items))


def field_list(
    query: ReadQuery,
    columns: dict[str, Column],
    owner: str,
    source: sql.Identifier = SOURCE,
    *,
    expand_star: bool = False,
) -> list[sql.Composable]:
    """The query's columns of the row `source` (its embedded resources aside), each `expr as
    name`; `*` as `source.*`, or with `expand_star` as each column the catalog knows, by name
    (for a row that carries columns of its own beside the relation's: embedding.py)."""
    plain = query.plain_fields()
    width = sum(len(columns) if item.column == "*" else 1 for item in plain)
    if width > max(MAX_SELECT_COLUMNS, len(columns)):
        raise bad_query(
            f"select may ask for at most {MAX_SELECT_COLUMNS} columns",
            f"This one asks for {width} (a * counts as each of the {len(columns)} columns of "
            f"{owner}).",
        )
    items: list[sql.Composable] = []
    for item in plain:
        if item.column == "*":
            if not expand_star:
                items.append(sql.SQL("{}.*").format(source))
                continue
            items.extend(
                sql.SQL("{}.{} as {}").format(source, sql.Identifier(name), sql.Identifier(name))
                for name in columns
            )
            continue
        column = column_of(columns, owner, item.column)
        ref: sql.Composable = sql.SQL("{}.{}").format(source, sql.Identifier(column.name))
        if item.cast is not None:
            cast = CAST_ALIASES.get(item.cast.lower(), item.cast)
            ref = sql.SQL("{}::{}").format(ref, sql.Identifier(cast))
        items.append(sql.SQL("{} as {}").format(ref, output_name(item.alias or column.name)))
    return items


def output_names(query: ReadQuery, columns: dict[str, Column]) -> list[str]:
    """The names of a row's columns as field_list makes them (embedded resources aside)."""
    names: list[str] = []
    for item in query.plain_fields():
        if item.column == "*":
            names.extend(columns)
        else:
            names.append(item.alias or item.column)
    return names


def fields(query: ReadQuery, columns: dict[str, Column], owner: str) -> sql.Composable:
    if query.fields is None:
        return sql.SQL("{}.*").format(SOURCE)
    return sql.SQL(", ").join(field_list(query, columns, owner))
