-- name: backends
-- Every server process with what it is for: its connection's application_name (the node's pool
-- is `wagerbase api`, its hubs `wagerbase hub`), else its backend_type (walwriter...).
select pid, coalesce(nullif(application_name, ''), backend_type)
from pg_catalog.pg_stat_activity
