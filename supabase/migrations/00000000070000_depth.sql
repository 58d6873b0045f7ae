-- Written by `wagerbase supabase` from migrations/0007_depth.sql: edit that, not this.

-- 0007: market depth and history (DBGP V2, sections 3.6 and 4.8) and scheduled closing.
--
-- app.pool_snapshots: every outcome's pool, share and odds, written every
-- app.config.snapshot_interval_seconds for open markets (by app.take_pool_snapshots, called by one
-- node's scheduler at a time) and once more when a market closes (by the trigger below, whoever
-- closes it: close_market, settle_market on an open market, or the scheduler). Read by
-- get_market_depth. RLS is enabled here; the policy lives in policies/40_depth.sql.

alter table app.config
add column snapshot_interval_seconds integer not null default 10,
add column depth_impact_threshold_pp numeric(8, 4) not null default 1,
add constraint config_snapshot_interval_range check (snapshot_interval_seconds between 1 and 86400),
add constraint config_depth_impact_threshold_valid check (depth_impact_threshold_pp >= 0);

create table app.pool_snapshots (
    id bigint generated always as identity primary key,
    market_id bigint not null references app.markets (id),
    outcome_id bigint not null references app.outcomes (id),
    -- 'interval' (the scheduler's periodic snapshot) or 'close' (the market stopped taking wagers)
    reason text not null,
    market_version bigint not null,
    outcome_pool bigint not null,
    total_pool bigint not null,
    -- the rake on the whole pool (parimutuel), 0 for fixed odds
    takeout bigint not null,
    share numeric(8, 6) not null,
    odds numeric(24, 4),
    taken_at timestamptz not null default now(),
    constraint pool_snapshots_reason_known check (reason in ('interval', 'close')),
    constraint pool_snapshots_amounts_valid check (
        outcome_pool >= 0 and total_pool >= outcome_pool and takeout >= 0
    ),
    -- one snapshot of an outcome per transaction and reason: a second writer cannot duplicate it
    constraint pool_snapshots_once unique (outcome_id, taken_at, reason)
);
create index pool_snapshots_market_idx on app.pool_snapshots (market_id, taken_at);
alter table app.pool_snapshots enable row level security;

-- The final snapshot of a market, taken in the transaction that closes it, whoever closes it.
-- app._snapshot_market is in rpc/60_depth.sql.
create function app._pool_snapshot_on_close() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._snapshot_market(new.id, 'close');
    return null;
end
$$;

create trigger markets_snapshot_on_close
after update of status on app.markets
for each row
when (old.status = 'open' and new.status = 'closed')
execute function app._pool_snapshot_on_close();
