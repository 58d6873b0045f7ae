-- Written by `wagerbase supabase` from migrations/0015_history_retention.sql: edit that, not this.

-- 0015: how long pool snapshots and quote telemetry are kept (issue 12, "reads with limits").
--
-- Both grow with time (a snapshot row per outcome of every open market every few seconds, a
-- telemetry row per quote) and were kept for ever. The scheduler's round (app.scheduler_tick,
-- rpc/60_depth.sql) now deletes the rows older than their retention, at most
-- history_prune_batch rows of each table per round, so a long backlog is worked off a batch at a
-- time without holding locks for long. The indexes below let a round find the oldest rows without
-- reading the table. Changed only by the database owner; see docs/depth.md ("Retention").

alter table app.config
add column pool_snapshot_retention interval not null default interval '30 days',
add column quote_telemetry_retention interval not null default interval '30 days',
add column history_prune_batch integer not null default 5000,
add constraint config_history_retention_positive check (
    pool_snapshot_retention > interval '0' and quote_telemetry_retention > interval '0'
),
add constraint config_history_prune_batch_range check (history_prune_batch between 1 and 1000000);

create index pool_snapshots_taken_idx on app.pool_snapshots (taken_at);
create index quote_telemetry_created_idx on app.quote_telemetry (created_at);
