-- name: relations
-- The tables and views of the exposed schema, each with its oid and its columns (name, type
-- schema, type name, number), in column order.
select
    c.relname as name,
    c.relkind::text as kind,
    c.oid::pg_catalog.int8 as oid,
    coalesce(
        pg_catalog.json_agg(
            pg_catalog.json_build_array(a.attname, tn.nspname, t.typname, a.attnum)
            order by a.attnum
        ) filter (where a.attnum is not null),
        '[]'
    ) as columns
from pg_catalog.pg_class as c
inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
left join pg_catalog.pg_attribute as a
    on c.oid = a.attrelid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_type as t on a.atttypid = t.oid
left join pg_catalog.pg_namespace as tn on t.typnamespace = tn.oid
where n.nspname = %(schema)s and c.relkind in ('r', 'v', 'm', 'f', 'p')
group by c.oid, c.relname, c.relkind

-- name: functions
-- The functions of the exposed schema: volatility, what they return (void, a scalar, rows and
-- their columns), and their arguments in order (name, mode, type schema, type name).
select
    p.proname as name,
    p.provolatile::text as volatility,
    p.proretset as returns_set,
    p.pronargdefaults as defaults,
    p.prorettype = 'pg_catalog.void'::pg_catalog.regtype as returns_void,
    rt.typrelid <> 0 as returns_composite,
    coalesce((
        select
            pg_catalog.json_agg(pg_catalog.json_build_array(
                coalesce(p.proargnames[a.i], ''), coalesce(p.proargmodes[a.i], 'i'),
                tn.nspname, t.typname
            ) order by a.i)
        from pg_catalog.unnest(coalesce(p.proallargtypes, p.proargtypes::pg_catalog.oid[]))
            with ordinality as a(type_oid, i)
        inner join pg_catalog.pg_type as t on a.type_oid = t.oid
        inner join pg_catalog.pg_namespace as tn on t.typnamespace = tn.oid
    ), '[]') as args,
    coalesce((
        select
            pg_catalog.json_agg(
                pg_catalog.json_build_array(at.attname, tn.nspname, t.typname)
                order by at.attnum
            )
        from pg_catalog.pg_attribute as at
        inner join pg_catalog.pg_type as t on at.atttypid = t.oid
        inner join pg_catalog.pg_namespace as tn on t.typnamespace = tn.oid
        where at.attrelid = rt.typrelid and at.attnum > 0 and not at.attisdropped
    ), '[]') as columns
from pg_catalog.pg_proc as p
inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
inner join pg_catalog.pg_type as rt on p.prorettype = rt.oid
where n.nspname = %(schema)s and p.prokind = 'f'

-- name: foreign_keys
-- Every foreign key (the partitions' copies aside): its table and columns, the table and columns
-- it references, and whether its columns are also a primary key or unique (one-to-one).
select
    c.conname as name,
    c.conrelid::pg_catalog.int8 as table_oid,
    c.conkey::pg_catalog.int4 [] as columns,
    c.confrelid::pg_catalog.int8 as foreign_oid,
    c.confkey::pg_catalog.int4 [] as foreign_columns,
    exists (
        select 1
        from pg_catalog.pg_constraint as u
        where
            u.conrelid = c.conrelid
            and u.contype in ('p', 'u')
            and u.conkey @> c.conkey
            and u.conkey <@ c.conkey
    ) as one_to_one
from pg_catalog.pg_constraint as c
where c.contype = 'f' and c.conparentid = 0

-- name: view_definitions
-- The query tree (pg_rewrite.ev_action as text) of every view of the exposed schema, and of every
-- view one of them reads, at any depth and in any schema: where their columns come from
-- (view_origins.py).
with recursive read_views (oid) as (
    select c.oid
    from pg_catalog.pg_class as c
    inner join pg_catalog.pg_namespace as n on c.relnamespace = n.oid
    where n.nspname = %(schema)s and c.relkind in ('v', 'm')
    union
    select d.refobjid
    from read_views as r
    inner join pg_catalog.pg_rewrite as w on r.oid = w.ev_class
    inner join pg_catalog.pg_depend as d
        on
            d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
            and w.oid = d.objid
            and d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
    inner join pg_catalog.pg_class as c on d.refobjid = c.oid and c.relkind in ('v', 'm')
)

select
    r.oid::pg_catalog.int8 as oid,
    w.ev_action::pg_catalog.text as definition
from read_views as r
inner join pg_catalog.pg_rewrite as w on r.oid = w.ev_class and w.rulename = '_RETURN'
