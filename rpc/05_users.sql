-- Users: the rows behind sign-up and the admin role. Not granted to any client role: the server
-- (the `wagerbase` command, GoTrue's endpoints through schema `server`) calls these with its own
-- role. Passwords arrive already hashed (argon2, in Python); SQL never sees one in clear.

-- _valid_email(email): the email trimmed and lower-cased (null when empty or null), refused unless
-- it looks like an address (an @, no spaces) of at most 255 characters, GoTrue's limit.
-- Raises: invalid_argument (argument email).
create or replace function app._valid_email(p_email text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_email text := pg_catalog.lower(nullif(pg_catalog.btrim(p_email), ''));
begin
    if v_email is not null
        and (pg_catalog.length(v_email) > 255 or v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$')
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email address'));
    end if;
    return v_email;
end
$$;

-- _user_metadata(data): a user's user_metadata (auth.users.raw_user_meta_data) as it may be
-- stored: a JSON object (null is {}) of at most 4,096 bytes as JSON text (it travels in every
-- access token), without `username`: a username is the sign-in name, kept in app.profiles, and
-- user_metadata shows it from there (app._user_json).
-- Raises: invalid_argument (argument data).
create or replace function app._user_metadata(p_data jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_data is null or p_data = 'null'::jsonb then
        return '{}';
    end if;
    if pg_catalog.jsonb_typeof(p_data) <> 'object'
        or pg_catalog.octet_length(p_data::text) > 4096
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'data', 'reason', 'a JSON object of at most 4096 bytes'));
    end if;
    return p_data - 'username';
end
$$;

-- _merged_metadata(current, changes): `changes` merged into the metadata object `current` as GoTrue
-- merges user_metadata and app_metadata: each key of `changes` set, a key set to null removed.
create or replace function app._merged_metadata(p_current jsonb, p_changes jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select (coalesce(p_current, '{}') || p_changes)
        - array(select e.key from pg_catalog.jsonb_each(p_changes) as e where e.value = 'null')
$$;

-- _create_user(email, username, password_hash, app_metadata, user_metadata): a new user and its
-- profile. Email and username are both optional but one is required; both are unique,
-- case-insensitively. An email needs an @ and a username cannot have one (nor be as long as a
-- user id), so a name given to _find_user can never match two users.
-- app_metadata is the server's to set (sign-up never passes a role); user_metadata is the user's
-- own (GoTrue's `data`, app._user_metadata).
-- Raises: invalid_argument (neither given, a bad email, username or user_metadata), user_exists.
drop function if exists app._create_user(text, text, text, jsonb);
create or replace function app._create_user(
    p_email text,
    p_username text,
    p_password_hash text,
    p_app_metadata jsonb default '{}',
    p_user_metadata jsonb default '{}'
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := gen_random_uuid();
    v_email text := app._valid_email(p_email);
    v_username text := nullif(btrim(p_username), '');
    v_metadata jsonb := app._user_metadata(p_user_metadata);
begin
    if v_email is null and v_username is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email or a username is required'));
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

    insert into auth.users (id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data)
    values (
        v_user, v_email, p_password_hash,
        '{"provider": "email", "providers": ["email"]}'::jsonb || coalesce(p_app_metadata, '{}'),
        v_metadata
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

-- _create_anonymous_user(user_metadata): a new anonymous user (supabase-js's signInAnonymously):
-- no email, no username, no password, is_anonymous, app_metadata.provider `anonymous`, while
-- app.config.anonymous_sign_ins is on. They are a bettor like any other but for withdrawals
-- (public.withdraw refuses them: docs/api.md); updateUser({email, password}) makes them a
-- permanent user (app._update_user).
-- Raises: anonymous_sign_ins_disabled, invalid_argument (a bad user_metadata).
create or replace function app._create_anonymous_user(p_user_metadata jsonb default '{}')
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := gen_random_uuid();
    v_metadata jsonb := app._user_metadata(p_user_metadata);
begin
    if not (select c.anonymous_sign_ins from app.config as c) then
        perform app._fail('anonymous_sign_ins_disabled');
    end if;
    insert into auth.users (
        id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data, is_anonymous
    )
    values (
        v_user, null, null, '{"provider": "anonymous", "providers": ["anonymous"]}', v_metadata,
        true
    );
    return v_user;
end
$$;

-- _update_user(user, session, email, password_hash, data): what GoTrue's PUT /auth/v1/user
-- (supabase-js's updateUser) changes for the user of session `p_session`; a null argument changes
-- nothing:
--   email          the new email, stored at once: Wagerbase sends no mail, so there is no
--                  confirmation to wait for (docs/api.md, "Changing the email");
--   password_hash  the new password's hash (argon2, made in Python); the user's other sessions
--                  end (reason password_changed), as GoTrue ends them;
--   data           merged into user_metadata as GoTrue merges it: each key set, a key set to null
--                  removed; `username` only as it is (it is the sign-in name).
-- An anonymous user becomes a permanent one once they have an email (is_anonymous false,
-- app_metadata.provider `email`); a password alone is refused them (GoTrue's rule).
-- Returns the user's GoTrue JSON.
-- Raises: unknown_user, invalid_argument (email not an address; data not an object, over 4096
-- bytes, or a different username), user_exists (the email is another user's), anonymous_user
-- (a password without an email).
create or replace function app._update_user(
    p_user uuid, p_session uuid, p_email text, p_password_hash text, p_data jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user auth.users;
    v_email text := app._valid_email(p_email);
    v_username text;
    v_metadata jsonb;
    v_has_email boolean;
begin
    select * into v_user from auth.users as u
    where u.id = p_user and u.deleted_at is null
    for update;
    if not found then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    if p_data is not null and p_data <> 'null'::jsonb then
        if pg_catalog.jsonb_typeof(p_data) <> 'object' then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'data', 'reason', 'a JSON object of at most 4096 bytes'));
        end if;
        select p.username into v_username from app.profiles as p where p.user_id = p_user;
        if p_data ? 'username' and p_data -> 'username' is distinct from to_jsonb(v_username) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'data', 'reason',
                'username is the sign-in name; it cannot be changed here'));
        end if;
        v_metadata := app._user_metadata(app._merged_metadata(v_user.raw_user_meta_data, p_data));
    end if;
    if v_email is not null and v_email is distinct from lower(v_user.email) and exists (
        select 1 from auth.users as u where lower(u.email) = v_email and u.id <> p_user
    ) then
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
    end if;
    v_has_email := coalesce(v_email, v_user.email) is not null;
    if p_password_hash is not null and v_user.is_anonymous and not v_has_email then
        perform app._fail('anonymous_user', pg_catalog.jsonb_build_object(
            'argument', 'password', 'reason', 'an anonymous user sets a password with an email'));
    end if;

    update auth.users as u
    set email = coalesce(v_email, u.email),
        encrypted_password = coalesce(p_password_hash, u.encrypted_password),
        raw_user_meta_data = coalesce(v_metadata, u.raw_user_meta_data),
        raw_app_meta_data = case
            when u.is_anonymous and v_has_email
                then u.raw_app_meta_data || '{"provider": "email", "providers": ["email"]}'
            else u.raw_app_meta_data
        end,
        is_anonymous = u.is_anonymous and not v_has_email,
        updated_at = now()
    where u.id = p_user;
    if p_password_hash is not null then
        perform app._end_sessions(p_user, p_session, 'others', 'password_changed');
    end if;
    return app._user_json(p_user);
exception
    when unique_violation then
        -- a concurrent sign-up or change took the email first
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
        return null;
end
$$;

-- GoTrue's admin API (`/auth/v1/admin/users`, supabase-js's auth.admin), for a request with the
-- service key: the API node checks the key and calls these through schema `server`. Each change
-- is logged in app.admin_actions by the service role, with the user before and after.

-- _admin_app_metadata(app_metadata): app_metadata as an admin may give it: a JSON object of at
-- most 4,096 bytes as text (it travels in every access token), or null (no change).
-- Raises: invalid_argument (argument app_metadata).
create or replace function app._admin_app_metadata(p_app_metadata jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_app_metadata is null or p_app_metadata = 'null'::jsonb then
        return null;
    end if;
    if pg_catalog.jsonb_typeof(p_app_metadata) <> 'object'
        or pg_catalog.octet_length(p_app_metadata::text) > 4096
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'app_metadata', 'reason', 'a JSON object of at most 4096 bytes'));
    end if;
    return p_app_metadata;
end
$$;

-- _admin_list_users(page, per_page): page `p_page` (from 1) of `p_per_page` (1 to 1000) users
-- that are not deleted, newest first (GoTrue's order), as {users: [User...], total}.
-- Raises: invalid_argument (a page below 1, a page size out of range).
create or replace function app._admin_list_users(p_page integer, p_per_page integer)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_page is null or p_page < 1 or p_per_page is null or p_per_page not between 1 and 1000 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'page', 'reason', 'a page from 1, of 1 to 1000 users'));
    end if;
    return pg_catalog.jsonb_build_object(
        'total', (select count(*) from auth.users as u where u.deleted_at is null),
        'users', coalesce((
            select pg_catalog.jsonb_agg(app._user_json(x.id) order by x.created_at desc, x.id desc)
            from (
                select u.id, u.created_at
                from auth.users as u
                where u.deleted_at is null
                order by u.created_at desc, u.id desc
                offset (p_page::bigint - 1) * p_per_page
                limit p_per_page
            ) as x
        ), '[]'::jsonb));
end
$$;

-- _admin_create_user(email, password_hash, user_metadata, app_metadata): a new user with an email
-- (confirmed at once: no mail is sent), a password or none (then they cannot sign in until one is
-- set), and the given metadata; app_metadata is merged into {provider: email, providers:
-- [email]}, so `{"role": "admin"}` makes an admin. Logged (admin_create_user). Returns the User.
-- Raises: invalid_argument (no email, a bad one, bad metadata), user_exists.
create or replace function app._admin_create_user(
    p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_email text := app._valid_email(p_email);
    v_app_metadata jsonb := app._admin_app_metadata(p_app_metadata);
    v_user uuid;
    v_after jsonb;
begin
    if v_email is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email is required'));
    end if;
    v_user := app._create_user(v_email, null, p_password_hash, '{}', p_user_metadata);
    if v_app_metadata is not null then
        update auth.users as u
        set raw_app_meta_data = app._merged_metadata(u.raw_app_meta_data, v_app_metadata)
        where u.id = v_user;
    end if;
    v_after := app._user_json(v_user);
    perform app._audit('admin_create_user', null, null, null, null, v_after, 'service_role');
    return v_after;
end
$$;

-- _admin_update_user(user, email, password_hash, user_metadata, app_metadata): an admin's change
-- of a user: email, password and user_metadata as app._update_user changes them (a new password
-- ends every session of the user, as GoTrue's admin update does), and app_metadata merged (so
-- `{"role": "admin"}` promotes and `{"role": null}` demotes, at once for every admin check).
-- Logged (admin_update_user). Returns the User.
-- Raises: user_not_found, invalid_argument, user_exists, anonymous_user.
create or replace function app._admin_update_user(
    p_user uuid, p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_app_metadata jsonb := app._admin_app_metadata(p_app_metadata);
    v_before jsonb := app._user_json(p_user);
    v_after jsonb;
begin
    if v_before is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    perform app._update_user(p_user, null, p_email, p_password_hash, p_user_metadata);
    if v_app_metadata is not null then
        update auth.users as u
        set raw_app_meta_data = app._merged_metadata(u.raw_app_meta_data, v_app_metadata),
            updated_at = now()
        where u.id = p_user;
    end if;
    v_after := app._user_json(p_user);
    perform app._audit('admin_update_user', null, null, null, v_before, v_after, 'service_role');
    return v_after;
end
$$;

-- _admin_delete_user(user): delete a user softly (auth.users.deleted_at; wallets, wagers and the
-- ledger name them, so the row stays): every session of theirs ends at once (migration 0014's
-- trigger), their tokens are refused everywhere (unknown_user), they no longer sign in or show
-- in the list; their email and username stay taken. Logged (admin_delete_user).
-- Raises: user_not_found (no such user, or deleted already).
create or replace function app._admin_delete_user(p_user uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_before jsonb := app._user_json(p_user);
begin
    if v_before is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    update auth.users as u set deleted_at = now(), updated_at = now() where u.id = p_user;
    perform app._audit(
        'admin_delete_user', null, null, null, v_before,
        pg_catalog.jsonb_build_object('id', p_user, 'deleted', true), 'service_role');
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
