-- name: lock_timeout_while_resolving
-- Before a call issued again to resolve its outcome: lock waits bounded by the window's time left
-- (the key may still be held by the first call's server process).
select set_config('lock_timeout', %(lock_timeout)s, true)

-- name: no_timeout_at_commit
-- Before COMMIT: no statement_timeout, which would cancel a commit's wait for a synchronous
-- standby, and no lock_timeout, which would refuse a commit that waits for a lock at commit time
-- (a deferred constraint's, or a NOTIFY some extension sends).
select set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true)
