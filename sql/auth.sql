-- The `auth` helpers: who is calling, read from the request's JWT claims exactly as Supabase does.
--
-- API nodes (and PostgREST) run every request as
--   set local role <claims.role>; select set_config('request.jwt.claims', <claims json>, true);
-- so an admin at a psql prompt can act as anyone the same way (see sql/console.sql).
-- After commit a transaction-local setting reads as '' rather than null, hence the nullif calls.
-- The legacy per-claim settings (request.jwt.claim.sub, .role) are read first, as Supabase does.
-- Applied on every migrate; `create or replace` keeps it idempotent. Hosted Supabase has these
-- functions of its own (all but _claimed_uid, and its uid() does not refuse a deleted user): the
-- Supabase project (supabase/, docs/supabase.md) leaves this file out, so nothing else may live in
-- `auth` (who is an admin is app._is_admin, rpc/01_core.sql).

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- _claimed_uid(): the `sub` claim as a uuid, or null; not granted to any client role (auth.uid()
-- calls it as its owner).
create or replace function auth._claimed_uid() returns uuid
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;
revoke all on function auth._claimed_uid() from public;

-- uid(): the calling user's id (the `sub` claim), or null for anon and service callers.
-- A `sub` that names no user, or a deleted one, is refused with unknown_user (401): a token
-- issued before its user was deleted reads and moves nothing, on any surface, until it expires
-- (every policy and function that needs the caller asks here). Security definer: clients cannot
-- read auth.users. plpgsql, not sql: this file runs before the migration that creates auth.users.
create or replace function auth.uid() returns uuid
language plpgsql stable
security definer
set search_path = ''
as $$
declare
    v_user uuid := auth._claimed_uid();
begin
    if v_user is not null and not exists (
        select 1 from auth.users as u where u.id = v_user and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_user));
    end if;
    return v_user;
end
$$;

-- role(): the `role` claim (anon, authenticated, service_role), or null outside a request.
create or replace function auth.role() returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

-- email(): the `email` claim.
create or replace function auth.email() returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.email', true), ''),
        (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

-- jwt(): every claim of the request, as jsonb.
create or replace function auth.jwt() returns jsonb
language sql stable
set search_path = ''
as $$
    select coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt()
to anon, authenticated, service_role;
