-- Written by `wagerbase supabase` from migrations/0012_durable_replays.sql: edit that, not this.

-- 0012: a replayed answer is as durable as the call it replays.
--
-- A call with an idempotency key that ran before answers its stored result (app._idempotency_begin).
-- Such a replay wrote nothing, and PostgreSQL waits for the synchronous standby only at the commit
-- of a transaction that wrote WAL. After a failover the new primary could therefore tell a client
-- "it happened" about a commit that no second machine held yet: if the new primary died next, the
-- acknowledged operation could be lost. A replay now counts itself on the key's row, so its
-- commit writes WAL and waits for the standby, after every commit before it, the replayed one
-- included. The count also shows how often clients (and the API, resolving unknown outcomes)
-- retried a key.

alter table app.idempotency_keys
add column replays integer not null default 0,
add column last_replayed_at timestamptz;
