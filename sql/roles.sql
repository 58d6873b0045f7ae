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
