"""A read's query string: what `?select=..&col=op.value&order=..&limit=..` asks for, for the
read and for each resource it embeds (`outcomes.order=position`, `outcomes.label=eq.Red`).

Pure parsing, no SQL: the filters are grammar.py's, `select` is selects.py's, the rest (`order`,
`limit`, `offset`, and which embedded resource a key is for) is here; statements.py and
embedding.py turn a `ReadQuery` into one statement. Anything malformed is a 400 `PGRST100`, its
message naming what failed to parse as PostgREST's does (`"failed to parse filter (eq)"`).

Supported (SUPABASE_COMPAT.md 3.2; docs/rest.md):
- `select` (selects.py): columns, aliases, casts, embedded resources.
- filters (grammar.py); a column may be filtered many times (the conditions are ANDed). Logic
  trees `or=(..)`, `and=(..)`, `not.or=(..)`.
- `order=col[.asc|.desc][.nullsfirst|.nullslast],..`, `limit=n`, `offset=n`.
- each of those but `select` for an embedded resource, its label first (`outcomes.order=..`,
  `outcomes.limit=1`, `outcomes.or=(..)`, `outcomes.wagers.stake=gt.5`); a key whose path is no
  embedded resource of `select` is a 400 `PGRST108`. `label=not.is.null` keeps the rows that
  have such a resource, `label=is.null` those that have none (any other operator on a label is a
  400 `PGRST120`), as PostgREST reads them.

Bounded (request_limits.py): a query holds at most MAX_CONDITIONS conditions and MAX_ORDER_TERMS
order terms, every embedded resource's included; beyond, a 400 `PGRST100` names the limit. (The
width of `select` is checked where `*` is known: compiler.py.)
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_CONDITIONS, MAX_ORDER_TERMS
from wagerbase.surfaces.postgrest.grammar import (
    Condition,
    GrammarError,
    Logic,
    Predicate,
    bad_query,
    failed_to_parse,
    not_supported,
    over_limit,
    parse_filter,
    parse_logic_body,
    predicate_columns,
    read_quoted,
    split_top,
)
from wagerbase.surfaces.postgrest.selects import parse_select
from wagerbase.surfaces.postgrest.shapes import (
    Embed,
    Field,
    OrderTerm,
    Presence,
    ReadQuery,
)

__all__ = ["Embed", "Field", "OrderTerm", "ReadQuery", "parse_read_query", "parse_select"]

RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
LOGIC_KEYS = frozenset({"and", "or", "not.and", "not.or"})
MAX_BIGINT = 2**63 - 1
Path = tuple[str, ...]


@dataclass
class _Params:
    """What the query string asks of one resource (the read's, or an embedded one's)."""

    where: list[Predicate] = field(default_factory=list)
    order: list[OrderTerm] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def parse_read_query(params: Iterable[tuple[str, str]]) -> ReadQuery:
    """Parse the query string's (key, value) pairs, in order, repeated keys kept."""
    fields: tuple[Field | Embed, ...] | None = None
    by_path: dict[Path, _Params] = {}
    for key, value in params:
        if key == "select":
            fields = parse_select(value)
            continue
        if key in ("columns", "on_conflict"):
            continue  # write-only parameters; reads ignore them as PostgREST does
        path, last = _key_path(key)
        own = by_path.setdefault(path, _Params())
        if last == "order":
            own.order.extend(_order(value))
        elif last == "limit":
            own.limit = _non_negative(last, value)
        elif last == "offset":
            own.offset = _non_negative(last, value)
        elif last in LOGIC_KEYS:
            negated = last.startswith("not.")
            operator: Literal["and", "or"] = "or" if last.endswith("or") else "and"
            try:
                body = parse_logic_body(value, last, 1)
            except GrammarError as exc:
                raise failed_to_parse("logic tree", value, exc) from None
            own.where.append(Logic(operator, body, negated))
        else:
            try:
                own.where.append(parse_filter(last, value))
            except GrammarError as exc:
                raise failed_to_parse("filter", value, exc) from None
    conditions = sum(1 for own in by_path.values() for _ in predicate_columns(own.where))
    if conditions > MAX_CONDITIONS:
        raise over_limit(
            f"A query may hold at most {MAX_CONDITIONS} filter conditions",
            f"This one holds {conditions}, those inside or=/and= trees included.",
        )
    terms = sum(len(own.order) for own in by_path.values())
    if terms > MAX_ORDER_TERMS:
        raise over_limit(
            f"order may hold at most {MAX_ORDER_TERMS} terms",
            f"This query orders by {terms} terms.",
        )
    query = _attach(fields, by_path, ())
    for path in by_path:
        raise _not_embedded(fields, path)
    return query


