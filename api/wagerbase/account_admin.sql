-- name: admin_list_users
-- {users, total}: one page of users, newest first; refused with invalid_argument.
select server.admin_list_users(%(page)s, %(per_page)s) as page

-- name: admin_get_user
-- The GoTrue User object with this id, or null.
select server.user_json(%(user_id)s) as user

-- name: admin_create_user
-- A new user made by the service role; refused with user_exists, anonymous_user or
-- invalid_argument.
select server.admin_create_user(
    %(email)s, %(password_hash)s, %(user_metadata)s::jsonb, %(app_metadata)s::jsonb
) as user

-- name: admin_update_user
-- A user changed by the service role, each null argument no change; refused with user_exists,
-- user_not_found, anonymous_user or invalid_argument.
select server.admin_update_user(
    %(user_id)s, %(email)s, %(password_hash)s, %(user_metadata)s::jsonb, %(app_metadata)s::jsonb
) as user

-- name: admin_delete_user
-- Delete a user softly; refused with user_not_found.
select server.admin_delete_user(%(user_id)s) as user
