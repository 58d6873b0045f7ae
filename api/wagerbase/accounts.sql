-- name: start_session
-- A new session of the user, its refresh token's digest kept (rpc/95_server.sql); the user's
-- GoTrue JSON, and whether the user's token acts as an admin now (the engine's rule).
select
    server.start_session(%(user_id)s, %(session_id)s, %(refresh_digest)s) as user,
    server.acts_as_admin(%(user_id)s) as acts_as_admin

-- name: check_rate_limit
-- Count an attempt (sign_in, sign_up, refresh) against the client address's limit, shared by
-- every node (rpc/06_sessions.sql): the seconds to wait, 0 when within it.
select server.check_rate_limit(%(action)s, %(address)s::inet) as wait

-- name: create_user
-- A new user, never an admin, with its user_metadata; refused with user_exists or
-- invalid_argument.
select server.create_user(%(email)s, %(username)s, %(password_hash)s, %(data)s::jsonb) as id

-- name: begin_sign_in
-- A sign-in counted against the address's limit and the name's: which limit refused it (and for
-- how long), else the user and their password hash (none when the name names nobody).
select * from server.begin_sign_in(%(address)s::inet, %(identifier)s, %(limit)s)

-- name: refresh_session
-- Use up a refresh token (by its digest) for a new one: {status, session_id, user}, and whether
-- the user's new token acts as an admin now (the engine's rule; false when refused).
with refreshed as materialized (
    select server.refresh_session(%(refresh_digest)s, %(new_digest)s) as result
)
select
    r.result,
    server.acts_as_admin((r.result -> 'user' ->> 'id')::uuid) as acts_as_admin
from refreshed as r

-- name: check_session
-- Refuses a token whose session ended or whose user is gone (session_ended, unknown_user).
select server.check_session(%(claims)s::jsonb)

-- name: end_sessions
-- End sessions of the user: scope local (this one), others or global.
select server.end_sessions(%(user_id)s, %(session_id)s, %(scope)s)

-- name: user_json
-- The GoTrue User object of the token's user, whose session must be live.
select server.check_session(%(claims)s::jsonb), server.user_json(%(user_id)s) as user

-- name: create_anonymous_user
-- A new anonymous user with its user_metadata, while the setting anonymous_sign_ins is on;
-- refused with anonymous_sign_ins_disabled or invalid_argument.
select server.create_anonymous_user(%(data)s::jsonb) as id
