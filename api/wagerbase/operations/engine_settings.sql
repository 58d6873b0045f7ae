-- name: as_service_role
-- The operator acts as the service role: the claims an API request with the service key has, for
-- the rest of the transaction.
select set_config('request.jwt.claims', '{"role": "service_role"}', true)

-- name: show
-- Every setting a client may read, as one JSON object.
select to_jsonb(s) from public.settings as s

-- name: update_settings
-- Validated and logged in the admin actions by the database; refused with invalid_argument.
select public.update_settings(%(changes)s)

-- name: settings_profile
-- The money settings of a named profile (real-money, play-money), to apply as update_settings.
select app.settings_profile(%(name)s)