def _key_path(key: str) -> tuple[Path, str]:
    """A key's embedded resource (the labels before its last part) and its last part: a column,
    `order`, `limit`, `offset` or a logic key (`or`, `not.or`, ...)."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    try:
        while i < len(key):
            if key[i] == '"' and not current:
                name, i = read_quoted(key, i)
                if i < len(key) and key[i] != ".":
                    raise bad_query(f"text after a quoted name in {key!r}")
                parts.append(name)
                i += 1
                if i == len(key):
                    return _split_last(key, parts)
                continue
            if key[i] == ".":
                parts.append("".join(current))
                current = []
            else:
                current.append(key[i])
            i += 1
        parts.append("".join(current))
        return _split_last(key, parts)
    except GrammarError as exc:
        raise failed_to_parse("tree path", key, exc) from None


def _split_last(key: str, parts: list[str]) -> tuple[Path, str]:
    if any(part == "" for part in parts):
        raise bad_query(f'"{key}" has an empty name', "Write column or label.column.")
    if parts[-1] in ("and", "or") and "not" in parts[:-1]:
        path = tuple(part for part in parts[:-1] if part != "not")
        return path, f"not.{parts[-1]}"
    return tuple(parts[:-1]), parts[-1]


def _attach(
    fields: tuple[Field | Embed, ...] | None, by_path: dict[Path, _Params], path: Path
) -> ReadQuery:
    """The ReadQuery of the resource at `path`: its `select`, and what the query string asks of
    it; each embedded resource with its own (taken out of `by_path`)."""
    own = by_path.pop(path, None) or _Params()
    labels: dict[str, Embed] = {}
    for item in fields or ():
        if isinstance(item, Embed):
            if item.label in labels:
                raise bad_query(
                    f"'{item.label}' is embedded twice in select",
                    "Give each a label of its own: first:name(..),second:name(..).",
                )
            labels[item.label] = item
    where: list[Predicate] = []
    presence: dict[str, Presence] = {}
    for predicate in own.where:
        if isinstance(predicate, Condition) and predicate.column in labels:
            presence[predicate.column] = _presence(predicate)
        else:
            where.append(predicate)
    items: list[Field | Embed] = []
    for item in fields or ():
        if isinstance(item, Embed):
            query = _attach(item.query.fields, by_path, (*path, item.label))
            item = replace(item, query=query, presence=presence.get(item.label, item.presence))
        items.append(item)
    return ReadQuery(
        None if fields is None else tuple(items),
        tuple(where),
        tuple(own.order),
        own.limit,
        own.offset,
    )


def _presence(condition: Condition) -> Presence:
    """`label=is.null` (no such row) or `label=not.is.null` (at least one)."""
    if condition.operator != "is" or condition.value != "null" or condition.quantifier:
        raise ApiError(
            400,
            "PGRST120",
            f"Bad operator on the '{condition.column}' embedded resource",
            details="Only is null or not is null filters are allowed on embedded resources",
        )
    return "required" if condition.negated else "absent"


def _not_embedded(fields: tuple[Field | Embed, ...] | None, path: Path) -> ApiError:
    """PostgREST's answer to a key for a resource `select` does not embed: the first label of
    its path that is not embedded there."""
    items = fields or ()
    for label in path:
        found = next((e for e in items if isinstance(e, Embed) and e.label == label), None)
        if found is None:
            return ApiError(
                400,
                "PGRST108",
                f"'{label}' is not an embedded resource in this request",
                hint=f"Verify that '{label}' is included in the 'select' query parameter.",
            )
        items = found.query.fields or ()
    raise AssertionError(f"{path} is embedded")


def _non_negative(key: str, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_BIGINT:
        raise bad_query(f'"{value}" is not a valid {key}', f"{key} must be a whole number >= 0")
    return int(text)


def _order(text: str) -> list[OrderTerm]:
    try:
        return parse_order(text)
    except GrammarError as exc:
        raise failed_to_parse("order", text, exc) from None


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
            if "(" in column:
                raise not_supported(
                    f'"{item}" orders by a column of an embedded resource',
                    "Ordering by an embedded resource's column is not supported by this server: "
                    "order the embedded rows with label.order=col, or read that view.",
                )
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
