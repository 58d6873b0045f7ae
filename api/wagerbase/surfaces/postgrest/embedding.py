"""Resource embedding as one statement: a read whose `select` embeds related views
(`markets?select=*,outcomes!market_id(id,label)`, `wagers?select=id,markets(title)`), the
resources resolved by embeds.py.

The statement, run as the caller like every read (so each view's grants and RLS decide at every
level):

- `pgrst_0`: the page of the read (its filters, order, limit and offset; at most the row cap),
  each row numbered;
- `pgrst_k`, one for each embedded resource, in the order of `select`: for each row of its
  parent, the related rows of its view (the relationship's columns equal), its own filters,
  order, offset and limit (at most the row cap, one for a to-one resource): a LATERAL subquery,
  as PostgREST's, so an index on the key serves it;
- `pgrst_k_json`, deepest first: each parent row's related rows as a JSON array (an object, or
  null, for a to-one resource), each row with its own embedded resources;
- the answer: the page's rows with theirs, as the body (statements.body_sql).

A parent row is kept only when it has a related row (`!inner`, `label=not.is.null`) or only
when it has none (`label=is.null`): an EXISTS in its filters, before its page is cut.

Bounded: every embedded array holds at most the row cap (`WAGERBASE_MAX_ROWS`), as PostgREST's
`db-max-rows`; and one answer holds at most EMBEDDED_ROWS_PER_PAGE times the cap of embedded
rows in all (each `pgrst_k` stops reading one row past it, the answer counts them, and the
caller refuses an answer over it with a 400 that says how to ask for less: reads.py). The
nesting and the number of embedded resources are bounded by the parser (selects.py).
"""

import itertools
from collections.abc import Iterator

from psycopg import sql

from wagerbase.surfaces.postgrest.catalog import SCHEMA, Column
from wagerbase.surfaces.postgrest.compiler import (
    NOTHING,
    SOURCE,
    Params,
    conditions,
    field_list,
    order,
    output_name,
    where_clause,
)
from wagerbase.surfaces.postgrest.embeds import EmbedNode
from wagerbase.surfaces.postgrest.shapes import ReadQuery
from wagerbase.surfaces.postgrest.statements import Body, Source, body_sql, with_clause

PARENT = sql.Identifier("pgrst_p")
ROW = sql.Identifier("pgrst_e")


def _numbered(nodes: tuple[EmbedNode, ...]) -> Iterator[tuple[int, int, EmbedNode]]:
    """Every embedded resource that is shown (has columns), depth first: (its number, its
    parent's number, 0 for the read's page, the node)."""
    counter = 0

    def visit(children: tuple[EmbedNode, ...], parent: int) -> Iterator[tuple[int, int, EmbedNode]]:
        nonlocal counter
        for node in children:
            if not node.embed.shown:
                continue
            counter += 1
            number = counter
            yield number, parent, node
            yield from visit(node.children, number)

    yield from visit(nodes, 0)


def _carried(
    query: ReadQuery,
    columns: dict[str, Column],
    children: tuple[EmbedNode, ...],
    alias: sql.Identifier,
) -> sql.Composable:
    """The columns a page or an embedded resource's rows carry: those its `select` shows and those
    its embedded resources join on (a view's other columns, some computed at a cost, are never
    read); all of them for a `*`."""
    plain = query.plain_fields()
    wanted = {field.column for field in plain}
    for node in children:
        wanted.update(origin for origin, _ in node.relationship.columns)
    names = [name for name in columns if "*" in wanted or name in wanted]
    return sql.SQL(", ").join(
        sql.SQL("{}.{}").format(alias, sql.Identifier(name)) for name in names
    )


def _join(node: EmbedNode, child: sql.Identifier, parent: sql.Identifier) -> list[sql.Composable]:
    """The relationship's columns equal: the child's to the parent's."""
    return [
        sql.SQL("{}.{} = {}.{}").format(
            child, sql.Identifier(target), parent, sql.Identifier(origin)
        )
        for origin, target in node.relationship.columns
    ]


