-- Console helpers for an admin at a `psql` prompt (`wagerbase psql`), applied on every migrate.
--
-- Act as any user for the rest of a transaction, exactly as an API request would (the same role
-- switch and the same JWT claims), so every rule and every RLS policy applies as it would to them:
--
--   begin;
--   select console.act_as('admin');          -- by username, email or user id
--   select public.settle_market(3, 7);
--   commit;
--
-- console.act_as_anon() does the same for a caller without a token. Only the database owner (the
-- superuser `wagerbase psql` connects as) can call these; no client role can.

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
    perform pg_catalog.set_config('request.jwt.claims', v_claims::text, true);
    perform pg_catalog.set_config('role', 'authenticated', true);
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
    perform pg_catalog.set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform pg_catalog.set_config('role', 'anon', true);
    return '{"role": "anon"}'::jsonb;
end
$$;

revoke all on function console.act_as(text), console.act_as_anon() from public;
