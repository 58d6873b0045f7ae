-- name: begin_request
-- The start of every request run as a caller (caller_transaction): the token's session checked
-- (rpc/06_sessions.sql), then the claims, limits and role set (rpc/04_requests.sql); answers the
-- statement_timeout. The claims come twice, as JSON to check and as the text the request keeps.
select server.check_session(%(claims_json)s::jsonb),
       server.begin_request(%(role)s, %(claims)s, %(method)s, %(path)s, %(read_only)s,
                            %(function)s) as statement_timeout

-- name: session_settings
-- Session settings of every connection of the node, pooled or not (database.py's constants).
select pg_catalog.set_config('statement_timeout', %(statement_timeout)s, false),
       pg_catalog.set_config('client_connection_check_interval', %(check_interval)s, false)
