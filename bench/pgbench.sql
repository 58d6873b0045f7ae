-- name: wait_states
-- What each client backend of the application is doing: its wait event, or CPU when active
-- without one; backends outside a transaction left out unless count_idle.
select coalesce(wait_event_type || ':' || wait_event,
                case when state = 'active' then 'CPU' else coalesce(state, '?') end)
from pg_catalog.pg_stat_activity
where application_name = %(application_name)s and backend_type = 'client backend'
    and (%(count_idle)s or state is distinct from 'idle')
