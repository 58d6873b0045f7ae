-- Written by `wagerbase supabase` from migrations/0009_side_effects.sql: edit that, not this.

-- 0009: side effects after settlement (issue 5; BetService, section 6).
--
-- Settling or unsettling a market writes one job per handler into app.side_effect_jobs, in the
-- same transaction, so a job exists exactly when the change committed. Workers on every API node
-- take due jobs with `for update skip locked`, retry a failing one with exponential backoff and
-- give up after side_effect_max_attempts; an admin can retry a failed one. Each handler records
-- what it counted per wager in app.side_effects_applied and only ever applies the difference
-- between a wager's settled state and that record, so a job run twice, a job re-delivered, or a
-- settlement reversed and settled again all end with every wager counted once, as it stands.
-- The functions are in rpc/70_side_effects.sql; see docs/side-effects.md.

alter table app.config
add column side_effect_max_attempts integer not null default 10,
add column side_effect_backoff_ms integer not null default 500,
add column side_effect_lock_timeout_ms integer not null default 2000,
add column big_win_min_profit bigint not null default 10000,
add constraint config_side_effects_valid check (
    side_effect_max_attempts between 1 and 100
    and side_effect_backoff_ms between 1 and 3600000
    and side_effect_lock_timeout_ms between 1 and 600000
    and big_win_min_profit > 0
);

-- The outbox: one row per (handler, market, event). A job reconciles every wager of its market,
-- so how many jobs a market gets never changes what is counted.
create table app.side_effect_jobs (
    id bigint generated always as identity primary key,
    handler text not null,
    market_id bigint not null references app.markets (id),
    -- what wrote the job: 'settled' (settle_market, confirm_settlement, resettle_market, a draw)
    -- or 'unsettled' (unsettle_market, resettle_market)
    event text not null,
    status text not null default 'pending',
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_error text,
    -- how many wagers the successful run changed (0 when another job had done it already)
    changed integer,
    retried_by uuid,
    retried_at timestamptz,
    created_at timestamptz not null default now(),
    done_at timestamptz,
    constraint side_effect_jobs_handler_known check (
        handler in ('user_stats', 'leaderboard', 'big_wins', 'market_stats')
    ),
    constraint side_effect_jobs_event_known check (event in ('settled', 'unsettled')),
    constraint side_effect_jobs_status_known check (status in ('pending', 'done', 'failed')),
    constraint side_effect_jobs_done_when check ((status = 'done') = (done_at is not null)),
    constraint side_effect_jobs_attempts_valid check (attempts >= 0)
);
create index side_effect_jobs_due_idx on app.side_effect_jobs (next_attempt_at, id)
where status = 'pending';
create index side_effect_jobs_failed_idx on app.side_effect_jobs (id) where status = 'failed';
create index side_effect_jobs_market_idx on app.side_effect_jobs (market_id);
alter table app.side_effect_jobs enable row level security;

-- What a handler has counted for a wager: its idempotency record, one row per (handler, wager).
-- A wager counts when it was won or lost; a void one counts nothing.
create table app.side_effects_applied (
    handler text not null,
    wager_id bigint not null references app.wagers (id),
    market_id bigint not null references app.markets (id),
    user_id uuid not null,
    counted boolean not null,
    won boolean not null,
    stake bigint not null,
    payout bigint not null,
    settled_at timestamptz,
    job_id bigint not null,
    applied_at timestamptz not null default now(),
    primary key (handler, wager_id),
    constraint side_effects_applied_amounts_valid check (stake >= 0 and payout >= 0),
    constraint side_effects_applied_counted_when check (
        counted or (not won and stake = 0 and payout = 0 and settled_at is null)
    )
);
create index side_effects_applied_market_idx on app.side_effects_applied (handler, market_id);
alter table app.side_effects_applied enable row level security;

-- The composite a job works on: one wager's counted state before (old_) and now (new_).
create type app.side_effect_change as (
    wager_id bigint,
    user_id uuid,
    market_id bigint,
    old_counted boolean,
    old_won boolean,
    old_stake bigint,
    old_payout bigint,
    old_settled_at timestamptz,
    new_counted boolean,
    new_won boolean,
    new_stake bigint,
    new_payout bigint,
    new_settled_at timestamptz
);

-- Handler 'user_stats': a user's settled wagers (won or lost), over all time.
create table app.user_stats (
    user_id uuid primary key references auth.users (id),
    wagers integer not null default 0,
    wins integer not null default 0,
    wagered bigint not null default 0,
    won bigint not null default 0,
    profit bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint user_stats_counts_valid check (
        wagers >= 0 and wins between 0 and wagers and wagered >= 0 and won >= 0
        and profit = won - wagered
    )
);
alter table app.user_stats enable row level security;

-- Handler 'leaderboard': the same figures per UTC day, ISO week (from Monday) and month, by the
-- time each wager was settled. `player` is the public name (a username, never an email).
create table app.leaderboard (
    period text not null,
    period_start date not null,
    user_id uuid not null references auth.users (id),
    player text not null,
    wagers integer not null default 0,
    wins integer not null default 0,
    wagered bigint not null default 0,
    won bigint not null default 0,
    profit bigint not null default 0,
    updated_at timestamptz not null default now(),
    primary key (period, period_start, user_id),
    constraint leaderboard_period_known check (period in ('day', 'week', 'month')),
    constraint leaderboard_counts_valid check (
        wagers >= 0 and wins between 0 and wagers and wagered >= 0 and won >= 0
        and profit = won - wagered
    )
);
create index leaderboard_rank_idx on app.leaderboard (period, period_start, profit desc);
alter table app.leaderboard enable row level security;

-- Handler 'big_wins': the public feed of winning wagers whose profit reached
-- config.big_win_min_profit when counted. A correction that takes the win away removes it.
create table app.big_wins (
    wager_id bigint primary key references app.wagers (id),
    market_id bigint not null references app.markets (id),
    outcome_id bigint not null references app.outcomes (id),
    user_id uuid not null references auth.users (id),
    player text not null,
    stake bigint not null,
    payout bigint not null,
    profit bigint generated always as (payout - stake) stored,
    settled_at timestamptz not null
);
create index big_wins_recent_idx on app.big_wins (settled_at desc, wager_id desc);
alter table app.big_wins enable row level security;

-- Handler 'market_stats': a market's settled wagers and what they paid.
create table app.market_stats (
    market_id bigint primary key references app.markets (id),
    wagers integer not null default 0,
    wins integer not null default 0,
    staked bigint not null default 0,
    paid bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint market_stats_counts_valid check (
        wagers >= 0 and wins between 0 and wagers and staked >= 0 and paid >= 0
    )
);
alter table app.market_stats enable row level security;
