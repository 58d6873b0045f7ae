-- Written by `wagerbase supabase` from migrations/0029_house_effects.sql: edit that, not this.

-- 0029: the side effects of house bets (issue 18 item 6; BetService sections 6 and 7): XP and
-- levels, rakeback accrued on each settled bet and claimed through the ledger, the public feed of
-- live bets and the volume per game. They run as jobs of the existing outbox (0009, 0018), keyed
-- per user instead of per market.
--
-- A settled house bet (written settled by a one-shot play, or settled later by a multi-step
-- round) is put in app.house_effects_pending once per house handler, in the transaction that
-- settles it (a trigger of rpc/83_house_effects.sql), with one job per (handler, user). A job
-- consumes its user's pending rows of its handler (delete ... returning) and applies them in the
-- same transaction: each handler counts each bet exactly once however often a job runs.

-- A job is for a market (the settlement handlers) or for a user (the house handlers).
alter table app.side_effect_jobs alter column market_id drop not null;
alter table app.side_effect_jobs add column user_id uuid references auth.users (id);
alter table app.side_effect_jobs drop constraint side_effect_jobs_handler_known;
alter table app.side_effect_jobs
add constraint side_effect_jobs_handler_known check (
    handler in (
        'user_stats', 'leaderboard', 'big_wins', 'market_stats',
        'house_xp', 'house_rakeback', 'house_feed', 'house_game_stats'
    )
),
add constraint side_effect_jobs_one_key check (
    (market_id is null) <> (user_id is null)
    and (user_id is not null) = (handler like 'house\_%')
);
create index side_effect_jobs_user_idx on app.side_effect_jobs (user_id)
where user_id is not null;

-- What each house handler has still to count: one row per (handler, settled bet), deleted by the
-- job that counts it.
create table app.house_effects_pending (
    handler text not null,
    bet_id text not null references app.house_bets (id),
    user_id uuid not null references auth.users (id),
    created_at timestamptz not null default now(),
    primary key (handler, bet_id),
    constraint house_effects_pending_handler_known check (
        handler in ('house_xp', 'house_rakeback', 'house_feed', 'house_game_stats')
    )
);
create index house_effects_pending_user_idx on app.house_effects_pending (handler, user_id);
alter table app.house_effects_pending enable row level security;

-- The settings: XP per major unit (1.00) staked, and the share of the house edge paid back.
alter table app.config
add column xp_per_major_unit integer not null default 1,
add column rakeback_bps integer not null default 1000,
add column live_bets_kept integer not null default 100,
add constraint config_house_effects_valid check (
    xp_per_major_unit between 0 and 1000000 and rakeback_bps between 0 and 10000
    and live_bets_kept between 1 and 10000
);

-- The levels: a player is at the highest level whose threshold their XP reaches.
create table app.levels (
    level integer primary key,
    min_xp bigint not null unique,
    constraint levels_valid check (level >= 0 and min_xp >= 0 and (level = 0) = (min_xp = 0))
);
alter table app.levels enable row level security;
insert into app.levels (level, min_xp) values
(0, 0), (1, 100), (2, 500), (3, 1000), (4, 2500), (5, 5000), (6, 10000), (7, 25000),
(8, 50000), (9, 100000), (10, 250000), (11, 500000), (12, 1000000);

-- Each player's XP: exact (a fraction of an XP carries to the next bet), shown floored.
create table app.player_xp (
    user_id uuid primary key references auth.users (id),
    player text not null,
    xp numeric not null default 0,
    bets bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint player_xp_valid check (xp >= 0 and bets >= 0)
);
create index player_xp_rank_idx on app.player_xp (xp desc);
alter table app.player_xp enable row level security;

-- Each player's rakeback. `accrued_parts` counts in parts of 1/3,700,000,000 of a minor unit
-- (37 * 10^8: a basis point of a basis point, and roulette's edge of 1/37, are whole parts), so
-- every bet's share is an exact integer and no fraction is lost; `paid` is what was claimed, in
-- minor units. Claimable: floor(accrued_parts / 3700000000) - paid.
create table app.rakeback (
    user_id uuid primary key references auth.users (id),
    accrued_parts numeric not null default 0,
    paid bigint not null default 0,
    bets bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint rakeback_valid check (
        accrued_parts >= 0 and accrued_parts = trunc(accrued_parts) and paid >= 0 and bets >= 0
        and paid <= floor(accrued_parts / 3700000000)
    )
);
alter table app.rakeback enable row level security;

-- The public feed of live bets: the newest settled house bets (config.live_bets_kept of them),
-- by the player's public name.
create table app.live_bets (
    bet_id text primary key references app.house_bets (id),
    game text not null,
    player text not null,
    stake bigint not null,
    multiplier numeric not null,
    payout bigint not null,
    settled_at timestamptz not null
);
create index live_bets_recent_idx on app.live_bets (settled_at desc, bet_id desc);
alter table app.live_bets enable row level security;

-- The volume per game: its settled bets, what they staked, how many won and what was paid.
create table app.house_game_stats (
    game text primary key references app.house_games (game),
    bets bigint not null default 0,
    wins bigint not null default 0,
    staked bigint not null default 0,
    paid bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint house_game_stats_valid check (
        bets >= 0 and wins between 0 and bets and staked >= 0 and paid >= 0
    )
);
alter table app.house_game_stats enable row level security;

-- A claim's money: one transaction, house -> wallet. The list is 0027's (the last to set it)
-- with 'rakeback' added.
alter table app.ledger_transactions drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment',
    'withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection',
    'house_bet', 'house_round_open', 'house_round_settle', 'rakeback'
));
