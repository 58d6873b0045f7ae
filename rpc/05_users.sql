-- Users: the rows behind sign-up and the admin role. Not granted to any client role: the server
-- (the `wagerbase` command now, the sign-up endpoint later) calls these with its own role.
-- Passwords arrive already hashed (argon2, in Python); SQL never sees one in clear.

-- _create_user(email, username, password_hash, app_metadata): a new user and its profile.
-- Email and username are both optional but one is required; both are unique, case-insensitively.
-- An email needs an @ and a username cannot have one (nor be as long as a user id), so a name
-- given to _find_user can never match two users.
-- app_metadata is the server's to set (sign-up never passes a role).
-- Raises: invalid_argument (neither given, bad username), user_exists.
create or replace function app._create_user(
    p_email text,
    p_username text,
    p_password_hash text,
    p_app_metadata jsonb default '{}'
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := gen_random_uuid();
    v_email text := lower(nullif(btrim(p_email), ''));
    v_username text := nullif(btrim(p_username), '');
begin
    if v_email is null and v_username is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email or a username is required'));
    end if;
    if v_email is not null and v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email address'));
    end if;
    if v_username is not null and v_username !~ '^[A-Za-z0-9_.-]{3,32}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'username',
            'reason', '3 to 32 letters, digits, dots, dashes or underscores'));
    end if;
    if exists (
        select 1 from auth.users as u where lower(u.email) = v_email and u.deleted_at is null
    ) or exists (
        select 1 from app.profiles as p where lower(p.username) = lower(v_username)
    ) then
        perform app._fail('user_exists', pg_catalog.jsonb_build_object(
            'email', v_email, 'username', v_username));
    end if;

    insert into auth.users (id, email, encrypted_password, raw_app_meta_data)
    values (
        v_user, v_email, p_password_hash,
        '{"provider": "email", "providers": ["email"]}'::jsonb || coalesce(p_app_metadata, '{}')
    );
    if v_username is not null then
        insert into app.profiles (user_id, username) values (v_user, v_username);
    end if;
    return v_user;
exception
    when unique_violation then
        -- a concurrent sign-up took the same email or username first
        perform app._fail('user_exists', pg_catalog.jsonb_build_object(
            'email', v_email, 'username', v_username));
        return null;
end
$$;

-- _find_user(name): the id of the user with this username, email or id; null when none.
create or replace function app._find_user(p_name text)
returns uuid
language sql stable
set search_path = ''
as $$
    select u.id
    from auth.users as u
    left join app.profiles as p on u.id = p.user_id
    where u.deleted_at is null
        and (u.id::text = p_name or lower(u.email) = lower(p_name) or lower(p.username) = lower(p_name))
    limit 1
$$;

-- _set_admin(name, admin): grant or withdraw the admin role (app_metadata.role), logged. Tokens
-- issued from now on carry it; the user signs in again to get one.
-- Raises: user_not_found.
create or replace function app._set_admin(p_name text, p_admin boolean)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._find_user(p_name);
    v_before jsonb;
    v_after jsonb;
begin
    if v_user is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', p_name));
    end if;
    select u.raw_app_meta_data into v_before from auth.users as u where u.id = v_user;
    update auth.users as u
    set raw_app_meta_data = case
            when p_admin then u.raw_app_meta_data || '{"role": "admin"}'
            else u.raw_app_meta_data - 'role'
        end,
        updated_at = now()
    where u.id = v_user
    returning u.raw_app_meta_data into v_after;
    perform app._audit(
        case when p_admin then 'promote_user' else 'demote_user' end,
        null, null, p_name, v_before, v_after);
    return pg_catalog.jsonb_build_object('user_id', v_user, 'app_metadata', v_after);
end
$$;
