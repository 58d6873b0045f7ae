-- name: current_password_hash
-- The password hash of the token's user (none for an anonymous user), to refuse a new password
-- that is the old one.
select server.current_password_hash(%(claims)s::jsonb) as hash

-- name: update_user
-- GoTrue's PUT /user: a new email, a new password hash (the user's other sessions end) and data
-- merged into user_metadata, each null for no change; the user's GoTrue JSON.
select server.update_user(%(claims)s::jsonb, %(email)s, %(password_hash)s, %(data)s::jsonb) as user
