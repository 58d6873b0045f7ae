"""PostgREST's filter grammar: `col=[not.]op.value`, lists, quoting and logic trees. The one
grammar of both surfaces that filter: /rest/v1's query strings (query.py reads the rest of them:
`select`, `order`, `limit`, `offset`) and the `filter` of a Realtime postgres_changes binding
(surfaces/realtime/bindings.py, whose clauses are read as the items of a logic tree are).

Pure parsing, no SQL: compiler.py turns what it parses into SQL. Anything malformed is a
GrammarError: a 400 `PGRST100` on REST, as PostgREST answers it; a refused binding on Realtime.

Quoting, as PostgREST documents it (URL grammar, "Reserved characters"): an element of an
`in.(..)` list, of a `{..}` list or of a logic tree that holds `,`, `.`, `:` or parentheses is
double-quoted, and inside the quotes a backslash escapes any character (`\"`, `\\`). A list
element may be empty (`in.(a,,b)` holds "", as in PostgREST). The value of a top-level filter
(`col=eq.value`) is taken as it is, quotes included.

Supported (SUPABASE_COMPAT.md 3.2):
- filters `col=op.value` with op one of eq, neq, gt, gte, lt, lte, like, ilike, match, imatch,
  in.(a,"b,c"), is.(null|not_null|true|false|unknown), isdistinct, cs, cd, ov; `like(any)`,
  `like(all)` (and ilike/match/imatch) with a `{a,b}` list; full-text search `fts`, `plfts`,
  `phfts`, `wfts`, each with an optional text search configuration (`fts(english).word`);
  `not.` before any of them. (Realtime takes fewer: bindings.py names them.)
- logic trees `or=(..)`, `and=(..)`, `not.or=(..)`, nested `and(..)`/`or(..)`/`not.and(..)`
  inside.

Bounded (request_limits.py): logic trees nest at most MAX_LOGIC_DEPTH levels; beyond, a 400
`PGRST100` names the limit.
"""

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_LOGIC_DEPTH

# op -> needs a value (every op but `is` and `in` takes the raw text after the dot)
COMPARISONS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "isdistinct"}
)
CONTAINMENT = frozenset({"cs", "cd", "ov"})
QUANTIFIABLE = frozenset({"like", "ilike", "match", "imatch"})
REGEX = frozenset({"match", "imatch"})
# full-text search: the query function each applies to the value (to_tsquery for `fts`)
FULL_TEXT = frozenset({"fts", "plfts", "phfts", "wfts"})
UNSUPPORTED = frozenset({"sl", "sr", "nxr", "nxl", "adj"})
IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})

_FILTER = re.compile(
    r"^(?P<not>not\.)?(?P<op>[a-z]+)(?:\((?P<mod>[A-Za-z0-9_]+)\))?\.(?P<value>.*)$", re.S
)


