"""PostgREST's query-string grammar: what `?select=..&col=op.value&order=..&limit=..` asks for.

Pure parsing, no SQL: the handlers in postgrest.py turn a `ReadQuery` into one statement through
pgrst_sql.py. Anything malformed is a 400 `PGRST100`, as PostgREST answers it.

Supported (SUPABASE_COMPAT.md 3.2):
- `select=*`, `select=a,b`, aliases `alias:col`, casts `col::text`. Resource embedding
  (`market:markets(name)`), spreads, aggregates and JSON paths (`col->key`) are refused.
- filters `col=op.value` with op one of eq, neq, gt, gte, lt, lte, like, ilike, match, imatch,
  in.(a,"b,c"), is.(null|not_null|true|false|unknown), isdistinct, cs, cd, ov; `like(any)`,
  `like(all)` (and ilike/match/imatch) with a `{a,b}` list; `not.` before any of them.
  A column may be filtered many times (the conditions are ANDed). Logic trees `or=(..)`,
  `and=(..)`, `not.or=(..)`, nested `and(..)`/`or(..)`/`not.and(..)` inside.
- `order=col[.asc|.desc][.nullsfirst|.nullslast],..`, `limit=n`, `offset=n`.

Bounded (request_limits.py): logic trees nest at most MAX_LOGIC_DEPTH levels, a query holds at
most MAX_CONDITIONS conditions and MAX_ORDER_TERMS order terms; beyond, a 400 `PGRST100` names
the limit. (The width of `select` is checked where `*` is known: pgrst_sql.py.)
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_CONDITIONS, MAX_LOGIC_DEPTH, MAX_ORDER_TERMS

# op -> needs a value (every op but `is` and `in` takes the raw text after the dot)
COMPARISONS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "isdistinct"}
)
CONTAINMENT = frozenset({"cs", "cd", "ov"})
QUANTIFIABLE = frozenset({"like", "ilike", "match", "imatch"})
REGEX = frozenset({"match", "imatch"})
UNSUPPORTED = frozenset({"fts", "plfts", "phfts", "wfts", "sl", "sr", "nxr", "nxl", "adj"})
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
RESERVED = frozenset({"select", "order", "limit", "offset", "columns", "on_conflict"})
LOGIC_KEYS = frozenset({"and", "or", "not.and", "not.or"})
MAX_BIGINT = 2**63 - 1

_FILTER = re.compile(
    r"^(?P<not>not\.)?(?P<op>[a-z]+)(?:\((?P<mod>[a-z_]+)\))?\.(?P<value>.*)$", re.S
)
_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    """One item of `select`: a column (or `*`), optionally renamed and cast."""

    column: str
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class Condition:
    """`column=[not.]op[(any|all)].value`. `value` is a tuple for `in` and quantified ops."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None


@dataclass(frozen=True)
class Logic:
    """`or=(..)` / `and=(..)`: conditions combined, possibly negated."""

    operator: Literal["and", "or"]
    children: tuple["Condition | Logic", ...]
    negated: bool = False


Predicate = Condition | Logic


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
        yield from _predicate_columns(self.where)
        for term in self.order:
            yield term.column


def _predicate_columns(predicates: Iterable[Predicate]) -> Iterable[str]:
    for predicate in predicates:
        if isinstance(predicate, Logic):
            yield from _predicate_columns(predicate.children)
        else:
            yield predicate.column


def bad_query(message: str, details: str | None = None) -> ApiError:
    return ApiError(status=400, code="PGRST100", message=message, details=details)


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
            where.append(Logic(operator, _parse_logic_body(value, key, 1), negated))
        else:
            column = _column_key(key)
            where.append(parse_filter(column, value))
    conditions = sum(1 for _ in _predicate_columns(where))
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


def _check_regex(pattern: str) -> None:
    """Refuse a `match`/`imatch` pattern with a backreference (`\\1` to `\\9`): PostgreSQL
    matches one by backtracking, in time that can grow exponentially with the text (ten such
    reads once held every connection of a node for hours); without backreferences its engine
    runs in bounded time. The role's statement_timeout still bounds whatever is left."""
    escaped = False
    for char in pattern:
        if escaped and char in "123456789":
            raise bad_query(
                f'"{pattern}" uses a backreference',
                "Backreferences (\\1 to \\9) are not supported in match and imatch patterns: "
                "they can make a match run in exponential time.",
            )
        escaped = not escaped and char == "\\"


def _column_key(key: str) -> str:
    """A filter's column from its query key: a bare name or a double-quoted one."""
    if key.startswith('"'):
        name, end = _read_quoted(key, 0)
        if end != len(key):
            raise bad_query(f'"{key}" is not a valid column name')
        return name
    if not key or "." in key:
        raise bad_query(
            f'"{key}" is not a column',
            "Filters on embedded resources (table.column) are not supported.",
        )
    return key


