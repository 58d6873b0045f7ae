-- 0030: the rest of issue 18 item 6 (BetService sections 6 and 7): the GGR commission stored on
-- each settled house bet at a per-game rate, and the affiliate commission a referrer accrues on
-- the GGR of the players they referred, counted by a new per-user outbox handler
-- (house_affiliate, rpc/83_house_effects.sql) and claimed through the ledger
-- (rpc/84_ggr_and_affiliates.sql; docs/side-effects.md, docs/house-games.md).

-- Each game's GGR commission rate, in basis points of the bet's GGR (update_house_game).
alter table app.house_games
add column ggr_commission_bps integer not null default 0,
add constraint house_games_ggr_commission_range check (ggr_commission_bps between 0 and 10000);

-- What a settled bet earned the house (ggr = stake - payout, negative when the player won) and
-- the commission on it at the game's rate when it settled: ggr * bps / 10000, exact (a numeric
-- of at most 4 decimals of a minor unit, never rounded). Set by a trigger when the bet settles
-- (rpc/84_ggr_and_affiliates.sql); null while a round is open.
alter table app.house_bets
add column ggr bigint,
add column ggr_commission_bps integer,
add column ggr_commission numeric;

-- The bets settled before this migration: their GGR, at a rate of 0 (no rate existed), before
-- the check below, which they would fail without it. The table's triggers are off for this one
-- statement: the guard refuses any change to a settled bet, and the rounds' guard (0027) calls a
-- function of the code layers, which are applied only after the migrations.
alter table app.house_bets disable trigger user;
update app.house_bets
set ggr = stake - payout, ggr_commission_bps = 0, ggr_commission = 0
where status = 'settled';
alter table app.house_bets enable trigger user;

alter table app.house_bets
add constraint house_bets_ggr_when_settled check (
    (status = 'settled') = (ggr is not null)
    and (ggr is null) = (ggr_commission_bps is null)
    and (ggr is null) = (ggr_commission is null)
);

-- Every player's referral code, made the first time they ask for it (get_affiliate).
create table app.referral_codes (
    user_id uuid primary key references auth.users (id),
    code text not null unique,
    created_at timestamptz not null default now(),
    constraint referral_codes_shape check (code ~ '^[0-9A-F]{10}$')
);
alter table app.referral_codes enable row level security;

-- Who referred whom: set once by the referred player (set_referrer), before their first bet,
-- never changed.
create table app.referrals (
    user_id uuid primary key references auth.users (id),
    referrer_id uuid not null references auth.users (id),
    created_at timestamptz not null default now(),
    constraint referrals_not_self check (user_id <> referrer_id)
);
create index referrals_referrer_idx on app.referrals (referrer_id);
alter table app.referrals enable row level security;

-- Each referrer's commission: `ggr` the net GGR of their referred players' bets counted, and
-- `accrued_parts` the commission on it in parts of 1/10000 of a minor unit (ggr x
-- affiliate_share_bps per bet, signed: a player's win lowers it, and the loss carries over);
-- `paid` what was claimed. Claimable: greatest(floor(accrued_parts / 10000) - paid, 0).
create table app.affiliate_commission (
    referrer_id uuid primary key references auth.users (id),
    ggr bigint not null default 0,
    accrued_parts numeric not null default 0,
    paid bigint not null default 0,
    bets bigint not null default 0,
    updated_at timestamptz not null default now(),
    constraint affiliate_commission_valid check (
        accrued_parts = trunc(accrued_parts) and paid >= 0 and bets >= 0
    )
);
alter table app.affiliate_commission enable row level security;

-- The share of a referred player's GGR their referrer earns (2500: 25%).
alter table app.config
add column affiliate_share_bps integer not null default 2500,
add constraint config_affiliate_share_valid check (affiliate_share_bps between 0 and 10000);

-- The new handler.
alter table app.side_effect_jobs drop constraint side_effect_jobs_handler_known;
alter table app.side_effect_jobs
add constraint side_effect_jobs_handler_known check (
    handler in (
        'user_stats', 'leaderboard', 'big_wins', 'market_stats',
        'house_xp', 'house_rakeback', 'house_affiliate', 'house_feed', 'house_game_stats'
    )
);
alter table app.house_effects_pending drop constraint house_effects_pending_handler_known;
alter table app.house_effects_pending
add constraint house_effects_pending_handler_known check (
    handler in ('house_xp', 'house_rakeback', 'house_affiliate', 'house_feed', 'house_game_stats')
);

-- A claim's money: one transaction, house -> wallet. The list is 0029's (the last to set it)
-- with 'affiliate_commission' added.
alter table app.ledger_transactions drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment',
    'withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection',
    'house_bet', 'house_round_open', 'house_round_settle', 'rakeback', 'affiliate_commission'
));
