-- name: server_settings
-- The server's settings a result records (environment.SERVER_SETTINGS), each with its unit.
select name, setting, unit from pg_catalog.pg_settings where name = any(%(names)s)
