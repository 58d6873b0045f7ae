-- name: role_limits
-- A batch runs as the node itself under its callers' role's limits (statement_timeout,
-- lock_timeout, and place_wager's own: rpc/04_requests.sql).
select server.apply_role_settings('authenticated', 'place_wager')

-- name: place_wagers
-- The batch (rpc/31_placement.sql): one answer per wager, in order, its result or its refusal.
select w.place, w.result::text as result, w.sqlstate, w.message, w.detail, w.hint
from server.place_wagers(%(market_id)s, %(wagers)s::jsonb) as w
order by w.place