def parse_filter(column: str, text: str) -> Condition:
    """`[not.]op[(mod)].value` for one column."""
    match = _FILTER.match(text)
    if match is None:
        raise bad_query(
            f'"{text}" is not a valid filter',
            "Expected operator.value, for example eq.5, in.(a,b) or is.null.",
        )
    negated = match["not"] is not None
    op, mod, value = match["op"], match["mod"], match["value"]
    if op in UNSUPPORTED:
        raise bad_query(f'operator "{op}" is not supported by this server')
    if mod is not None:
        if op not in QUANTIFIABLE or mod not in ("any", "all"):
            raise bad_query(f'"{op}({mod})" is not a supported operator')
        quantifier: Literal["any", "all"] = "any" if mod == "any" else "all"
        patterns = _parse_brace_list(value)
        if op in REGEX:
            for pattern in patterns:
                _check_regex(pattern)
        return Condition(column, op, patterns, negated, quantifier)
    if op in REGEX:
        _check_regex(value)
    if op in COMPARISONS or op in CONTAINMENT:
        return Condition(column, op, value, negated)
    if op == "in":
        return Condition(column, op, parse_in_list(value), negated)
    if op == "is":
        lowered = value.lower()
        if lowered not in IS_VALUES:
            raise bad_query(
                f'"{value}" is not valid after is.',
                "Use is.null, is.not_null, is.true, is.false or is.unknown.",
            )
        return Condition(column, op, lowered, negated)
    raise bad_query(f'"{op}" is not a known operator')


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """A double-quoted string starting at text[start] == '"' -> (unescaped, index after it)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise bad_query(f"unterminated double quote in {text!r}")


def _split_top(text: str, what: str) -> list[str]:
    """Split on commas that are outside double quotes and parentheses (quotes kept)."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            _, end = _read_quoted(text, i)
            current.append(text[i:end])
            i = end
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise bad_query(f"unbalanced parentheses in {what}")
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            i += 1
            continue
        current.append(char)
        i += 1
    if depth != 0:
        raise bad_query(f"unbalanced parentheses in {what}")
    items.append("".join(current))
    return items


def _unquote(item: str) -> str:
    if item.startswith('"'):
        value, end = _read_quoted(item, 0)
        if end != len(item):
            raise bad_query(f"unexpected text after a quoted value: {item!r}")
        return value
    return item


def parse_in_list(text: str) -> tuple[str, ...]:
    """`(a,b,"c,d")` -> ('a', 'b', 'c,d'). Elements may be double-quoted with \\ escapes."""
    if len(text) < 2 or not text.startswith("(") or not text.endswith(")"):
        raise bad_query(f'"{text}" is not a valid list', "Write in.(a,b,c).")
    inner = text[1:-1]
    if inner.strip() == "":
        return ()
    return tuple(_unquote(item.strip()) for item in _split_top(inner, "in.(..)"))


def _parse_brace_list(text: str) -> tuple[str, ...]:
    """`{a,b}` (the list of like(any)/like(all)) -> ('a', 'b')."""
    if len(text) < 2 or not text.startswith("{") or not text.endswith("}"):
        raise bad_query(f'"{text}" is not a valid list', "Write like(any).{a*,b*}.")
    inner = text[1:-1]
    if inner.strip() == "":
        return ()
    return tuple(_unquote(item.strip()) for item in _split_top(inner, "{..}"))


def _parse_logic_body(text: str, where: str, depth: int) -> tuple[Predicate, ...]:
    """The conditions of a logic tree at `depth` (1 for the top-level `or=(..)`)."""
    if depth > MAX_LOGIC_DEPTH:
        raise bad_query(
            f"Logic trees may nest at most {MAX_LOGIC_DEPTH} levels deep",
            f'"{where}(..)" is at level {depth}: or, and, not.or and not.and each count as one.',
        )
    if len(text) < 2 or not text.startswith("(") or not text.endswith(")"):
        raise bad_query(f'"{where}={text}" is not a valid logic tree', "Write or=(a.eq.1,b.gt.2).")
    items = _split_top(text[1:-1], where)
    if any(not item.strip() for item in items):
        raise bad_query(f'"{where}={text}" has an empty condition')
    return tuple(_parse_logic_item(item.strip(), depth) for item in items)


def _parse_logic_item(item: str, depth: int) -> Predicate:
    """One element of a logic tree: `col.op.value`, `col.not.op.value` or a nested tree."""
    for prefix, negated in (("not.and", True), ("not.or", True), ("and", False), ("or", False)):
        if item.startswith(prefix + "("):
            operator: Literal["and", "or"] = "or" if prefix.endswith("or") else "and"
            body = _parse_logic_body(item[len(prefix) :], prefix, depth + 1)
            return Logic(operator, body, negated)
    if item.startswith('"'):
        column, end = _read_quoted(item, 0)
        rest = item[end:]
        if not rest.startswith("."):
            raise bad_query(f'"{item}" is not a valid condition')
        rest = rest[1:]
    else:
        column, dot, rest = item.partition(".")
        if not dot or not column:
            raise bad_query(f'"{item}" is not a valid condition', "Write column.operator.value.")
    condition = parse_filter(column, rest)
    if isinstance(condition.value, str) and condition.operator != "is":
        return Condition(
            condition.column,
            condition.operator,
            _unquote(condition.value) if condition.value.startswith('"') else condition.value,
            condition.negated,
            condition.quantifier,
        )
    return condition


def parse_select(text: str) -> tuple[Field, ...]:
    """`*`, `a,b`, `alias:col`, `col::text`; embedding and JSON paths are refused."""
    if text.strip() == "":
        return ()
    fields: list[Field] = []
    for raw in _split_top(text, "select"):
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
            _, i = _read_quoted(text, i)
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
        name, end = _read_quoted(text, start)
        return name, text[end:]
    end = text.find(":", start)
    if end == -1:
        return text[start:], ""
    return text[start:end], text[end:]


def parse_order(text: str) -> list[OrderTerm]:
    terms: list[OrderTerm] = []
    for raw in _split_top(text, "order"):
        item = raw.strip()
        if item.startswith('"'):
            column, end = _read_quoted(item, 0)
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