class _Scope:
    """The statement's placeholders, and the numbers that make its EXISTS aliases unique."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self.aliases = itertools.count(1)


def _presence(
    children: tuple[EmbedNode, ...], parent: sql.Identifier, scope: _Scope
) -> list[sql.Composable]:
    """For each embedded resource that decides whether its parent row is kept: [not] exists a
    related row (that passes its own filters)."""
    found: list[sql.Composable] = []
    for node in children:
        if node.embed.presence is None:
            continue
        alias = sql.Identifier(f"pgrst_x{next(scope.aliases)}")
        parts = _join(node, alias, parent) + _filters(node, alias, scope)
        related = sql.SQL("exists (select 1 from {} as {} where {})").format(
            sql.Identifier(SCHEMA, node.relation.name), alias, sql.SQL(" and ").join(parts)
        )
        found.append(
            related if node.embed.presence == "required" else sql.SQL("not {}").format(related)
        )
    return found


def _filters(node: EmbedNode, alias: sql.Identifier, scope: _Scope) -> list[sql.Composable]:
    """An embedded resource's own filters, and those its embedded resources put on it."""
    relation = node.relation
    own = conditions(node.query, relation.columns, relation.name, scope.params, alias)
    return own + _presence(node.children, alias, scope)


def _page(
    source: Source, query: ReadQuery, children: tuple[EmbedNode, ...], scope: _Scope, max_rows: int
) -> tuple[sql.Composable, sql.Composable]:
    """The CTE of the read's page, and the filters (a WHERE clause) that choose its rows."""
    params = scope.params
    own = conditions(query, source.columns, source.owner, params)
    condition = where_clause(own + _presence(children, SOURCE, scope))
    ordering = order(query.order, source.columns, source.owner)
    page = max_rows if query.limit is None else min(query.limit, max_rows)
    offset = sql.SQL(" offset {}").format(params.add(query.offset)) if query.offset else NOTHING
    cte = sql.SQL(
        "pgrst_0 as materialized (select pgrst_c.*, pg_catalog.row_number() over () as pgrst_n"
        " from (select {carried} from {source} as {alias}{where}{order} limit {limit}{offset})"
        " as pgrst_c)"
    ).format(
        carried=_carried(query, source.columns, children, SOURCE),
        alias=SOURCE,
        source=source.from_item,
        where=condition,
        order=ordering,
        limit=params.add(page),
        offset=offset,
    )
    return cte, condition


def _related(
    number: int, parent: int, node: EmbedNode, scope: _Scope, cap: int, budget: int
) -> sql.Composable:
    """The CTE of an embedded resource's rows: for each row of its parent, the related rows
    (`budget` + 1 of them at most in all)."""
    params = scope.params
    alias = sql.Identifier(f"pgrst_s{number}")
    relation, query = node.relation, node.query
    parts = _join(node, alias, PARENT) + _filters(node, alias, scope)
    to_one = node.relationship.to_one
    limit = 1 if to_one else cap if query.limit is None else min(query.limit, cap)
    ordering = NOTHING if to_one else order(query.order, relation.columns, relation.name, alias)
    offset: sql.Composable = NOTHING
    if query.offset and not to_one:
        offset = sql.SQL(" offset {}").format(params.add(query.offset))
    return sql.SQL(
        "{name} as materialized (select pgrst_c.*, pg_catalog.row_number() over () as pgrst_n"
        " from (select pgrst_l.*, {parent}.pgrst_n as pgrst_up from {parents} as {parent}"
        " cross join lateral (select {carried} from {view} as {alias} where {where}{order}"
        " limit {limit}{offset}) as pgrst_l limit {budget}) as pgrst_c)"
    ).format(
        name=sql.Identifier(f"pgrst_{number}"),
        carried=_carried(query, relation.columns, node.children, alias),
        parent=PARENT,
        parents=sql.Identifier(f"pgrst_{parent}"),
        alias=alias,
        view=sql.Identifier(SCHEMA, relation.name),
        where=sql.SQL(" and ").join(parts),
        order=ordering,
        limit=params.add(limit),
        offset=offset,
        budget=params.add(budget + 1),
    )