@dataclass(frozen=True)
class Condition:
    """`column=[not.]op[(any|all)].value`. `value` is a tuple for `in` and quantified ops;
    `language` is a full-text search's configuration (`fts(english)`), if named."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    language: str | None = None


@dataclass(frozen=True)
class Logic:
    """`or=(..)` / `and=(..)`: conditions combined, possibly negated."""

    operator: Literal["and", "or"]
    children: tuple["Condition | Logic", ...]
    negated: bool = False


Predicate = Condition | Logic


def predicate_columns(predicates: Iterable[Predicate]) -> Iterable[str]:
    for predicate in predicates:
        if isinstance(predicate, Logic):
            yield from predicate_columns(predicate.children)
        else:
            yield predicate.column


class GrammarError(ApiError):
    """Text the grammar cannot read: `message` says what and `details` how to write it."""


class NotSupported(GrammarError):
    """Text PostgREST would read that this server does not take (a spread, a range operator):
    its message says so, never "failed to parse"."""


class OverLimit(GrammarError):
    """Text that reads, but asks for more than a limit allows (request_limits.py): its message
    names the limit."""


@dataclass
class UnsupportedOperator(NotSupported):
    """An operator the reader does not take (`operator` is its name)."""

    operator: str = ""


def bad_query(message: str, details: str | None = None) -> GrammarError:
    return GrammarError(status=400, code="PGRST100", message=message, details=details)


def not_supported(message: str, details: str | None = None) -> NotSupported:
    return NotSupported(status=400, code="PGRST100", message=message, details=details)


def over_limit(message: str, details: str | None = None) -> OverLimit:
    return OverLimit(status=400, code="PGRST100", message=message, details=details)


def failed_to_parse(what: str, text: str, exc: GrammarError) -> GrammarError:
    """A malformed part of a query string as PostgREST words it, `"failed to parse filter
    (eq.x" ...)`, with what was wrong in `details` (PostgREST's parser adds the position, `(line
    1, column 5)`, and its own expectation there; this one says it in words). A refusal that is
    not about the syntax (a limit, something not supported) passes unchanged."""
    if isinstance(exc, NotSupported | OverLimit):
        return exc
    details = exc.message if exc.details is None else f"{exc.message}. {exc.details}"
    return bad_query(f'"failed to parse {what} ({text})"', details)


def _check_regex(pattern: str) -> None:
    """Refuse a `match`/`imatch` pattern with a backreference (`\\1` to `\\9`): PostgreSQL
    matches one by backtracking, in time that can grow exponentially with the text (ten such
    reads once held every connection of a node for hours); without backreferences its engine
    runs in bounded time. The role's statement_timeout still bounds whatever is left."""
    escaped = False
    for char in pattern:
        if escaped and char in "123456789":
            raise not_supported(
                f'"{pattern}" uses a backreference',
                "Backreferences (\\1 to \\9) are not supported in match and imatch patterns: "
                "they can make a match run in exponential time.",
            )
        escaped = not escaped and char == "\\"


def parse_filter(column: str, text: str, operators: Collection[str] | None = None) -> Condition:
    """`[not.]op[(mod)].value` for one column; with `operators`, an operator not among them is an
    UnsupportedOperator."""
    match = _FILTER.match(text)
    if match is None:
        raise bad_query(
            f'"{text}" is not a valid filter',
            "Expected operator.value, for example eq.5, in.(a,b) or is.null.",
        )
    negated = match["not"] is not None
    op, mod, value = match["op"], match["mod"], match["value"]
    if operators is not None and op not in operators:
        raise UnsupportedOperator(400, "PGRST100", f'operator "{op}" is not supported', operator=op)
    if op in UNSUPPORTED:
        raise UnsupportedOperator(
            400, "PGRST100", f'operator "{op}" is not supported by this server', operator=op
        )
    if op in FULL_TEXT:
        return Condition(column, op, value, negated, language=mod)
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
    raise bad_query(f"unknown single value operator {op}")


def read_quoted(text: str, start: int) -> tuple[str, int]:
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


def split_top(text: str, what: str) -> list[str]:
    """Split on commas that are outside double quotes and parentheses (quotes kept)."""
    items: list[str] = []
    depth = 0
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            _, end = read_quoted(text, i)
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


def unquote(item: str) -> str:
    if item.startswith('"'):
        value, end = read_quoted(item, 0)
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
    return tuple(unquote(item.strip()) for item in split_top(inner, "in.(..)"))


def _parse_brace_list(text: str) -> tuple[str, ...]:
    """`{a,b}` (the list of like(any)/like(all)) -> ('a', 'b')."""
    if len(text) < 2 or not text.startswith("{") or not text.endswith("}"):
        raise bad_query(f'"{text}" is not a valid list', "Write like(any).{a*,b*}.")
    inner = text[1:-1]
    if inner.strip() == "":
        return ()
    return tuple(unquote(item.strip()) for item in split_top(inner, "{..}"))


def parse_logic_body(text: str, where: str, depth: int) -> tuple[Predicate, ...]:
    """The conditions of a logic tree at `depth` (1 for the top-level `or=(..)`)."""
    if depth > MAX_LOGIC_DEPTH:
        raise over_limit(
            f"Logic trees may nest at most {MAX_LOGIC_DEPTH} levels deep",
            f'"{where}(..)" is at level {depth}: or, and, not.or and not.and each count as one.',
        )
    if len(text) < 2 or not text.startswith("(") or not text.endswith(")"):
        raise bad_query(f'"{where}={text}" is not a valid logic tree', "Write or=(a.eq.1,b.gt.2).")
    items = split_top(text[1:-1], where)
    if any(not item.strip() for item in items):
        raise bad_query(f'"{where}={text}" has an empty condition')
    return tuple(_parse_logic_item(item.strip(), depth) for item in items)


def _parse_logic_item(item: str, depth: int) -> Predicate:
    """One element of a logic tree: `col.op.value`, `col.not.op.value` or a nested tree."""
    for prefix, negated in (("not.and", True), ("not.or", True), ("and", False), ("or", False)):
        if item.startswith(prefix + "("):
            operator: Literal["and", "or"] = "or" if prefix.endswith("or") else "and"
            body = parse_logic_body(item[len(prefix) :], prefix, depth + 1)
            return Logic(operator, body, negated)
    column, rest = split_condition(item, ".", "Write column.operator.value.")
    return listed_condition(column, rest)


def split_condition(item: str, separator: str, hint: str) -> tuple[str, str]:
    """`column<separator>rest` -> (column, rest); the column bare (up to the first separator)
    or double-quoted. `hint` says how to write one."""
    if item.startswith('"'):
        column, end = read_quoted(item, 0)
        rest = item[end:]
        if not rest.startswith(separator):
            raise bad_query(f'"{item}" is not a valid condition')
        return column, rest[len(separator) :]
    column, found, rest = item.partition(separator)
    if not found or not column:
        raise bad_query(f'"{item}" is not a valid condition', hint)
    return column, rest


def listed_condition(column: str, text: str, operators: Collection[str] | None = None) -> Condition:
    """A condition that is an item of a list (a logic tree's, a Realtime filter's): as
    parse_filter reads it, and a double-quoted value unquoted (PostgREST's reserved
    characters)."""
    condition = parse_filter(column, text, operators)
    value = condition.value
    if isinstance(value, str) and condition.operator != "is" and value.startswith('"'):
        return replace(condition, value=unquote(value))
    return condition
