"""postgres_changes, part two: a join's bindings (event, view, filter, select), checked at the
join, each filter compiled once into the expression every re-select evaluates.

A filter is read and compiled as /rest/v1 reads and compiles one: by PostgREST's grammar
(surfaces/postgrest/grammar.py) and its compiler (compiler.py), against the same schema cache
(catalog.py). Its clauses, `col=op.value` joined by commas and ANDed (Wagerbase's addition), are
read as the items of a PostgREST logic tree: a value holding `,`, `.`, `:` or parentheses is
double-quoted (`title=eq."Derby, North"`), a backslash escapes any character inside the quotes,
and a list element may be empty. Filters take Supabase Realtime's operators only (eq, neq, lt,
lte, gt, gte, in; up to 100 values in a list), each cheap on any row; a pattern or a regex is
refused at join. Values are cast to the column's type (without its modifier, as on /rest/v1) at
join, so a value that does not fit is refused then, not at delivery.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.surfaces.postgrest import grammar
from wagerbase.surfaces.postgrest.catalog import Column, SchemaCache
from wagerbase.surfaces.postgrest.compiler import Positional, condition_sql, typed
from wagerbase.surfaces.postgrest.grammar import (
    Condition,
    GrammarError,
    UnsupportedOperator,
    listed_condition,
    split_condition,
    split_top,
)
from wagerbase.surfaces.realtime.changes import SCHEMA, TABLES
from wagerbase.tokens import anon_claims

EVENTS = frozenset({"*", "INSERT", "UPDATE", "DELETE"})
ROW = sql.Identifier("v")  # the alias of the row a re-select filters (feed.py)


class BindingError(ValueError):
    """A postgres_changes binding the server cannot honour; the message says why."""


# filters -----------------------------------------------------------------------------------------

# Supabase Realtime's operators, and no others: each is an index-friendly comparison whose cost is
# bounded by the row's size (a pattern or a regex is not: `match` can backtrack for hours)
OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")
MAX_IN_VALUES = 100  # values of one `in` list, as Supabase Realtime allows


def parse_filter(text: str) -> tuple[Condition, ...]:
    """`col=op.value[,col=op.value...]` (ANDed), op optionally prefixed by `not.`."""
    try:
        parts = split_top(text, "the filter")
    except GrammarError as exc:
        _refuse_operators(text.split(","))  # an operator it may not use is named first
        raise BindingError(f"filter {text!r}: {exc.message}") from None
    clauses = []
    for part in parts:
        try:
            column, rest = split_condition(part.strip(), "=", "Write col=op.value.")
            clause = listed_condition(column, rest, OPERATORS)
        except UnsupportedOperator as exc:
            raise _unsupported(exc) from None
        except GrammarError as exc:
            raise BindingError(f"filter {part!r} is not col=op.value: {exc.message}") from None
        if clause.operator == "in" and len(clause.value) > MAX_IN_VALUES:
            raise BindingError(
                f"filter {column}=in.(...) has {len(clause.value)} values: at most {MAX_IN_VALUES}"
            )
        clauses.append(clause)
    return tuple(clauses)


def _unsupported(exc: UnsupportedOperator) -> BindingError:
    return BindingError(
        f"filter operator {exc.operator!r} is not supported: use one of "
        f"{', '.join(OPERATORS)} (the operators of Supabase Realtime)"
    )


def _refuse_operators(pieces: list[str]) -> None:
    """Refuse the first operator Realtime does not take among pieces of a filter that cannot be
    read whole (`title=match.((`: the operator is refused whatever its value)."""
    for piece in pieces:
        try:
            column, rest = split_condition(piece.strip(), "=", "")
            grammar.parse_filter(column, rest, OPERATORS)
        except UnsupportedOperator as exc:
            raise _unsupported(exc) from None
        except GrammarError:
            continue


def _values(clause: Condition) -> tuple[str, ...]:
    return clause.value if isinstance(clause.value, tuple) else (clause.value,)


def _shown(clause: Condition) -> str | list[str]:
    """A clause's value as a refusal names it: the text, or the list of an `in`."""
    return list(clause.value) if isinstance(clause.value, tuple) else clause.value


