"""A read's query string: what `?select=..&col=op.value&order=..&limit=..` asks for.

Pure parsing, no SQL: the filters are grammar.py's, the rest (`select`, `order`, `limit`,
`offset`) is here; statements.py turns a `ReadQuery` into one statement. Anything malformed is a
400 `PGRST100`, as PostgREST answers it.

Supported (SUPABASE_COMPAT.md 3.2):
- `select=*`, `select=a,b`, aliases `alias:col`, casts `col::text`. Resource embedding
  (`market:markets(name)`), spreads, aggregates and JSON paths (`col->key`) are refused.
- filters (grammar.py); a column may be filtered many times (the conditions are ANDed). Logic
  trees `or=(..)`, `and=(..)`, `not.or=(..)`.
- `order=col[.asc|.desc][.nullsfirst|.nullslast],..`, `limit=n`, `offset=n`.

Bounded (request_limits.py): a query holds at most MAX_CONDITIONS conditions and MAX_ORDER_TERMS
order terms; beyond, a 400 `PGRST100` names the limit. (The width of `select` is checked where
`*` is known: compiler.py.)
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from wagerbase.http.request_limits import MAX_CONDITIONS, MAX_ORDER_TERMS
from wagerbase.surfaces.postgrest.grammar import (
    Logic,
    Predicate,
    bad_query,
    column_key,
    parse_filter,
    parse_logic_body,
    predicate_columns,
    read_quoted,
    split_top,
)

RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
LOGIC_KEYS = frozenset({"and", "or", "not.and", "not.or"})
MAX_BIGINT = 2**63 - 1

_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """One item of `select`: a column (or `*`), optionally renamed and cast."""

    column: str
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class OrderTerm:
    column: str
    descending: bool = False
    nulls: Literal["first", "last"] | None = None


@dataclass(frozen=True)
class ReadQuery:
    """What a read asks for. `fields` None means `*`."""

    fields: tuple[Field, ...] | None = None
    where: tuple[Predicate, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int = 0

    @property
    def shapes_rows(self) -> bool:
        """True when the query filters, orders, pages or picks columns (not a bare `*`)."""
        star = self.fields is None or self.fields == (Field("*"),)
        return bool(self.where or self.order or self.limit is not None or self.offset or not star)

    def columns(self) -> Iterable[str]:
        """Every column the query names (for checking them against the relation)."""
        for field in self.fields or ():
            if field.column != "*":
                yield field.column
        yield from predicate_columns(self.where)
        for term in self.order:
            yield term.column


def parse_read_query(params: Iterable[tuple[str, str]]) -> ReadQuery:
    """Parse the query string's (key, value) pairs, in order, repeated keys kept."""
    fields: tuple[Field, ...] | None = None
    where: list[Predicate] = []
    order: list[OrderTerm] = []
    limit: int | None = None
    offset = 0
    for key, value in params:
        if key == "select":
            fields = parse_select(value)
        elif key == "order":
            order.extend(parse_order(value))
        elif key == "limit":
            limit = _non_negative(key, value)
        elif key == "offset":
            offset = _non_negative(key, value)
        elif key in ("columns", "on_conflict"):
            continue  # write-only parameters; reads ignore them as PostgREST does
        elif key in LOGIC_KEYS:
            negated = key.startswith("not.")
            operator: Literal["and", "or"] = "or" if key.endswith("or") else "and"
            where.append(Logic(operator, parse_logic_body(value, key, 1), negated))
        else:
            column = column_key(key)
            where.append(parse_filter(column, value))
    conditions = sum(1 for _ in predicate_columns(where))
    if conditions > MAX_CONDITIONS:
        raise bad_query(
            f"A query may hold at most {MAX_CONDITIONS} filter conditions",
            f"This one holds {conditions}, those inside or=/and= trees included.",
        )
    if len(order) > MAX_ORDER_TERMS:
        raise bad_query(
            f"order may hold at most {MAX_ORDER_TERMS} terms",
            f"This query orders by {len(order)} terms.",
        )
    return ReadQuery(
        tuple(fields) if fields is not None else None, tuple(where), tuple(order), limit, offset
    )


def _non_negative(key: str, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_BIGINT:
        raise bad_query(f'"{value}" is not a valid {key}', f"{key} must be a whole number >= 0")
    return int(text)


def parse_select(text: str) -> tuple[Field, ...]:
    """`*`, `a,b`, `alias:col`, `col::text`; embedding and JSON paths are refused."""
    if text.strip() == "":
        return ()
    fields: list[Field] = []
    for raw in split_top(text, "select"):
        item = raw.strip()
        if not item:
            raise bad_query(f'"{text}" has an empty item in select')
        if "(" in _outside_quotes(item) or item.startswith("..."):
            raise bad_query(
                f'"{item}" is not supported in select',
                "Resource embedding, spreads and aggregates are not supported by this server; "
                "select the columns of one view and query related views separately.",
            )
        fields.append(_parse_field(item))
    return tuple(fields)


def _outside_quotes(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            _, i = read_quoted(text, i)
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _parse_field(item: str) -> Field:
    alias: str | None = None
    name, rest = _read_name(item, 0)
    if rest.startswith(":") and not rest.startswith("::"):
        alias = name
        name, rest = _read_name(rest, 1)
    cast: str | None = None
    if rest.startswith("::"):
        cast = rest[2:]
        if not _CAST.match(cast):
            raise bad_query(f'"{cast}" is not a valid cast', "Cast to a type name, e.g. ::text.")
        rest = ""
    if rest:
        raise bad_query(f'"{item}" is not a valid select item')
    if "->" in name and not item.startswith('"'):
        raise bad_query(f'"{item}" is not supported in select', "JSON paths are not supported.")
    if not name:
        raise bad_query(f'"{item}" is not a valid select item')
    if name == "*" and (alias or cast):
        raise bad_query(f'"{item}" is not a valid select item')
    return Field(name, alias, cast)


def _read_name(text: str, start: int) -> tuple[str, str]:
    """A bare or double-quoted name at text[start:] -> (name, the rest after it)."""
    if start < len(text) and text[start] == '"':
        name, end = read_quoted(text, start)
        return name, text[end:]
    end = text.find(":", start)
    if end == -1:
        return text[start:], ""
    return text[start:end], text[end:]


def parse_order(text: str) -> list[OrderTerm]:
    terms: list[OrderTerm] = []
    for raw in split_top(text, "order"):
        item = raw.strip()
        if item.startswith('"'):
            column, end = read_quoted(item, 0)
            modifiers = item[end:]
            if modifiers and not modifiers.startswith("."):
                raise bad_query(f'"{item}" is not a valid order item')
            parts = modifiers[1:].split(".") if modifiers else []
        else:
            column, *parts = item.split(".")
        if not column:
            raise bad_query(f'"{text}" is not a valid order', "Write order=col.desc,other.asc.")
        descending = False
        nulls: Literal["first", "last"] | None = None
        seen_direction = seen_nulls = False
        for part in parts:
            if part in ("asc", "desc") and not seen_direction and not seen_nulls:
                descending, seen_direction = part == "desc", True
            elif part in ("nullsfirst", "nullslast") and not seen_nulls:
                nulls, seen_nulls = ("first" if part == "nullsfirst" else "last"), True
            else:
                raise bad_query(
                    f'"{item}" is not a valid order item',
                    "Write col, col.asc, col.desc, optionally followed by .nullsfirst or "
                    ".nullslast.",
                )
        terms.append(OrderTerm(column, descending, nulls))
    return terms
