"""The relationships between the relations of `public` that resource embedding follows
(embedding.py), inferred as PostgREST infers them (API "Resource Embedding", "Embedding Views"):

- every foreign key between two tables is a many-to-one relationship from the referencing table
  to the referenced one (one-to-one when its columns are also a primary key or unique), and the
  inverse one-to-many (or one-to-one);
- a view stands for a table in them when its columns come from the key's columns, every one of
  them (view_origins.py reads where each column of a view comes from, through views of views);
  so `public.outcomes(market_id)` -> `public.markets(id)` from `app.outcomes`' foreign key.

PostgREST follows only views of the exposed schemas (and its extra search path) on the way down
to the tables; this follows views of any schema (`public.outcomes` is a view of
`app.outcome_quotes`, itself a view of `app.outcomes`). Many-to-many relationships through a
junction table are not inferred: no view here has the primary key PostgREST would need.

`find` chooses the relationship an embedded resource names, as PostgREST's `findRel` does: by
the target's name, narrowed by a hint (`outcomes!outcomes_market_id_fkey`, or one column of the
key, `outcomes!market_id`); none is a 400 `PGRST200`, more than one a 300 `PGRST201` whose hint
lists the ways to name each.
"""

import difflib
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wagerbase.errors import ApiError
from wagerbase.surfaces.postgrest.view_origins import Origin, resolve, target_origins

Cardinality = Literal["many-to-one", "one-to-many", "one-to-one"]


@dataclass(frozen=True)
class Relationship:
    """`origin` rows relate to `target` rows where each (origin column, target column) pair of
    `columns` is equal; the foreign key `constraint` is why."""

    origin: str
    target: str
    cardinality: Cardinality
    constraint: str
    columns: tuple[tuple[str, str], ...]
    target_is_view: bool = True

    @property
    def to_one(self) -> bool:
        """Embedded as one object (or null), not an array."""
        return self.cardinality != "one-to-many"

    def described(self) -> dict[str, str]:
        """As PostgREST describes a candidate in PGRST201's details."""

        def listed(names: Iterable[str]) -> str:
            return "(" + ", ".join(names) + ")"

        return {
            "cardinality": self.cardinality,
            "embedding": f"{self.origin} with {self.target}",
            "relationship": f"{self.constraint} using {self.origin}"
            f"{listed(c for c, _ in self.columns)} and {self.target}"
            f"{listed(t for _, t in self.columns)}",
        }


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: int  # oid
    columns: tuple[int, ...]  # column numbers
    foreign_table: int
    foreign_columns: tuple[int, ...]
    one_to_one: bool


@dataclass(frozen=True)
class Exposed:
    """A relation of the exposed schema: its oid, whether it is a view, its columns by number."""

    name: str
    oid: int
    is_view: bool
    columns: dict[int, str]


def infer(
    exposed: Iterable[Exposed],
    keys: Iterable[ForeignKey],
    definitions: Mapping[int, str],
) -> dict[str, list[Relationship]]:
    """Every relationship between exposed relations, by origin. `definitions`: the query tree
    text (`ev_action`) of each view that an exposed view reads, at any depth."""
    views = {oid: target_origins(text) for oid, text in definitions.items()}
    # for each exposed relation: the table column -> the relation's columns that come from it
    sources: list[tuple[Exposed, dict[Origin, list[str]]]] = []
    for relation in exposed:
        found: dict[Origin, list[str]] = {}
        for number, name in relation.columns.items():
            own: Origin = (relation.oid, number)
            origin = resolve(views, own) if relation.is_view else own
            if origin is not None:
                found.setdefault(origin, []).append(name)
        sources.append((relation, found))
    related: dict[str, list[Relationship]] = {}
    for key in keys:
        referencing = list(_stand_ins(sources, key.table, key.columns))
        referenced = list(_stand_ins(sources, key.foreign_table, key.foreign_columns))
        forward: Cardinality = "one-to-one" if key.one_to_one else "many-to-one"
        backward: Cardinality = "one-to-one" if key.one_to_one else "one-to-many"
        for (source, columns), (target, foreign) in itertools.product(referencing, referenced):
            pairs = tuple(zip(columns, foreign, strict=True))
            related.setdefault(source.name, []).append(
                Relationship(source.name, target.name, forward, key.name, pairs, target.is_view)
            )
            inverse = tuple((t, o) for o, t in pairs)
            related.setdefault(target.name, []).append(
                Relationship(target.name, source.name, backward, key.name, inverse, source.is_view)
            )
    return related


