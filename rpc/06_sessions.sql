-- Sign-in sessions and refresh tokens, for the GoTrue-compatible endpoints of the API.
-- Called by the server's own role (the API node's connection before it switches role for a
-- request); not granted to any client role. Passwords are checked in Python (argon2); refresh
-- tokens arrive here as SHA-256 digests only.

-- _user_json: the GoTrue `User` object of a user.
create or replace function app._user_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'id', u.id,
        'aud', 'authenticated',
        'role', 'authenticated',
        'email', coalesce(u.email, ''),
        'phone', '',
        'email_confirmed_at', u.created_at,
        'confirmed_at', u.created_at,
        'last_sign_in_at', u.last_sign_in_at,
        'app_metadata', u.raw_app_meta_data,
        'user_metadata', u.raw_user_meta_data || case
            when p.username is not null then pg_catalog.jsonb_build_object('username', p.username)
            else '{}'
        end,
        'identities', '[]'::jsonb,
        'created_at', u.created_at,
        'updated_at', u.updated_at,
        'is_anonymous', false
    )
    from auth.users as u
    left join app.profiles as p on u.id = p.user_id
    where u.id = p_user and u.deleted_at is null
$$;

-- _sign_in_allowed: count one sign-in attempt for `p_identifier` and say whether it is within
-- `p_limit` attempts in the last 60 seconds (a sliding window, so no burst at a minute's edge).
-- Counted before the password is checked, so guessing is slowed whether the guesses are right or
-- wrong; attempts for one identifier are serialised by an advisory lock so none slips through.
create or replace function app._sign_in_allowed(p_identifier text, p_limit integer)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    -- counted per user, whichever of their names is typed; per name when it names nobody
    v_identifier text := coalesce(app._find_user(p_identifier)::text, lower(p_identifier));
    v_recent integer;
begin
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sign-in:' || v_identifier, 0));
    delete from app.sign_in_attempts as a
    where a.attempted_at < clock_timestamp() - interval '1 minute';
    insert into app.sign_in_attempts (identifier) values (v_identifier);
    select count(*) into v_recent from app.sign_in_attempts as a where a.identifier = v_identifier;
    return v_recent <= p_limit;
end
$$;

-- _user_for_sign_in: the user with this email or username, with the password hash to check.
create or replace function app._user_for_sign_in(p_identifier text)
returns table (user_id uuid, password_hash text)
language sql stable
set search_path = ''
as $$
    select u.id, u.encrypted_password
    from auth.users as u
    where u.id = app._find_user(p_identifier)
$$;

-- _start_session: a new session for a user who just proved their password (or signed up), with
-- its first refresh token. Returns the user's JSON.
create or replace function app._start_session(p_user uuid, p_session uuid, p_token_hash text)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    insert into app.sessions (id, user_id) values (p_session, p_user);
    insert into app.refresh_tokens (token_hash, session_id, user_id)
    values (p_token_hash, p_session, p_user);
    update auth.users as u set last_sign_in_at = now() where u.id = p_user;
    return app._user_json(p_user);
end
$$;

-- _refresh_session: use up refresh token `p_token_hash` and issue `p_new_hash` in its place.
-- Returns {status: 'ok', user, session_id}, or {status: <GoTrue error code>} without raising,
-- so that ending a session on token reuse is committed:
--   refresh_token_not_found     no such token, or its session was ended
--   refresh_token_already_used  the token was used before: the whole session ends now
--   user_not_found              the user was deleted
create or replace function app._refresh_session(p_token_hash text, p_new_hash text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_token app.refresh_tokens;
    v_session app.sessions;
    v_user jsonb;
begin
    select * into v_token from app.refresh_tokens as t where t.token_hash = p_token_hash for update;
    if not found then
        return '{"status": "refresh_token_not_found"}';
    end if;
    select * into v_session from app.sessions as s where s.id = v_token.session_id for update;
    if v_session.ended_at is not null then
        return '{"status": "refresh_token_not_found"}';
    end if;
    if v_token.used_at is not null then
        update app.sessions as s set ended_at = now() where s.id = v_session.id;
        return '{"status": "refresh_token_already_used"}';
    end if;
    v_user := app._user_json(v_token.user_id);
    if v_user is null then
        return '{"status": "user_not_found"}';
    end if;

    update app.refresh_tokens as t set used_at = now() where t.id = v_token.id;
    insert into app.refresh_tokens (token_hash, session_id, user_id, parent_id)
    values (p_new_hash, v_session.id, v_token.user_id, v_token.id);
    update app.sessions as s set refreshed_at = now() where s.id = v_session.id;
    return pg_catalog.jsonb_build_object(
        'status', 'ok', 'user', v_user, 'session_id', v_session.id);
end
$$;

-- _end_sessions: sign out. scope 'local' ends this session, 'others' every other session of the
-- user, 'global' all of them. Returns how many sessions ended.
create or replace function app._end_sessions(p_user uuid, p_session uuid, p_scope text)
returns integer
language sql
set search_path = ''
as $$
    with ended as (
        update app.sessions as s
        set ended_at = now()
        where s.user_id = p_user
            and s.ended_at is null
            and case p_scope
                when 'local' then s.id = p_session
                when 'others' then s.id is distinct from p_session
                else true
            end
        returning 1
    )
    select count(*)::integer from ended
$$;
