-- Sign-in sessions and refresh tokens, for the GoTrue-compatible endpoints of the API, the
-- limits per client address, and the check of a request's session.
-- The app._ functions are called by the server's own role (the API node's connection before it
-- switches role for a request); the server. ones are what an API node calls as itself (schema
-- `server`, migration 0013); none is granted to a client role, except public.revoke_sessions (an
-- admin's). Passwords are checked in Python (argon2); refresh tokens arrive here as SHA-256
-- digests only.

-- _user_json: the GoTrue `User` object of a user (null for a deleted or unknown one), as GoTrue
-- answers it: user_metadata is what the user gave (GoTrue's `data`) with their username, if they
-- have one; a user with a password has one identity, GoTrue's `email` identity (its identity_id a
-- fixed function of the user id), an anonymous user or one made by an OpenID Connect provider
-- none; then one identity for each provider they signed in with (app._identities_json).
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
        'email_confirmed_at', case when u.email is not null then u.created_at end,
        'confirmed_at', case when not u.is_anonymous then u.created_at end,
        'last_sign_in_at', u.last_sign_in_at,
        'app_metadata', u.raw_app_meta_data,
        'user_metadata', coalesce(u.raw_user_meta_data, '{}') || case
            when p.username is not null then pg_catalog.jsonb_build_object('username', p.username)
            else '{}'
        end,
        'identities', case
            when u.is_anonymous or (
                u.encrypted_password is null and u.raw_app_meta_data ->> 'provider' <> 'email'
            ) then '[]'::jsonb
            else pg_catalog.jsonb_build_array(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'identity_id', pg_catalog.md5('wagerbase email identity ' || u.id::text)::uuid,
                'id', u.id::text,
                'user_id', u.id,
                'identity_data', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                    'sub', u.id::text,
                    'email', u.email,
                    'email_verified', u.email is not null,
                    'phone_verified', false
                )),
                'provider', 'email',
                'email', u.email,
                'last_sign_in_at', u.last_sign_in_at,
                'created_at', u.created_at,
                'updated_at', u.updated_at
            )))
        end || app._identities_json(u.id),
        'created_at', u.created_at,
        'updated_at', u.updated_at,
        'is_anonymous', u.is_anonymous
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
-- A token presented again within app.config.refresh_token_reuse_seconds (10) of its first use
-- refreshes its session once more (another successor: two tabs that refresh at once, or a client
-- that lost the answer, stay signed in, as with GoTrue's reuse interval); presented later, it
-- ends the whole session (a stolen token).
-- Returns {status: 'ok', user, session_id}, or {status: <GoTrue error code>} without raising,
-- so that ending a session on token reuse is committed:
--   refresh_token_not_found     no such token, or its user was deleted
--   session_not_found           the token's session ended (signed out, revoked, reused...)
--   refresh_token_already_used  the token was used before the reuse interval: the session ends now
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
        return pg_catalog.jsonb_build_object('status', case v_session.ended_reason
            when 'user_deleted' then 'refresh_token_not_found'
            else 'session_not_found'
        end);
    end if;
    if v_token.used_at is not null and now() > v_token.used_at + pg_catalog.make_interval(
        secs => (select c.refresh_token_reuse_seconds from app.config as c)
    ) then
        update app.sessions as s set ended_at = now(), ended_reason = 'refresh_token_reused'
        where s.id = v_session.id;
        return '{"status": "refresh_token_already_used"}';
    end if;
    v_user := app._user_json(v_token.user_id);
    if v_user is null then
        return '{"status": "user_not_found"}';
    end if;

    update app.refresh_tokens as t set used_at = coalesce(t.used_at, now()) where t.id = v_token.id;
    insert into app.refresh_tokens (token_hash, session_id, user_id, parent_id)
    values (p_new_hash, v_session.id, v_token.user_id, v_token.id);
    update app.sessions as s set refreshed_at = now() where s.id = v_session.id;
    return pg_catalog.jsonb_build_object(
        'status', 'ok', 'user', v_user, 'session_id', v_session.id);
end
$$;


-- _end_sessions: sign out, for `p_reason` (signed_out, revoked, user_deleted). Scope 'local' ends
-- session p_session, 'others' every other session of the user, 'global' all of them. Returns how
-- many sessions ended; each is announced to the sockets at commit (migration 0014's trigger).
drop function if exists app._end_sessions(uuid, uuid, text);
create or replace function app._end_sessions(
    p_user uuid, p_session uuid, p_scope text, p_reason text default 'signed_out'
)
returns integer
language sql
set search_path = ''
as $$
    with ended as (
        update app.sessions as s
        set ended_at = now(), ended_reason = p_reason
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

-- _announce_ended_sessions: the live message for sessions that just ended, `p_ended` a JSON
-- array of {id, user_id, reason}: one `session_ended` message per user and reason on
-- wagerbase_user, naming at most 100 sessions each (messages stay small), seen when the transaction commits.
-- Every node closes those sessions' sockets when it hears it (docs/live.md). Called by the
-- triggers of migration 0014.
create or replace function app._announce_ended_sessions(p_ended jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
        'type', 'session_ended',
        'user_id', e.user_id,
        'reason', e.reason,
        'session_ids', pg_catalog.jsonb_agg(e.id order by e.id)
    ))
    from (
        select
            x.id,
            x.user_id,
            x.reason,
            (pg_catalog.row_number() over (partition by x.user_id, x.reason order by x.id) - 1)
            / 100 as batch
        from pg_catalog.jsonb_to_recordset(coalesce(p_ended, '[]')) as x (
            id uuid, user_id uuid, reason text
        )
    ) as e
    group by e.user_id, e.reason, e.batch;
end
$$;

-- _revoke_sessions: end every live session of the user with this username, email or id (reason
-- 'revoked'), logged in the admin actions log as `revoke_sessions` by the caller; their access
-- tokens stop at once on every surface and their refresh tokens no longer refresh. For
-- public.revoke_sessions and `wagerbase users sign-out`. Returns {user_id, sessions_ended}.
-- Raises: user_not_found.
create or replace function app._revoke_sessions(p_name text, p_reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._find_user(p_name);
    v_ended integer;
begin
    if v_user is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', p_name));
    end if;
    v_ended := app._end_sessions(v_user, null, 'global', 'revoked');
    perform app._audit(
        'revoke_sessions', null, null, nullif(btrim(p_reason), ''),
        pg_catalog.jsonb_build_object('user_id', v_user, 'live_sessions', v_ended),
        pg_catalog.jsonb_build_object('user_id', v_user, 'live_sessions', 0)
    );
    return pg_catalog.jsonb_build_object('user_id', v_user, 'sessions_ended', v_ended);
end
$$;

-- revoke_sessions(user_id, reason): an admin (or the service role) signs a user out of every
-- session: each of their access tokens is refused at once on every surface (REST, RPC, /api, both
-- sockets), their refresh tokens no longer refresh; they sign in again. Logged (admin_actions,
-- with the optional reason). Returns {user_id, sessions_ended}.
-- Raises: not_admin, user_not_found.
create or replace function public.revoke_sessions(user_id uuid, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform app._require_admin();
    return app._revoke_sessions(revoke_sessions.user_id::text, reason);
end
$$;
revoke all on function public.revoke_sessions(uuid, text) from public;
grant execute on function public.revoke_sessions(uuid, text) to authenticated, service_role;

-- server.check_session(claims): refuse a request whose token names a user (a `sub` claim) unless
-- that user exists and the token's session (its `session_id` claim) is one of theirs that has not
-- ended. An API node calls it with the claims in the statement that starts each request as the
-- caller (database.py), so the access tokens of a session that ended (sign-out of any scope, a
-- reused refresh token, an admin's revocation, a deleted user) are refused on every surface at
-- once, public views included, at no extra round trip. Tokens that name no user (the anon and
-- service keys) pass. A user token without session_id is refused: every token Wagerbase issued
-- carries one, and one without could never be signed out. Changes nothing.
-- Raises: unknown_user (no such user, or deleted), session_ended (detail.reason: signed_out,
-- refresh_token_reused, revoked, user_deleted; not_found; no_session_id; ended, for a session
-- that ended before reasons were kept).
create or replace function server.check_session(p_claims jsonb)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_sub text := p_claims ->> 'sub';
    v_session_id text := p_claims ->> 'session_id';
    v_session app.sessions;
begin
    if v_sub is null then
        return;
    end if;
    if v_sub !~* v_uuid then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_sub));
    end if;
    if not exists (
        select 1 from auth.users as u where u.id = v_sub::uuid and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_sub));
    end if;
    if v_session_id is null or v_session_id !~* v_uuid then
        perform app._fail('session_ended', pg_catalog.jsonb_build_object(
            'session_id', v_session_id, 'reason', 'no_session_id'));
    end if;
    select * into v_session
    from app.sessions as s
    where s.id = v_session_id::uuid and s.user_id = v_sub::uuid;
    if not found or v_session.ended_at is not null then
        perform app._fail('session_ended', pg_catalog.jsonb_build_object(
            'session_id', v_session_id,
            'reason', case when found then coalesce(v_session.ended_reason, 'ended') else 'not_found' end,
            'ended_at', v_session.ended_at));
    end if;
end
$$;

-- server.ended_sessions(ids): which of these sessions are no longer live (ended, or gone with
-- their user). A node's hub asks it for its sockets' sessions after it listens again, since a
-- `session_ended` message sent while it was not listening is lost. Changes nothing.
create or replace function server.ended_sessions(p_sessions uuid[])
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
    select x.id
    from pg_catalog.unnest(p_sessions) as x (id)
    where not exists (
        select 1 from app.sessions as s where s.id = x.id and s.ended_at is null
    )
$$;

-- server.check_rate_limit(action, address): count one attempt at `p_action` (sign_in, sign_up or
-- refresh) from client address `p_address` if the address is within its limit
-- (app.config.<action>_limit_per_address attempts in the last address_limit_window, a sliding
-- window); returns 0 then, else the seconds until it will be (Retry-After), counting nothing.
-- An IPv6 address counts with its /64 network. Attempts of one address are serialised by an
-- advisory lock, so none slips through; each call also deletes up to 100 expired rows of any
-- address, skipping rows another call holds.
-- Raises: invalid_argument (an unknown action, or no address).
create or replace function server.check_rate_limit(p_action text, p_address inet)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_address inet := case pg_catalog.family(p_address)
        when 6 then pg_catalog.network(pg_catalog.set_masklen(p_address, 64))::inet
        else pg_catalog.set_masklen(p_address, 32)
    end;
    v_limit integer;
    v_window interval;
    v_count integer;
    v_oldest timestamptz;
begin
    select
        case p_action
            when 'sign_in' then c.sign_in_limit_per_address
            when 'sign_up' then c.sign_up_limit_per_address
            when 'refresh' then c.refresh_limit_per_address
        end,
        c.address_limit_window
    into v_limit, v_window
    from app.config as c;
    if v_limit is null or v_address is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', case when v_limit is null then 'action' else 'address' end,
            'reason', 'sign_in, sign_up or refresh, from an address'));
    end if;
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('address:' || p_action || ':' || v_address::text, 0));
    delete from app.address_attempts as a
    where a.action = p_action and a.address = v_address and a.attempted_at <= v_now - v_window;
    select count(*) into v_count
    from app.address_attempts as a
    where a.action = p_action and a.address = v_address;
    if v_count >= v_limit then
        -- the attempt whose expiry brings the count below the limit
        select a.attempted_at into v_oldest
        from app.address_attempts as a
        where a.action = p_action and a.address = v_address
        order by a.attempted_at
        offset v_count - v_limit
        limit 1;
        return greatest(1, ceil(extract(epoch from v_oldest + v_window - v_now)))::integer;
    end if;
    insert into app.address_attempts (action, address, attempted_at)
    values (p_action, v_address, v_now);
    delete from app.address_attempts as a
    where a.id in (
        select x.id from app.address_attempts as x
        where x.attempted_at <= v_now - v_window
        limit 100
        for update skip locked
    );
    return 0;
end
$$;

-- server.begin_sign_in(address, identifier, limit): the checks before a password sign-in, in one
-- call, so that no password is hashed for a refused attempt: the client address's limit
-- (server.check_rate_limit), then the name's (app._sign_in_allowed, `p_limit` a minute), then
-- the user with this email, username or id. One row: retry_after (0 when allowed, else the
-- seconds to wait), limited_by ('address', 'identifier', or null), and the user's id and password
-- hash (null when the name names nobody, or when refused).
-- Raises: invalid_argument (no address).
create or replace function server.begin_sign_in(p_address inet, p_identifier text, p_limit integer)
returns table (retry_after integer, limited_by text, user_id uuid, password_hash text)
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_wait integer := server.check_rate_limit('sign_in', p_address);
begin
    if v_wait > 0 then
        return query select v_wait, 'address'::text, null::uuid, null::text;
    elsif not app._sign_in_allowed(p_identifier, p_limit) then
        return query select 60, 'identifier'::text, null::uuid, null::text;
    else
        return query
        select 0, null::text, f.user_id, f.password_hash
        from (select 1) as one
        left join app._user_for_sign_in(p_identifier) as f on true;
    end if;
end
$$;