def _stand_ins(
    sources: list[tuple[Exposed, dict[Origin, list[str]]]], table: int, columns: tuple[int, ...]
) -> Iterable[tuple[Exposed, tuple[str, ...]]]:
    """The exposed relations that carry every one of a table's `columns` (a view may carry one
    twice, under two names: each choice is a stand-in), with their names for them."""
    for relation, found in sources:
        choices = [found.get((table, column)) for column in columns]
        if all(choices):
            for names in itertools.product(*(c for c in choices if c)):
                yield relation, tuple(names)


def _single(relationship: Relationship) -> tuple[str, str] | None:
    return relationship.columns[0] if len(relationship.columns) == 1 else None


def _matches(relationship: Relationship, target: str, hint: str | None) -> bool:
    """PostgREST's findRel for one candidate: `origin?select=target[!hint](..)`."""
    single = _single(relationship)
    own_column = single is not None and hint == single[0]
    their_column = single is not None and hint == single[1]
    if relationship.origin == relationship.target:  # a self-relationship: one key, two ways
        if hint is None:
            # the one-to-many by the table's name, the many-to-one by the key's column
            return (
                relationship.target == target and relationship.cardinality == "one-to-many"
            ) or (
                single is not None
                and target == single[0]
                and relationship.cardinality == "many-to-one"
            )
        return (
            relationship.target == target
            and relationship.cardinality == "one-to-many"
            and their_column
        )
    if hint is None:
        if relationship.target == target:
            return True
        # a table (never a view) may be named by its key or its column: `select=client_id(*)`
        by_key = target == relationship.constraint or (single is not None and target == single[0])
        return by_key and not relationship.target_is_view
    return relationship.target == target and (
        hint == relationship.constraint or own_column or their_column
    )


def find(
    related: Mapping[str, list[Relationship]],
    schema: str,
    origin: str,
    target: str,
    hint: str | None,
) -> Relationship:
    """The one relationship `origin?select=target[!hint](..)` names, or PostgREST's error."""
    candidates = [r for r in related.get(origin, []) if _matches(r, target, hint)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        searched = f"'{origin}' and '{target}'" + (f" using the hint '{hint}'" if hint else "")
        raise ApiError(
            400,
            "PGRST200",
            f"Could not find a relationship between '{origin}' and '{target}' in the schema cache",
            details=f"Searched for a foreign key relationship between {searched} in the schema "
            f"'{schema}', but no matches were found.",
            hint=_no_relationship_hint(related, origin, target),
        )
    ways = ", ".join(f"'{target}!{r.constraint}'" for r in candidates)
    details: Any = [r.described() for r in candidates]
    raise ApiError(
        300,
        "PGRST201",
        f"Could not embed because more than one relationship was found for '{origin}' and "
        f"'{target}'",
        details=details,
        hint=f"Try changing '{target}' to one of the following: {ways}. Find the desired "
        "relationship in the 'details' key.",
    )


def _no_relationship_hint(
    related: Mapping[str, list[Relationship]], origin: str, target: str
) -> str | None:
    """PostgREST's: a close name for the target among the origin's relations, or for the origin
    among the relations that have any."""
    if origin in related:
        names = sorted({r.target for r in related[origin]} - {target})
        close = difflib.get_close_matches(target, names, n=1)
        return f"Perhaps you meant '{close[0]}' instead of '{target}'." if close else None
    close = difflib.get_close_matches(origin, sorted(related), n=1)
    return f"Perhaps you meant '{close[0]}' instead of '{origin}'." if close else None
