-- What an API node calls as itself: sign-up, sign-in, sessions and the scheduler's rounds.
--
-- A node logs in as `authenticator` (sql/roles.sql), which may use schema `server` and nothing
-- private: policies/05_server.sql grants it every function of this schema and no other role any.
-- Each function here is security definer (it runs as the schema's owner) and does one thing by
-- calling the private function of `app` that holds the rule, so the node reaches exactly these
-- doors and no table. Passwords arrive already hashed (argon2, in Python); refresh tokens as
-- SHA-256 digests only.

-- create_user(email, username, password_hash, user_metadata): a new user and its profile, for
-- sign-up (never an admin: app_metadata is not an argument, so a node cannot set a role);
-- user_metadata is GoTrue's `data`, the user's own.
-- Who: the API node. Changes: auth.users and app.profiles (app._create_user).
-- Raises: invalid_argument (neither given, a bad email, username or user_metadata), user_exists.
drop function if exists server.create_user(text, text, text);
create or replace function server.create_user(
    p_email text, p_username text, p_password_hash text, p_user_metadata jsonb default '{}'
)
returns uuid
language sql
security definer
set search_path = ''
as $$
    select app._create_user(p_email, p_username, p_password_hash, '{}', p_user_metadata)
$$;

-- create_anonymous_user(user_metadata): a new anonymous user, for GoTrue's anonymous sign-in,
-- while the setting anonymous_sign_ins is on (app._create_anonymous_user).
-- Who: the API node. Changes: auth.users.
-- Raises: anonymous_sign_ins_disabled, invalid_argument (a bad user_metadata).
create or replace function server.create_anonymous_user(p_user_metadata jsonb)
returns uuid
language sql
security definer
set search_path = ''
as $$
    select app._create_anonymous_user(p_user_metadata)
$$;

-- current_password_hash(claims): the password hash of the token's user (null for an anonymous
-- one), whose session must be live (server.check_session), so that a node can refuse a new
-- password equal to the old one (GoTrue's same_password) before it hashes it.
-- Who: the API node. Changes: nothing.
-- Raises: those of server.check_session (unknown_user, session_ended), not_authenticated (claims
-- that name no user).
create or replace function server.current_password_hash(p_claims jsonb)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform server.check_session(p_claims);
    if p_claims ->> 'sub' is null then
        perform app._fail('not_authenticated');
    end if;
    return (select u.encrypted_password from auth.users as u where u.id = (p_claims ->> 'sub')::uuid);
end
$$;

-- update_user(claims, email, password_hash, data): GoTrue's PUT /auth/v1/user for the token's
-- user, whose session must be live (server.check_session): a new email, a new password (the
-- user's other sessions end) or user_metadata merged (app._update_user). Returns the user's
-- GoTrue JSON.
-- Who: the API node. Changes: auth.users, app.sessions (a password change).
-- Raises: those of server.check_session (unknown_user, session_ended), not_authenticated (claims
-- that name no user), those of app._update_user (invalid_argument, user_exists, anonymous_user).
create or replace function server.update_user(
    p_claims jsonb, p_email text, p_password_hash text, p_data jsonb
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform server.check_session(p_claims);
    if p_claims ->> 'sub' is null then
        perform app._fail('not_authenticated');
    end if;
    return app._update_user(
        (p_claims ->> 'sub')::uuid, (p_claims ->> 'session_id')::uuid, p_email,
        p_password_hash, p_data);
end
$$;

-- admin_list_users(page, per_page), admin_create_user(email, password_hash, user_metadata,
-- app_metadata), admin_update_user(user, email, password_hash, user_metadata, app_metadata),
-- admin_delete_user(user): GoTrue's admin API (`/auth/v1/admin/users`) for a request the node
-- found to carry the service key (app._admin_list_users and the others, rpc/05_users.sql). These
-- set app_metadata, and so the admin role, which sign-up never can: the node holds the JWT
-- secret, so it could act as the service role (which acts as an admin) anyway.
-- Who: the API node. Changes: auth.users, app.profiles, app.sessions (a password change, a
-- deletion), app.admin_actions (every change, by the service role).
-- Raises: invalid_argument, user_exists, user_not_found, anonymous_user.
create or replace function server.admin_list_users(p_page integer, p_per_page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select app._admin_list_users(p_page, p_per_page)
$$;

create or replace function server.admin_create_user(
    p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._admin_create_user(p_email, p_password_hash, p_user_metadata, p_app_metadata)
$$;

create or replace function server.admin_update_user(
    p_user uuid, p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._admin_update_user(
        p_user, p_email, p_password_hash, p_user_metadata, p_app_metadata)
$$;

create or replace function server.admin_delete_user(p_user uuid)
returns void
language sql
security definer
set search_path = ''
as $$
    select app._admin_delete_user(p_user)
$$;

-- start_session(user, session, token_hash): a new session with its first refresh token, for a
-- user who just signed up or proved their password; returns the user's GoTrue JSON
-- (app._start_session).
-- Who: the API node. Changes: app.sessions, app.refresh_tokens, auth.users.last_sign_in_at.
-- Raises: nothing of its own (an unknown user or a reused session id breaks a constraint).
create or replace function server.start_session(
    p_user uuid, p_session uuid, p_token_hash text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._start_session(p_user, p_session, p_token_hash)
$$;

-- refresh_session(token_hash, new_hash): use up a refresh token and issue the next one; returns
-- {status, user, session_id}, a reused token ending its session (app._refresh_session).
-- Who: the API node. Changes: app.refresh_tokens, app.sessions. Raises: nothing (refusals are a
-- status, so that ending a session on reuse is committed).
create or replace function server.refresh_session(p_token_hash text, p_new_hash text)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._refresh_session(p_token_hash, p_new_hash)
$$;

-- end_sessions(user, session, scope): sign out ('local' this session, 'others', 'global');
-- returns how many sessions ended (app._end_sessions).
-- Who: the API node, for a verified token's user. Changes: app.sessions.ended_at. Raises: nothing.
create or replace function server.end_sessions(p_user uuid, p_session uuid, p_scope text)
returns integer
language sql
security definer
set search_path = ''
as $$
    select app._end_sessions(p_user, p_session, p_scope)
$$;

-- user_json(user): the GoTrue User object; null for a deleted or unknown user (app._user_json).
-- Who: the API node. Changes: nothing. Raises: nothing.
create or replace function server.user_json(p_user uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
    select app._user_json(p_user)
$$;

-- acts_as_admin(user): whether a token issued now for the user acts as an admin now: the engine's
-- rule (app._is_admin, the one public.acts_as_admin() applies to a caller) asked about the claims
-- such a token carries (its sub and the user's app_metadata, app._user_json), so that a sign-in's
-- answer says what the engine will enforce; false for a deleted or unknown user.
-- Who: the API node, for a user who just signed in or up. Changes: nothing. Raises: nothing.
create or replace function server.acts_as_admin(p_user uuid)
returns boolean
language sql stable
security definer
set search_path = ''
as $$
    select coalesce(app._is_admin(pg_catalog.jsonb_build_object(
        'sub', p_user::text, 'app_metadata', app._user_json(p_user) -> 'app_metadata'
    )), false)
$$;

-- scheduler_tick(): one round of the node's scheduler (app.scheduler_tick, rpc/60_depth.sql):
-- under an advisory lock, close due markets, settle drawn virtual markets, take due snapshots,
-- prune snapshots, quote telemetry and live events past their retention (a batch of each).
-- Who: the API node's scheduler. Changes: what app.scheduler_tick changes (markets, wagers and
-- ledger of the settled draws, app.pool_snapshots, app.quote_telemetry, app.admin_actions,
-- app.events).
-- Raises: nothing of its own (a draw that fails is reported in the answer).
create or replace function server.scheduler_tick()
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app.scheduler_tick()
$$;

-- read_events(cursor, limit): the live events committed since the hub's cursor, and its next
-- cursor (app._read_events, rpc/03_events.sql); a null cursor starts at the current end.
-- Who: the API node's hub (its relay). Changes: nothing. Raises: invalid_argument (a limit not
-- between 1 and 10000, a malformed cursor).
create or replace function server.read_events(p_cursor jsonb, p_limit integer)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._read_events(p_cursor, p_limit)
$$;

-- work_side_effect(): run the oldest due side-effect job once (app.work_side_effect,
-- rpc/70_side_effects.sql); null when none is due.
-- Who: the API node's side-effect worker. Changes: app.side_effect_jobs and what the job's
-- handler changes. Raises: nothing of its own (a failing job is recorded, not raised).
create or replace function server.work_side_effect()
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app.work_side_effect()
$$;
