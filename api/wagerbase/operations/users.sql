-- name: create_user
-- A new user with a hashed password (rpc/05_users.sql); refused with user_exists or
-- invalid_argument.
select app._create_user(%(email)s, %(username)s, %(password_hash)s, %(app_metadata)s)

-- name: find_user
-- The id of the user with this username, email or id, or null.
select app._find_user(%(name)s)

-- name: set_admin
-- Grant or withdraw the admin role; refused with user_not_found.
select app._set_admin(%(name)s, %(admin)s)

-- name: revoke_sessions
-- End every session of the user (logged as revoke_sessions); refused with user_not_found.
select app._revoke_sessions(%(name)s, %(reason)s)
