-- Written by `wagerbase supabase` from migrations/0018_side_effect_counts.sql: edit that, not this.

-- 0018: side effects count per (handler, market, user, settlement time), not per wager (issue 15).
--
-- A side-effect job compared every wager of its market with its handler's record of that wager
-- (app.side_effects_applied, one row per handler and wager), and wrote the record back: a market
-- of 100,000 wagers cost each handler seconds, whatever the number of bettors, and four records
-- of every wager ever settled were kept. The handlers only ever add up wagers per user, per
-- (period, user) by settlement time, and per market, so what a job has to remember is what it
-- counted for each user of the market at each settlement time: app.side_effect_counts. A job now
-- adds up the market's wagers per (user, settled_at) and compares those sums with the record: the
-- same difference the handlers applied before, one row per bettor instead of one per wager.
-- Every wager still counts once through re-delivery, unsettle and resettle (docs/side-effects.md,
-- "Counting once"). The functions are in rpc/70_side_effects.sql.

-- What a handler has counted of one user's wagers on one market that were settled (won or lost)
-- at one time. Groups that count nothing have no row.
create table app.side_effect_counts (
    handler text not null,
    market_id bigint not null references app.markets (id),
    user_id uuid not null,
    settled_at timestamptz not null,
    wagers integer not null,
    wins integer not null,
    stake bigint not null,
    payout bigint not null,
    job_id bigint not null,
    applied_at timestamptz not null default now(),
    primary key (handler, market_id, user_id, settled_at),
    constraint side_effect_counts_valid check (
        wagers > 0 and wins between 0 and wagers and stake >= 0 and payout >= 0
    )
);
alter table app.side_effect_counts enable row level security;

-- what was counted per wager, summed per group: the jobs that follow find the same difference
-- as they would have before
insert into app.side_effect_counts (
    handler, market_id, user_id, settled_at, wagers, wins, stake, payout, job_id, applied_at
)
select
    a.handler,
    a.market_id,
    a.user_id,
    a.settled_at,
    count(*) as wagers,
    count(*) filter (where a.won) as wins,
    sum(a.stake) as stake,
    sum(a.payout) as payout,
    max(a.job_id) as job_id,
    max(a.applied_at) as applied_at
from app.side_effects_applied as a
where a.counted
group by a.handler, a.market_id, a.user_id, a.settled_at;

-- the functions that took the per-wager composite go with it; rpc/70_side_effects.sql makes the
-- new ones
drop type app.side_effect_change cascade;
drop table app.side_effects_applied;

-- The composite a job works on: one (user, settlement time) group of its market, as the handler
-- counted it before (old_) and as the wagers stand now (new_). Zero counts: no wagers.
create type app.side_effect_change as (
    user_id uuid,
    settled_at timestamptz,
    old_wagers integer,
    old_wins integer,
    old_stake bigint,
    old_payout bigint,
    new_wagers integer,
    new_wins integer,
    new_stake bigint,
    new_payout bigint
);

-- What a set of changes adds to one leaderboard row (app._leaderboard_moves).
create type app.leaderboard_move as (
    period text,
    period_start date,
    user_id uuid,
    wagers bigint,
    wins bigint,
    wagered bigint,
    won bigint
);
