-- Written by `wagerbase supabase` from sql/roles.sql and sql/supabase.sql: edit that, not this.

-- ==== sql/roles.sql
reset all;

-- Roles: the first layer the migrator applies, before any migration.
--
-- The same four roles as Supabase and PostgREST, so the engine behaves the same behind a real
-- PostgREST or on a hosted Supabase project (where they already exist and this file changes nothing):
--   anon           a caller without a user token
--   authenticated  a signed-in user; who exactly is in request.jwt.claims
--   service_role   the server's own key; bypasses RLS, still cannot write a table
--   authenticator  the login role every API node connects as: it owns nothing, inherits nothing
--                  (noinherit) and can switch to one of the three above with `set local role`, as
--                  PostgREST's does; of its own it may only execute the functions of schema
--                  `server` (policies/05_server.sql), what a node does as itself (sign-up,
--                  sessions, the scheduler). It cannot read or write a table, call a private
--                  function, or become the owner. `wagerbase serve` sets its password when it
--                  cannot log in with the configured one (docs/operations.md, "The API's login");
--                  DATABASE_URL's role, which owns the schema, is used only to migrate and by
--                  the `wagerbase` commands that administer.
-- Idempotent: every statement checks before it creates, and nothing here changes the attributes
-- or the password of a role that exists (on hosted Supabase all four exist already, and
-- authenticator's password is Supabase's).
--
-- Every statement of a client role is bounded (docs/operations.md, "Limits"): a
-- `statement_timeout` (Supabase's values: anon 3 s, authenticated 8 s) and a `lock_timeout`, set on
-- the role with ALTER ROLE. PostgreSQL applies a role's settings at login only, never on `set
-- role`, so server.begin_request (rpc/04_requests.sql) applies them to each request, as PostgREST
-- does; console.act_as does the same at a psql prompt. They are set here only where the role has no
-- value of its own yet: an operator's `alter role anon set statement_timeout = '5s'` stays, and on a
-- hosted Supabase project (where anon and authenticated have them already) nothing changes.

do $roles$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    grant anon, authenticated, service_role to authenticator;
end
$roles$;

-- Functions are not executable by everyone unless granted one by one (STYLE.md, SQL rule 2).
alter default privileges revoke execute on functions from public;
revoke create on schema public from public;
grant usage on schema public to anon, authenticated, service_role;

-- The limits, where the role has none of its own (see the heading; the values are explained in
-- docs/operations.md, "Limits"):
--   anon           3 s a statement, 1 s for a lock: reads only; a read waits on a lock only while a
--                  migration holds one, and then a quick 429 (retry) beats a queue of callers.
--   authenticated  8 s a statement, 2 s for a lock: a wager holds its market's row for
--                  milliseconds, so 2 s of waiting is a queue far longer than any real one; past it
--                  the call is refused (nothing happened, retry with the same idempotency key)
--                  instead of holding a connection behind, say, a long settlement.
--   service_role   60 s a statement, 5 s for a lock: the back office's key (scripts, reports).
-- Admin calls that may run long on a large market (settle_market, void_market, ...) declare their
-- own `set statement_timeout`, which the API applies before calling them (PostgREST 12's hoisting).
do $limits$
declare
    v_limit record;
begin
    for v_limit in
        select l.role_name, l.setting, l.value
        from (values
            ('anon', 'statement_timeout', '3s'),
            ('anon', 'lock_timeout', '1s'),
            ('authenticated', 'statement_timeout', '8s'),
            ('authenticated', 'lock_timeout', '2s'),
            ('service_role', 'statement_timeout', '60s'),
            ('service_role', 'lock_timeout', '5s')
        ) as l (role_name, setting, value)
        where not exists (
            select 1
            from pg_catalog.pg_db_role_setting as s
            inner join pg_catalog.pg_roles as r on s.setrole = r.oid
            cross join lateral pg_catalog.unnest(s.setconfig) as c (entry)
            where
                r.rolname = l.role_name
                and s.setdatabase = 0
                and pg_catalog.split_part(c.entry, '=', 1) = l.setting
        )
    loop
        execute pg_catalog.format(
            'alter role %I set %I = %L', v_limit.role_name, v_limit.setting, v_limit.value
        );
    end loop;
end
$limits$;

-- ==== sql/supabase.sql
reset all;

-- What a Supabase project needs before the engine's code, and a plain PostgreSQL does not: applied
-- only there, at the top of every code snapshot of supabase/migrations (`wagerbase supabase`).
--
-- Supabase grants every new table, view, sequence and function of `public` to anon, authenticated
-- and service_role by default (its `alter default privileges for role postgres in schema public
-- grant all ...`). The engine grants each one what it may do, explicitly (rpc/, policies/), and
-- nothing else: a view writable by anon, or an admin function callable by anyone, is exactly what
-- the attack matrix forbids. So the project's own defaults are revoked first; grants that exist
-- already are revoked by the code that follows (policies/10_tables.sql, rpc/90_views.sql).

alter default privileges in schema public
revoke all on tables from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on sequences from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on functions from anon, authenticated, service_role;