@dataclass(frozen=True)
class Filter:
    text: str
    clauses: tuple[Condition, ...]
    expression: sql.Composable
    params: tuple[Any, ...]


def compile_filter(
    text: str, clauses: tuple[Condition, ...], columns: Mapping[str, Column], table: str
) -> "tuple[Filter, list[Probe]]":
    """The filter as one expression on the row `v` (null counts as false), and the probes that
    check its values at the join."""
    params = Positional()
    parts: list[sql.Composable] = []
    probes = []
    for clause in clauses:
        column = columns.get(clause.column)
        if column is None:
            raise BindingError(f"table {table!r} has no column {clause.column!r}")
        try:
            parts.append(condition_sql(clause, column, params, ROW))
        except ApiError as exc:  # a value PostgreSQL text cannot hold (compiler.check_text)
            raise BindingError(f"bad filter value {_shown(clause)!r}: {exc.message}") from None
        if _values(clause):
            probes.append(Probe.of(clause, column))
    expression = sql.SQL("coalesce(({}), false)").format(sql.SQL(") and (").join(parts))
    return Filter(text, clauses, expression, tuple(params.values)), probes


@dataclass(frozen=True)
class Probe:
    """A statement that fails when a filter value does not fit its column: the values cast as
    the filter casts them."""

    statement: sql.Composed
    params: list[Any]
    shown: str | list[str]

    @classmethod
    def of(cls, clause: Condition, column: Column) -> "Probe":
        params = Positional()
        values = sql.SQL(", ").join(typed(params, value, column) for value in _values(clause))
        return cls(sql.SQL("select {}").format(values), params.values, _shown(clause))


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


@dataclass
class Subscription:
    """One joined channel of a socket: its topic and bindings (all under one token)."""

    topic: str
    bindings: list[Binding]


async def parse_bindings(
    raw: Any, catalog: SchemaCache, db: Database, ids: Iterator[int]
) -> list[Binding]:
    """The join's `config.postgres_changes`, checked, each with the next id of `ids` (non-zero).
    Raises BindingError with a reason a developer can act on."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BindingError("config.postgres_changes must be a list")
    bindings = []
    probes: list[Probe] = []
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
        clauses: tuple[Condition, ...] = ()
        if text not in (None, ""):
            if not isinstance(text, str):
                raise BindingError("a binding filter must be a string")
            if table is None:
                raise BindingError("a filter needs a table")
            clauses = parse_filter(text)
        select = entry.get("select")
        if select is not None:
            if not isinstance(select, list) or not all(isinstance(c, str) for c in select):
                raise BindingError("a binding select must be a list of column names")
            if table is None:
                raise BindingError("a select needs a table")
        named = [c.column for c in clauses] + list(select or ())
        columns = await _columns(catalog, db, table, named) if table else {}
        parsed_filter = None
        if clauses:
            assert isinstance(text, str) and table is not None
            parsed_filter, checks = compile_filter(text, clauses, columns, table)
            probes += checks
        if select is not None:
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


async def _check_values(db: Database, probes: list[Probe]) -> None:
    if not probes:
        return
    # casts that read nothing: a caller's transaction, as anon, on the live lane
    async with db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
        for probe in probes:
            try:
                async with conn.transaction():
                    await conn.execute(probe.statement, probe.params)
            except psycopg.errors.DataError as exc:
                raise BindingError(
                    f"bad filter value {probe.shown!r}: {exc.diag.message_primary}"
                ) from exc


async def _columns(
    catalog: SchemaCache, db: Database, table: str, named: list[str]
) -> Mapping[str, Column]:
    """The view's columns, from the schema cache (read again if it lacks one of `named`)."""
    try:
        return (await catalog.relation(db, table, named)).columns
    except ApiError as exc:
        if exc.code != "PGRST205":  # not "no such view": the node is busy, try again later
            raise
        raise BindingError(f"table {table!r} is not in the schema cache") from None


def hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
