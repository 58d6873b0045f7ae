-- Console helpers for an admin at a `psql` prompt (`wagerbase psql`), applied on every migrate.
--
-- Act as any user for the rest of a transaction, exactly as an API request would (the same role
-- switch, the same JWT claims and the same limits: both go through server.begin_request, so the
-- role's statement_timeout and lock_timeout apply at the prompt too), so every rule and every RLS
-- policy applies as it would to them:
--
--   begin;
--   select console.act_as('admin');          -- by username, email or user id
--   select public.settle_market(3, 7);
--   commit;
--
-- console.act_as_anon() does the same for a caller without a token. Only the database owner (the
-- superuser `wagerbase psql` connects as) can call these; no client role can.
--
-- A call that may run longer than the role allows (settling a market of a million wagers as an
-- admin: authenticated statements stop after 8 s) gets its function's own limit through the API,
-- which applies it before the call. At the prompt, give it the same after act_as:
--   set local statement_timeout = '5min';

create schema if not exists console;
revoke all on schema console from public;

-- act_as(who): become the user named by username, email or id until the transaction ends.
-- Returns the claims now in force. Raises: user_not_found.
create or replace function console.act_as(who text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user auth.users;
    v_claims jsonb;
begin
    select u.* into v_user from auth.users as u where u.id = app._find_user(act_as.who);
    if not found then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', act_as.who));
    end if;
    v_claims := pg_catalog.jsonb_build_object(
        'sub', v_user.id,
        'role', 'authenticated',
        'aud', 'authenticated',
        'email', v_user.email,
        'app_metadata', v_user.raw_app_meta_data,
        'user_metadata', v_user.raw_user_meta_data
    );
    perform server.begin_request('authenticated', v_claims::text);
    return v_claims;
end
$$;

-- act_as_anon(): become a caller without a token until the transaction ends.
create or replace function console.act_as_anon()
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform server.begin_request('anon', '{"role": "anon"}');
    return '{"role": "anon"}'::jsonb;
end
$$;

revoke all on function console.act_as(text), console.act_as_anon() from public;
