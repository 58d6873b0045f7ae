-- name: relations
-- The tables and views of the exposed schema, each with its columns and their types (schema,
-- name), in column order.
select
    c.relname as name,
    c.relkind::text as kind,
    coalesce(
        pg_catalog.json_agg(
            pg_catalog.json_build_array(a.attname, tn.nspname, t.typname) order by a.attnum
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
