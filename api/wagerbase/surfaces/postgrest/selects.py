"""`select=`: columns, renamed and cast, and embedded resources, as PostgREST reads them
(API "Resource Embedding"):

- `*`, `a,b`, `alias:col`, `col::text`, a double-quoted name (`"a,b"`);
- `[alias:]name[!hint][!inner|!left](items)`: the rows of the view `name` related to each row
  (embedding.py), `items` read as a `select` of its own (`name()` selects nothing: it only
  filters, with `!inner`). The hint names the foreign key, or one of its columns, when two
  views are related in more than one way (relationships.py).

Refused (400): spreads (`...name(..)`, `PGRST100`), aggregates (`count()`, `col.sum()`:
`PGRST123`, as PostgREST answers when aggregates are off, its default) and JSON paths
(`col->key`). Bounded (request_limits.py): embedded resources nest at most MAX_EMBED_DEPTH
levels and a `select` embeds at most MAX_EMBEDS of them in all.
"""

import re

from wagerbase.errors import ApiError
from wagerbase.http.request_limits import MAX_EMBED_DEPTH, MAX_EMBEDS
from wagerbase.surfaces.postgrest.grammar import (
    GrammarError,
    bad_query,
    failed_to_parse,
    not_supported,
    over_limit,
    read_quoted,
    split_top,
)
from wagerbase.surfaces.postgrest.shapes import Embed, Field, ReadQuery, walk

_CAST = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGGREGATES = frozenset({"count", "sum", "avg", "max", "min"})


def parse_select(text: str) -> tuple[Field | Embed, ...]:
    """`select`'s items (embedded resources with their own items), checked against the
    limits; a malformed one is a 400 `PGRST100` naming the text, as PostgREST words it."""
    try:
        items = _items(text, 1)
    except GrammarError as exc:
        raise failed_to_parse("select parameter", text, exc) from None
    embeds = list(walk(ReadQuery(items)))
    if len(embeds) > MAX_EMBEDS:
        raise over_limit(
            f"select may embed at most {MAX_EMBEDS} resources",
            f"This one embeds {len(embeds)}, nested ones included.",
        )
    return items


def _items(text: str, depth: int) -> tuple[Field | Embed, ...]:
    if text.strip() == "":
        return ()
    items: list[Field | Embed] = []
    for raw in split_top(text, "select"):
        item = raw.strip()
        if not item:
            raise bad_query("an empty item", "Separate the items of select with single commas.")
        if item.startswith(".."):
            raise not_supported(
                f'"{item}" is a spread',
                "Spreads (...name(..)) are not supported by this server; embed the resource "
                "instead (name(..)).",
            )
        opening = _outside_quotes(item).find("(")
        if opening == -1:
            items.append(_field(item))
        else:
            items.append(_embed(item, opening, depth))
    return tuple(items)


def _outside_quotes(text: str) -> str:
    """The text with every double-quoted part blanked (same length, so indexes still hold)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == '"':
            _, end = read_quoted(text, i)
            out.append(" " * (end - i))
            i = end
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _embed(item: str, opening: int, depth: int) -> Embed:
    if not item.endswith(")"):
        raise bad_query(f'"{item}" has text after its closing parenthesis')
    head, inner = item[:opening].strip(), item[opening + 1 : -1]
    name, rest = _read_name(head, 0, ":!")
    alias: str | None = None
    if rest.startswith(":") and not rest.startswith("::"):
        alias = name
        name, rest = _read_name(rest, 1, ":!")
    if "." in name and not head.endswith('"'):
        _refuse_aggregate(item, name.rpartition(".")[2])
    if name in _AGGREGATES and not inner.strip() and not rest:
        _refuse_aggregate(item, name)
    hint: str | None = None
    join: str | None = None
    while rest:
        if not rest.startswith("!"):
            raise bad_query(f'"{head}" is not a valid embedded resource', _EMBED_FORM)
        word, rest = _read_name(rest, 1, "!")
        if word in ("inner", "left") and join is None:
            join = word
        elif hint is None and word not in ("inner", "left"):
            hint = word
        else:
            raise bad_query(f'"{head}" is not a valid embedded resource', _EMBED_FORM)
    if not name or (alias is not None and not alias):
        raise bad_query(f'"{head}" is not a valid embedded resource', _EMBED_FORM)
    if depth > MAX_EMBED_DEPTH:
        raise over_limit(
            f"Embedded resources may nest at most {MAX_EMBED_DEPTH} levels deep",
            f'"{name}" is at level {depth}.',
        )
    query = ReadQuery(_items(inner, depth + 1))
    return Embed(name, alias, hint, query, "required" if join == "inner" else None)


_EMBED_FORM = "Write [alias:]name[!hint][!inner](columns), for example market:markets(title)."


def _refuse_aggregate(item: str, function: str) -> None:
    if function in _AGGREGATES:
        raise ApiError(
            400,
            "PGRST123",
            "Use of aggregate functions is not allowed",
            details=f'"{item}" is an aggregate: this server answers rows, not aggregates.',
        )


def _field(item: str) -> Field:
    alias: str | None = None
    name, rest = _read_name(item, 0, ":")
    if rest.startswith(":") and not rest.startswith("::"):
        alias = name
        name, rest = _read_name(rest, 1, ":")
    cast: str | None = None
    if rest.startswith("::"):
        cast = rest[2:]
        if not _CAST.match(cast):
            raise bad_query(f'"{cast}" is not a valid cast', "Cast to a type name, e.g. ::text.")
        rest = ""
    if rest:
        raise bad_query(f'"{item}" is not a valid select item')
    if "->" in name and not item.startswith('"'):
        raise not_supported(f'"{item}" uses a JSON path', "JSON paths are not supported.")
    if not name or "!" in name or ")" in name:
        raise bad_query(f'"{item}" is not a valid select item')
    if name == "*" and (alias or cast):
        raise bad_query(f'"{item}" is not a valid select item')
    return Field(name, alias, cast)


def _read_name(text: str, start: int, stops: str) -> tuple[str, str]:
    """A bare or double-quoted name at text[start:] -> (name, the rest after it); a bare name
    ends at the first of `stops`."""
    if start < len(text) and text[start] == '"':
        name, end = read_quoted(text, start)
        return name, text[end:]
    ends = [i for i in (text.find(stop, start) for stop in stops) if i != -1]
    end = min(ends, default=len(text))
    return text[start:end].strip(), text[end:]
