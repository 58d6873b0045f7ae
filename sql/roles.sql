-- Roles: the first layer the migrator applies, before any migration.
--
-- The same four roles as Supabase and PostgREST, so the engine behaves the same behind a real
-- PostgREST or on a hosted Supabase project (where they already exist and this file changes nothing):
--   anon           a caller without a user token
--   authenticated  a signed-in user; who exactly is in request.jwt.claims
--   service_role   the server's own key; bypasses RLS, still cannot write a table
--   authenticator  a login role that owns no rights of its own and can switch to one of the three
--                  above with `set local role` (noinherit), as PostgREST's does. Wagerbase's API
--                  nodes do not use it yet: they connect with DATABASE_URL's role (the one that
--                  migrates) and switch role per request; connecting as authenticator, with
--                  grants for the sign-up and session functions, is planned hardening.
-- Idempotent: every statement checks before it creates.

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
