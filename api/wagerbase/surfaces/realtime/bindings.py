"""postgres_changes, part two: a join's bindings (event, view, filter, select), checked at the
join, each filter compiled once into the expression every re-select evaluates.

Filters take Supabase Realtime's operators only (eq, neq, lt, lte, gt, gte, in; up to 100 values
in a list), each cheap on any row; a pattern or a regex is refused at join. Values are cast to
the column's type at join, so a value that does not fit is refused then, not at delivery.
"""

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from wagerbase.database import Database
from wagerbase.surfaces.realtime.changes import SCHEMA, TABLES
from wagerbase.tokens import anon_claims

EVENTS = frozenset({"*", "INSERT", "UPDATE", "DELETE"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the type's name as Realtime reports it: int8, text, numeric, timestamptz...
    sqltype: str  # the type as SQL spells it, for casts: bigint, text, numeric...


class BindingError(ValueError):
    """A postgres_changes binding the server cannot honour; the message says why."""


# filters -----------------------------------------------------------------------------------------

_COMPARISONS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# Supabase Realtime's operators, and no others: each is an index-friendly comparison whose cost is
# bounded by the row's size (a pattern or a regex is not: `match` can backtrack for hours)
OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")
MAX_IN_VALUES = 100  # values of one `in` list, as Supabase Realtime allows
_CLAUSE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(not\.)?([a-z]+)\.(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Clause:
    column: str
    op: str
    negate: bool
    value: str | tuple[str, ...]


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and double quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth = max(depth - 1, 0)
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return item[1:-1].replace('\\"', '"')
    return item


def parse_filter(text: str) -> tuple[Clause, ...]:
    """`col=op.value[,col=op.value...]` (ANDed), op optionally prefixed by `not.`."""
    clauses = []
    for part in _split_top_level(text):
        found = _CLAUSE.match(part.strip())
        if found is None:
            raise BindingError(f"filter {part!r} is not col=op.value")
        column, negate, op, value = found.groups()
        if op not in OPERATORS:
            raise BindingError(
                f"filter operator {op!r} is not supported: use one of {', '.join(OPERATORS)} "
                "(the operators of Supabase Realtime)"
            )
        parsed: str | tuple[str, ...] = value
        if op == "in":
            if not (value.startswith("(") and value.endswith(")")):
                raise BindingError(f"filter {part!r}: in needs a list, as in.(1,2)")
            parsed = tuple(_unquote(item) for item in _split_top_level(value[1:-1]) if item.strip())
            if len(parsed) > MAX_IN_VALUES:
                raise BindingError(
                    f"filter {column}=in.(...) has {len(parsed)} values: at most {MAX_IN_VALUES}"
                )
        clauses.append(Clause(column, op, bool(negate), parsed))
    return tuple(clauses)


def _clause_sql(clause: Clause, column: Column) -> tuple[sql.Composable, list[Any]]:
    col = sql.SQL("v.{}").format(sql.Identifier(clause.column))
    typ = sql.SQL(column.sqltype)
    expr: sql.Composable
    params: list[Any] = []
    if clause.op == "in":
        expr = sql.SQL("{} = any(cast(%s::text[] as {}[]))").format(col, typ)
        params.append(list(clause.value))
    else:
        expr = sql.SQL("{} {} cast(%s::text as {})").format(
            col, sql.SQL(_COMPARISONS[clause.op]), typ
        )
        params.append(clause.value)
    if clause.negate:
        expr = sql.SQL("not ({})").format(expr)
    return expr, params


@dataclass(frozen=True)
class Filter:
    text: str
    clauses: tuple[Clause, ...]
    expression: sql.Composable
    params: tuple[Any, ...]


# bindings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """One postgres_changes binding of a channel, with the id the join reply gave it."""

    id: int
    event: str  # *, INSERT, UPDATE, DELETE
    table: str | None  # None: every supported view
    filter: Filter | None
    select: tuple[str, ...] | None
    echo: dict[str, Any]  # the reply entry: the binding as sent, plus its id

    def matches(self, table: str, kind: str) -> bool:
        return (self.table is None or self.table == table) and self.event in ("*", kind)


class Catalog:
    """The columns of the supported views, read once per node from pg_catalog."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._columns: dict[str, list[Column]] | None = None
        self._lock = asyncio.Lock()

    async def columns(self, table: str) -> list[Column]:
        if self._columns is None:
            async with self._lock:
                if self._columns is None:
                    self._columns = await self._load()
        return self._columns[table]

    async def _load(self) -> dict[str, list[Column]]:
        found: dict[str, list[Column]] = {name: [] for name in TABLES}
        async with self._db.as_server() as conn:  # pg_catalog: readable by the node's own role
            cursor = await conn.execute(
                """
                select c.relname as table, a.attname as name, t.typname as type,
                       pg_catalog.format_type(a.atttypid, a.atttypmod) as sqltype
                from pg_catalog.pg_attribute as a
                join pg_catalog.pg_class as c on c.oid = a.attrelid
                join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
                join pg_catalog.pg_type as t on t.oid = a.atttypid
                where n.nspname = %s and c.relname = any(%s) and a.attnum > 0
                  and not a.attisdropped
                order by c.relname, a.attnum
                """,
                [SCHEMA, list(TABLES)],
            )
            for row in await cursor.fetchall():
                found[row["table"]].append(Column(row["name"], row["type"], row["sqltype"]))
        return found


@dataclass
class Subscription:
    """One joined channel of a socket: its topic and bindings (all under one token)."""

    topic: str
    bindings: list[Binding]


async def parse_bindings(
    raw: Any, catalog: Catalog, db: Database, ids: Iterator[int]
) -> list[Binding]:
    """The join's `config.postgres_changes`, checked, each with the next id of `ids` (non-zero).
    Raises BindingError with a reason a developer can act on."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BindingError("config.postgres_changes must be a list")
    bindings = []
    probes: list[tuple[sql.Composed, list[Any]]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise BindingError("each postgres_changes binding must be an object")
        event = entry.get("event")
        if not isinstance(event, str) or event.upper() not in EVENTS:
            raise BindingError(f"binding event {event!r} is not one of *, INSERT, UPDATE, DELETE")
        schema = entry.get("schema") or SCHEMA
        if schema != SCHEMA:
            raise BindingError(f"only schema {SCHEMA!r} has postgres_changes, not {schema!r}")
        table = entry.get("table")
        if table in (None, "", "*"):
            table = None
        elif table not in TABLES:
            raise BindingError(
                f"postgres_changes are not available for table {table!r}; "
                f"they are for {', '.join(TABLES)}"
            )
        text = entry.get("filter")
        columns = {c.name: c for c in await catalog.columns(table)} if table else {}
        parsed_filter = None
        if text not in (None, ""):
            if not isinstance(text, str):
                raise BindingError("a binding filter must be a string")
            if table is None:
                raise BindingError("a filter needs a table")
            clauses = parse_filter(text)
            parts, params = [], []
            for clause in clauses:
                if clause.column not in columns:
                    raise BindingError(f"table {table!r} has no column {clause.column!r}")
                expr, values = _clause_sql(clause, columns[clause.column])
                parts.append(expr)
                params.extend(values)
                probes.append(_probe(clause, columns[clause.column]))
            parsed_filter = Filter(
                text,
                clauses,
                sql.SQL("coalesce(({}), false)").format(sql.SQL(") and (").join(parts)),
                tuple(hashable(p) for p in params),
            )
        select = entry.get("select")
        if select is not None:
            if not isinstance(select, list) or not all(isinstance(c, str) for c in select):
                raise BindingError("a binding select must be a list of column names")
            if table is None:
                raise BindingError("a select needs a table")
            unknown = [c for c in select if c not in columns]
            if unknown:
                raise BindingError(f"table {table!r} has no column {unknown[0]!r}")
        binding_id = next(ids)
        echo = {**entry, "schema": entry.get("schema") or SCHEMA, "id": binding_id}
        bindings.append(
            Binding(
                binding_id,
                event.upper(),
                table,
                parsed_filter,
                tuple(select) if select else None,
                echo,
            )
        )
    await _check_values(db, probes)
    return bindings


def _probe(clause: Clause, column: Column) -> tuple[sql.Composed, list[Any]]:
    """A statement that fails when a filter value does not fit its column."""
    typ = sql.SQL(column.sqltype)
    if clause.op == "in":
        return sql.SQL("select cast(%s::text[] as {}[])").format(typ), [list(clause.value)]
    return sql.SQL("select cast(%s::text as {})").format(typ), [clause.value]


async def _check_values(db: Database, probes: list[tuple[sql.Composed, list[Any]]]) -> None:
    if not probes:
        return
    # casts that read nothing: a caller's transaction, as anon, on the live lane
    async with db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
        for statement, params in probes:
            try:
                async with conn.transaction():
                    await conn.execute(statement, params)
            except psycopg.errors.DataError as exc:
                raise BindingError(
                    f"bad filter value {params[0]!r}: {exc.diag.message_primary}"
                ) from exc


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
