-- Written by `wagerbase supabase` from migrations/0004_responsible_play.sql: edit that, not this.

-- 0004: responsible play (BetService, section 3.2): self-exclusion, daily stake and deposit limits.
--
-- A user sets their own limits through the functions of rpc/15_limits.sql; place_wager and deposit
-- enforce them. Tightening takes effect at once; loosening waits for the cooling-off delay below,
-- kept as a pending value with the moment it applies. A self-exclusion is never shortened.
-- docs/responsible-play.md tells the whole story.

-- The delay before a loosened limit applies (24 hours unless changed here).
alter table app.config
add column play_limit_cooling_off interval not null default interval '24 hours',
add constraint config_cooling_off_non_negative check (play_limit_cooling_off >= interval '0');

-- One row per user who ever set a limit; no row means no limits. A limit of null means none.
-- pending_*: a loosening waiting for its cooling-off; it is in force from pending_*_at on (the
-- view app.play_limits_in_force folds it in). pending_*_at is null when nothing is pending; a
-- pending value of null with a time means "remove the limit then".
create table app.play_limits (
    user_id uuid primary key references auth.users (id) on delete cascade,
    self_excluded_until timestamptz,
    daily_stake_limit bigint,
    pending_daily_stake_limit bigint,
    pending_daily_stake_limit_at timestamptz,
    daily_deposit_limit bigint,
    pending_daily_deposit_limit bigint,
    pending_daily_deposit_limit_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint play_limits_non_negative check (
        daily_stake_limit >= 0 and pending_daily_stake_limit >= 0
        and daily_deposit_limit >= 0 and pending_daily_deposit_limit >= 0
    ),
    constraint play_limits_pending_has_time check (
        (pending_daily_stake_limit is null or pending_daily_stake_limit_at is not null)
        and (pending_daily_deposit_limit is null or pending_daily_deposit_limit_at is not null)
    )
);
alter table app.play_limits enable row level security;

-- Every request to change a limit, as made (the history support reads): the value in force
-- before, the value asked for, and whether it applied at once, waits until applies_at, or changed
-- nothing. Append-only in practice: only rpc/15_limits.sql writes it, and only inserts.
create table app.play_limit_changes (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    actor uuid,
    setting text not null,
    previous_value jsonb not null,
    requested_value jsonb not null,
    effect text not null,
    applies_at timestamptz not null,
    created_at timestamptz not null default now(),
    constraint play_limit_changes_setting_known check (
        setting in ('self_excluded_until', 'daily_stake_limit', 'daily_deposit_limit')
    ),
    constraint play_limit_changes_effect_known check (effect in ('immediate', 'pending', 'unchanged'))
);
create index play_limit_changes_user_idx on app.play_limit_changes (user_id, id);
alter table app.play_limit_changes enable row level security;

-- The deposit limit sums the last 24 hours of a user's deposits; wagers already have
-- wagers_user_idx (user_id, created_at desc) for the stake limit.
create index ledger_entries_user_deposits_idx on app.ledger_entries (user_id, created_at)
where kind = 'deposit';
