"""The embedded resources of a read, resolved against the schema cache: for each one of
`select` (selects.py), the relationship it follows from its parent (relationships.py) and the
view it reads, with their own embedded resources; embedding.py turns them into SQL.
"""

from dataclasses import dataclass

from wagerbase.database import Database
from wagerbase.surfaces.postgrest.catalog import Relation, SchemaCache
from wagerbase.surfaces.postgrest.relationships import Relationship
from wagerbase.surfaces.postgrest.shapes import Embed, ReadQuery


@dataclass(frozen=True)
class EmbedNode:
    """An embedded resource: what the request asks of it, the view it reads, how it relates to
    its parent, and its own embedded resources."""

    embed: Embed
    relation: Relation
    relationship: Relationship
    children: "tuple[EmbedNode, ...]"

    @property
    def query(self) -> ReadQuery:
        return self.embed.query


async def resolve_embeds(
    cache: SchemaCache, db: Database, origin: str, query: ReadQuery
) -> tuple[EmbedNode, ...]:
    """The embedded resources of `query`, read from `origin` (a view's name, or a function's:
    a function has no relationships, so embedding from one is a 400 PGRST200)."""
    nodes: list[EmbedNode] = []
    for embed in query.embeds:
        relationship = await cache.relationship(db, origin, embed.name, embed.hint)
        relation = await cache.relation(db, relationship.target, embed.query.columns())
        children = await resolve_embeds(cache, db, relation.name, embed.query)
        nodes.append(EmbedNode(embed, relation, relationship, children))
    return tuple(nodes)
