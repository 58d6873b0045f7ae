"""Where the columns of a view come from: read from the view's query tree (`pg_rewrite.ev_action`,
PostgreSQL's text form of a parsed query, `pg_node_tree`), as PostgREST reads it to infer the
relationships of views (relationships.py).

PostgreSQL's parser records, for each output column of a query that is a plain column
reference, the table and column it comes from (`:resorigtbl` and `:resorigcol` of the query's
top-level target entries), through joins, subqueries and CTEs; a column that is computed has
none (0). A column of a view over another view names that view: the caller follows the chain
(`resolve`).

The text is read by the rules of PostgreSQL's own reader (`pg_strtok`, src/backend/nodes/read.c):
tokens are separated by whitespace and by the one-character tokens `(`, `)`, `{`, `}`; a
backslash makes the next character part of the token; `<>` is a null. A node is `{NAME :field
value ...}`, a list is `(...)`. Only the first query's target entries are read.
"""

import re
from collections.abc import Iterator, Mapping

_TOKENS = re.compile(r"[(){}]|(?:\\.|[^\s(){}\\])+", re.S)

Origin = tuple[int, int]  # (relation oid, column number); (0, 0) for a computed column


class _Reader:
    """A cursor over the tokens of a pg_node_tree text."""

    def __init__(self, text: str) -> None:
        self.tokens: Iterator[str] = iter(_TOKENS.findall(text))
        self.pending: str | None = None

    def next(self) -> str | None:
        if self.pending is not None:
            token, self.pending = self.pending, None
            return token
        return next(self.tokens, None)

    def push(self, token: str) -> None:
        self.pending = token

    def skip(self, opening: str) -> None:
        """Skip to the end of the node or list just opened with `opening`."""
        depth = 1
        while depth:
            token = self.next()
            if token is None:
                return
            if token in ("{", "("):
                depth += 1
            elif token in ("}", ")"):
                depth -= 1


def _fields(reader: _Reader, wanted: frozenset[str]) -> dict[str, str | list[dict[str, str]]]:
    """The fields of the node just opened (after its `{`): the scalar ones named in `wanted`,
    and `:targetList` as a list of target entries' scalar fields; everything else skipped."""
    found: dict[str, str | list[dict[str, str]]] = {}
    reader.next()  # the node's name
    while True:
        token = reader.next()
        if token is None or token == "}":
            return found
        if not token.startswith(":"):
            if token in ("{", "("):
                reader.skip(token)  # an extra value of the field before (never nested)
            continue
        name = token[1:]
        value = reader.next()
        if value is None:
            return found
        if name == "targetList" and value == "(":
            found[name] = _entries(reader)
        elif value in ("{", "("):
            reader.skip(value)
        elif name in wanted:
            found[name] = value
        # a field's value is one token, but for a datum (`:constvalue 4 [ 1 0 0 0 ]`): the
        # tokens after it are read, and passed over, by the loop as values of no field


def _entries(reader: _Reader) -> list[dict[str, str]]:
    """The target entries of a `:targetList (...)` just opened."""
    entries: list[dict[str, str]] = []
    while True:
        token = reader.next()
        if token is None or token == ")":
            return entries
        if token == "{":
            fields = _fields(reader, _ENTRY_FIELDS)
            entries.append({k: v for k, v in fields.items() if isinstance(v, str)})
        elif token == "(":
            reader.skip(token)


_ENTRY_FIELDS = frozenset({"resno", "resorigtbl", "resorigcol", "resjunk"})


def target_origins(definition: str) -> dict[int, Origin]:
    """A view's columns (by number) and the relation column each comes from, from the view's
    `ev_action` text; a computed column is left out."""
    reader = _Reader(definition)
    if reader.next() != "(" or reader.next() != "{":
        return {}
    query = _fields(reader, frozenset())
    entries = query.get("targetList")
    origins: dict[int, Origin] = {}
    if not isinstance(entries, list):
        return origins
    for entry in entries:
        try:
            resno = int(entry["resno"])
            table, column = int(entry["resorigtbl"]), int(entry["resorigcol"])
        except (KeyError, ValueError):
            continue
        if entry.get("resjunk") != "true" and table and column:
            origins[resno] = (table, column)
    return origins


def resolve(views: Mapping[int, Mapping[int, Origin]], origin: Origin) -> Origin | None:
    """The table column a column comes from, following views of views (`views`: each view's
    origins by column number); None for a computed column anywhere on the way."""
    seen: set[int] = set()
    relation, column = origin
    while relation in views:
        if relation in seen:
            return None  # a cycle cannot be, but a bad catalog read must not loop
        seen.add(relation)
        step = views[relation].get(column)
        if step is None:
            return None
        relation, column = step
    return relation, column