def _row(
    query: ReadQuery,
    columns: dict[str, Column],
    owner: str,
    shown: list[tuple[int, EmbedNode]],
) -> tuple[sql.Composable, sql.Composable]:
    """A row of `pgrst_e` as a record (its columns, then its embedded resources: as PostgREST
    orders them), and the joins to the JSON of its embedded resources."""
    items = field_list(query, columns, owner, ROW, expand_star=True)
    joins: list[sql.Composable] = []
    for number, node in shown:
        joined = sql.Identifier(f"pgrst_j{number}")
        value: sql.Composable = sql.SQL("{}.body").format(joined)
        if not node.relationship.to_one:
            value = sql.SQL("coalesce({}, '[]'::pg_catalog.json)").format(value)
        items.append(sql.SQL("{} as {}").format(value, output_name(node.embed.label)))
        joins.append(
            sql.SQL(" left join {} as {} on {}.pgrst_up = {}.pgrst_n").format(
                sql.Identifier(f"pgrst_{number}_json"), joined, joined, ROW
            )
        )
    record = sql.SQL("(select pgrst_o from (select {}) as pgrst_o)").format(
        sql.SQL(", ").join(items)
    )
    return record, sql.SQL("").join(joins)


def embed_statement(
    source: Source,
    query: ReadQuery,
    children: tuple[EmbedNode, ...],
    params: Params,
    *,
    count: bool,
    body: Body,
    strip_nulls: bool,
    max_rows: int,
    budget: int,
) -> sql.Composed:
    """One statement (the module's docstring): the page with its embedded resources as the body
    (text), its row count, how many embedded rows it read (at most `budget` + 1 for each embedded
    resource), and (with count) the total."""
    scope = _Scope(params)
    page, condition = _page(source, query, children, scope, max_rows)
    total: sql.Composable = sql.SQL("null::pg_catalog.int8")
    if count:
        total = sql.SQL("(select pg_catalog.count(*) from {} as {}{})").format(
            source.from_item, SOURCE, condition
        )
    ctes: list[sql.Composable] = [*source.ctes, page]
    if body == "none":
        return sql.SQL(
            "{}select {} as total, pg_catalog.count(*) as page_count, 0 as embedded,"
            " null::pg_catalog.text as body from pgrst_0"
        ).format(with_clause(ctes), total)
    numbered = list(_numbered(children))
    for number, parent, node in numbered:
        ctes.append(_related(number, parent, node, scope, max_rows, budget))
    by_parent: dict[int, list[tuple[int, EmbedNode]]] = {}
    for number, parent, node in numbered:
        by_parent.setdefault(parent, []).append((number, node))
    for number, _, node in reversed(numbered):
        relation = node.relation
        record, joins = _row(node.query, relation.columns, relation.name, by_parent.get(number, []))
        aggregate: sql.Composable = sql.SQL("pg_catalog.json_agg({} order by {}.pgrst_n)").format(
            record, ROW
        )
        if node.relationship.to_one:
            aggregate = sql.SQL("(pg_catalog.json_agg({}) -> 0)").format(record)
        ctes.append(
            sql.SQL(
                "{name} as (select {row}.pgrst_up, {aggregate} as body from {rows} as {row}{joins}"
                " group by {row}.pgrst_up)"
            ).format(
                name=sql.Identifier(f"pgrst_{number}_json"),
                row=ROW,
                aggregate=aggregate,
                rows=sql.Identifier(f"pgrst_{number}"),
                joins=joins,
            )
        )
    record, joins = _row(query, source.columns, source.owner, by_parent.get(0, []))
    embedded: sql.Composable = sql.SQL(" + ").join(
        [sql.SQL("0")]
        + [
            sql.SQL("(select pg_catalog.count(*) from {})").format(sql.Identifier(f"pgrst_{n}"))
            for n, _, _ in numbered
        ]
    )
    text = body_sql(
        sql.SQL("pgrst_t.pgrst_row"),
        sql.SQL(" order by pgrst_t.pgrst_n"),
        body,
        strip_nulls=strip_nulls,
    )
    return sql.SQL(
        "{prelude}select {total} as total, pg_catalog.count(*) as page_count,"
        " {embedded} as embedded, {body} as body"
        " from (select {row}.pgrst_n, {record} as pgrst_row from pgrst_0 as {row}{joins})"
        " as pgrst_t"
    ).format(
        prelude=with_clause(ctes),
        total=total,
        embedded=embedded,
        body=text,
        row=ROW,
        record=record,
        joins=joins,
    )
