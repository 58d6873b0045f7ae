"""What a read asks for, as query.py and selects.py parse it: the columns and embedded resources
of `select`, and for the root and each embedded resource its filters, `order`, `limit` and
`offset`. Plain data, no parsing and no SQL.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from wagerbase.surfaces.postgrest.grammar import Predicate, predicate_columns


@dataclass(frozen=True)
class Field:
    """One column of `select` (or `*`), optionally renamed and cast."""

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
    """What a read (or an embedded resource of one) asks for. `fields` None means `*`."""

    fields: "tuple[Field | Embed, ...] | None" = None
    where: tuple[Predicate, ...] = ()
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int = 0

    @property
    def shapes_rows(self) -> bool:
        """True when the query filters, orders, pages or picks columns (not a bare `*`)."""
        star = self.fields is None or self.fields == (Field("*"),)
        return bool(self.where or self.order or self.limit is not None or self.offset or not star)

    def plain_fields(self) -> tuple[Field, ...]:
        """The columns of `select` (`*` when it names none), embedded resources aside."""
        if self.fields is None:
            return (Field("*"),)
        return tuple(item for item in self.fields if isinstance(item, Field))

    @property
    def embeds(self) -> "tuple[Embed, ...]":
        return tuple(item for item in self.fields or () if isinstance(item, Embed))

    def columns(self) -> Iterable[str]:
        """Every column the query names on its own relation (for checking them against it)."""
        for field in self.plain_fields():
            if field.column != "*":
                yield field.column
        yield from predicate_columns(self.where)
        for term in self.order:
            yield term.column


Presence = Literal["required", "absent"]


@dataclass(frozen=True)
class Embed:
    """An embedded resource of `select`: `[alias:]name[!hint][!inner|!left](items)`, with the
    filters, order and paging the query string gives it (`name.col=eq.1`, `name.order=..`).
    `presence`: the parent row is kept only when it has such a row (`!inner`, or the filter
    `name=not.is.null`) or only when it has none (`name=is.null`)."""

    name: str
    alias: str | None
    hint: str | None
    query: ReadQuery
    presence: Presence | None = None

    @property
    def label(self) -> str:
        """The key it has in each row, and in the query string (`label.order=..`)."""
        return self.alias or self.name

    @property
    def shown(self) -> bool:
        """An embedded resource that selects nothing (`name()`) filters only: it has no key."""
        return self.query.fields != ()


def walk(query: ReadQuery) -> Iterator[tuple[int, Embed]]:
    """Every embedded resource of a query, depth first, each with its depth (1 for the root's)."""

    def visit(node: ReadQuery, depth: int) -> Iterator[tuple[int, Embed]]:
        for embed in node.embeds:
            yield depth, embed
            yield from visit(embed.query, depth + 1)

    yield from visit(query, 1)
