"""The schema cache: the views, functions and their types of the exposed schema (`public`), and
the relationships between its views that resource embedding follows (relationships.py), read
from pg_catalog (catalog.sql) by the node's own role, kept per process and database
(`schema_cache`), and read again when a request or a Realtime binding names something it does not
hold, or after the database said something it named is gone. One cache serves both surfaces that
read the exposed schema: /rest/v1 (its reads and calls) and Realtime (its bindings' columns and
their types, the columns of each postgres_changes row), so a reload serves both.
"""

import asyncio
import difflib
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from litestar.datastructures import State
from psycopg import sql

from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.sql_files import statements
from wagerbase.surfaces.postgrest.relationships import (
    Exposed,
    ForeignKey,
    Relationship,
    find,
    infer,
)

SCHEMA = "public"
# the types whose values are JSON numbers (an array of them is named `_<type>`)
NUMERIC_TYPES = frozenset({"int2", "int4", "int8", "numeric", "float4", "float8"})
QUERIES = statements(__package__, "catalog.sql")
STALE_SQLSTATES = frozenset({"42P01", "42883", "42703"})  # something the cache named is gone


@dataclass(frozen=True)
class Column:
    """A column of a relation (or of the rows a function returns), and its type."""

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
    relationships: dict[str, list[Relationship]] = field(default_factory=dict)


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
    exposed: list[Exposed] = []
    for row in await (await conn.execute(QUERIES["relations"], {"schema": SCHEMA})).fetchall():
        columns = {c[0]: _column(c) for c in row["columns"]}
        relations[row["name"]] = Relation(row["name"], row["kind"], columns)
        numbers = {int(c[3]): c[0] for c in row["columns"]}
        exposed.append(Exposed(row["name"], row["oid"], row["kind"] in ("v", "m"), numbers))
    functions: dict[str, list[Function]] = {}
    for row in await (await conn.execute(QUERIES["functions"], {"schema": SCHEMA})).fetchall():
        functions.setdefault(row["name"], []).append(_function(row))
    keys = [
        ForeignKey(
            row["name"],
            row["table_oid"],
            tuple(row["columns"]),
            row["foreign_oid"],
            tuple(row["foreign_columns"]),
            row["one_to_one"],
        )
        for row in await (await conn.execute(QUERIES["foreign_keys"])).fetchall()
    ]
    query = QUERIES["view_definitions"]
    rows = await (await conn.execute(query, {"schema": SCHEMA})).fetchall()
    definitions = {row["oid"]: row["definition"] for row in rows}
    # reading the views' query trees takes tens of milliseconds: off the event loop
    relationships = await asyncio.to_thread(infer, exposed, keys, definitions)
    return Catalog(relations, functions, relationships)


class SchemaCache:
    """Views and functions of `public`, loaded once and read again when a request names one it
    does not hold (at most once a second for such misses, so unknown names cannot make every
    request read the catalog), or at once after `invalidate()`."""

    MISS_RELOAD_SECONDS = 1.0

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Read the catalog again on next use (the database said something it named is gone)."""
        if not self._recent():
            self._catalog = None

    async def _current(self, db: Database, *, reload_from: Catalog | None = None) -> Catalog:
        """The catalog; with `reload_from` (the one that missed) a newer one if it may be."""
        catalog = self._catalog
        if catalog is not None and (catalog is not reload_from or self._recent()):
            return catalog
        async with self._lock:
            catalog = self._catalog
            if catalog is not None and (catalog is not reload_from or self._recent()):
                return catalog  # another request reloaded it meanwhile
            async with db.as_server() as conn:
                catalog = await load_catalog(conn)
            self._catalog, self._loaded_at = catalog, time.monotonic()
            return catalog

    def _recent(self) -> bool:
        return time.monotonic() - self._loaded_at < self.MISS_RELOAD_SECONDS

    async def relation(self, db: Database, name: str, columns: Iterable[str] = ()) -> Relation:
        """The relation `name`, reloading the catalog if it lacks it or one of `columns`."""
        wanted = set(columns)
        catalog = await self._current(db)
        known = catalog.relations.get(name)
        if known is None or not wanted <= known.columns.keys():
            catalog = await self._current(db, reload_from=catalog)
        relation = catalog.relations.get(name)
        if relation is None:
            close = difflib.get_close_matches(name, list(catalog.relations), n=1)
            raise ApiError(
                404,
                "PGRST205",
                f"Could not find the table '{SCHEMA}.{name}' in the schema cache",
                hint=f"Perhaps you meant the table '{SCHEMA}.{close[0]}'" if close else None,
            )
        return relation

    async def relationship(
        self, db: Database, origin: str, target: str, hint: str | None
    ) -> Relationship:
        """The relationship `origin?select=target[!hint](..)` names (relationships.find); the
        catalog is read again first if it knows none."""
        catalog = await self._current(db)
        try:
            return find(catalog.relationships, SCHEMA, origin, target, hint)
        except ApiError as exc:
            if exc.code != "PGRST200":
                raise
        catalog = await self._current(db, reload_from=catalog)
        return find(catalog.relationships, SCHEMA, origin, target, hint)

    async def overloads(self, db: Database, name: str) -> list[Function]:
        catalog = await self._current(db)
        return catalog.functions.get(name, [])

    async def function(self, db: Database, name: str, arguments: set[str]) -> Function:
        catalog = await self._current(db)
        found = _resolve(catalog, name, arguments)
        if found is None:
            catalog = await self._current(db, reload_from=catalog)
            found = _resolve(catalog, name, arguments)
        if found is None:
            raise _no_function(catalog, name, arguments)
        return found


def _resolve(catalog: Catalog, name: str, arguments: set[str]) -> Function | None:
    matches = [f for f in catalog.functions.get(name, []) if f.accepts(arguments)]
    # the fewest extra (defaulted) arguments wins, as PostgreSQL's named-notation resolution
    matches.sort(key=lambda f: len(f.arguments))
    return matches[0] if matches else None


def _no_function(catalog: Catalog, name: str, arguments: set[str]) -> ApiError:
    listed = ", ".join(sorted(arguments))
    searched = f"with parameters {listed}" if arguments else "without parameters"
    hint = None
    for candidate in catalog.functions.get(name, []):
        names = ", ".join(arg.name for arg in candidate.arguments)
        hint = f"Perhaps you meant to call the function {SCHEMA}.{name}({names})"
        break
    else:
        close = difflib.get_close_matches(name, list(catalog.functions), n=1)
        if close:
            hint = f"Perhaps you meant to call the function {SCHEMA}.{close[0]}"
    return ApiError(
        404,
        "PGRST202",
        f"Could not find the function {SCHEMA}.{name}({listed}) in the schema cache",
        details=f"Searched for the function {SCHEMA}.{name} {searched} or with a single unnamed "
        "json/jsonb parameter, but no matches were found in the schema cache.",
        hint=hint,
    )


_caches: "weakref.WeakKeyDictionary[Database, SchemaCache]" = weakref.WeakKeyDictionary()


def schema_cache(db: Database) -> SchemaCache:
    """The process's one schema cache of this database, for REST and Realtime alike."""
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = SchemaCache()
    return cache


def provide_schema_cache(state: State) -> SchemaCache:
    db: Database = state.db
    return schema_cache(db)
