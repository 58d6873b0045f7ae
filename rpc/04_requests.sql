-- The start of each request an API node runs as a caller (docs/operations.md, "Limits").

-- begin_request: become the caller for the rest of the transaction, in one statement: the token's
-- claims (request.jwt.claims, read by auth.uid() and auth.jwt()), the request's method and path,
-- the settings of the caller's role, the hoisted settings of the function the request calls, read
-- only when asked, and last the role itself. Returns the statement_timeout now in force (the API
-- names it when a statement runs past it).
--
-- The role's settings are what `alter role anon set statement_timeout = '3s'` stored in
-- pg_db_role_setting. PostgreSQL applies them at login only, never on `set role`, so this applies
-- them to the transaction, as PostgREST does for the role it impersonates: the role's own settings,
-- then those it has in this database (which win, as at login). A setting the node may not set (one
-- for superusers only) is skipped.
-- A function's own `set statement_timeout` changes nothing for the statement that calls it (the
-- statement's timer is already running), so it is hoisted, as PostgREST 12 does: when the request
-- calls `function_name` (a function of schema public, by name), its statement_timeout is applied
-- here, before the call. Long admin calls (settle_market, void_market, ...) declare one.
--
-- Who calls it: the API node as itself (its login role), before every call or read it runs for a
-- caller, and console.act_as at a psql prompt. It is security invoker and has no SET clause on
-- purpose: `set role` is refused inside a security definer function, and a SET clause would undo
-- at exit what it sets for the same parameters.
-- Checks the node makes about the caller as itself (with its own rights, the claims and the limits
-- already in force, before the role switch) belong at the marked place below.
-- Changes: settings of the current transaction only.
-- Raises: invalid_argument (a role other than anon, authenticated and service_role).
create or replace function server.begin_request(
    role text,
    claims text,
    method text default '',
    path text default '',
    read_only boolean default false,
    function_name text default null
)
returns text
language plpgsql
as $$
begin
    if begin_request.role is null or begin_request.role not in ('anon', 'authenticated', 'service_role') then
        raise exception using
            errcode = 'PT400',
            message = 'invalid_argument',
            detail = pg_catalog.jsonb_build_object(
                'argument', 'role', 'reason', 'anon, authenticated or service_role'
            )::text,
            hint = 'See detail.argument and detail.reason.';
    end if;

    perform pg_catalog.set_config('request.jwt.claims', begin_request.claims, true);
    perform pg_catalog.set_config('request.method', coalesce(begin_request.method, ''), true);
    perform pg_catalog.set_config('request.path', coalesce(begin_request.path, ''), true);
    perform server.apply_role_settings(begin_request.role, begin_request.function_name);

    -- checks made as the node itself, with the claims and limits in force, go here

    if begin_request.read_only then
        perform pg_catalog.set_config('transaction_read_only', 'on', true);
    end if;
    perform pg_catalog.set_config('role', begin_request.role, true);
    return pg_catalog.current_setting('statement_timeout');
end
$$;

revoke all on function server.begin_request(text, text, text, text, boolean, text) from public;
grant execute on function server.begin_request(text, text, text, text, boolean, text) to authenticator;

-- apply_role_settings(role, function_name): the settings of `role` (what `alter role ... set`
-- stored: its statement_timeout and lock_timeout, say) and the hoisted statement_timeout of the
-- function of schema public named `function_name`, applied to the current transaction without
-- switching role. server.begin_request applies them this way for every request; the API applies
-- them alone to a transaction it runs as itself on behalf of callers of that role (a batch of
-- placements, server.place_wagers), so that the batch runs under its callers' limits.
-- Who calls it: the API node as itself (and begin_request). Security invoker, no SET clause, as
-- begin_request. Changes: settings of the current transaction only. Raises: nothing (a setting
-- the node may not set is skipped).
create or replace function server.apply_role_settings(role text, function_name text default null)
returns void
language plpgsql
as $$
declare
    v_setting record;
begin
    for v_setting in
        select s.name, s.value
        from (
            select
                pg_catalog.split_part(c.entry, '=', 1) as name,
                pg_catalog.substr(c.entry, pg_catalog.strpos(c.entry, '=') + 1) as value,
                case when d.setdatabase = 0 then 1 else 2 end as layer
            from pg_catalog.pg_db_role_setting as d
            inner join pg_catalog.pg_roles as r on d.setrole = r.oid
            cross join lateral pg_catalog.unnest(d.setconfig) as c (entry)
            where
                r.rolname = apply_role_settings.role
                and d.setdatabase in (
                    0,
                    (select db.oid from pg_catalog.pg_database as db where db.datname = pg_catalog.current_database())
                )
            union all
            select
                pg_catalog.split_part(c.entry, '=', 1),
                pg_catalog.substr(c.entry, pg_catalog.strpos(c.entry, '=') + 1),
                3
            from pg_catalog.pg_proc as p
            inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
            cross join lateral pg_catalog.unnest(p.proconfig) as c (entry)
            where
                n.nspname = 'public'
                and p.proname = apply_role_settings.function_name
                and pg_catalog.split_part(c.entry, '=', 1) = 'statement_timeout'
        ) as s
        order by s.layer
    loop
        begin
            perform pg_catalog.set_config(v_setting.name, v_setting.value, true);
        exception
            when insufficient_privilege or cant_change_runtime_param or undefined_object
                or invalid_parameter_value then
                null;  -- not for the node to set (a superuser's setting, say): skipped
        end;
    end loop;
end
$$;

revoke all on function server.apply_role_settings(text, text) from public;
grant execute on function server.apply_role_settings(text, text) to authenticator;
