-- Written by `wagerbase supabase` from migrations/0001_engine.sql: edit that, not this.

-- 0001: the money engine's tables.
--
-- Everything lives in the private schema `app`; clients reach it only through the functions in rpc/
-- and the views in policies/. RLS is enabled here, in the migration that creates each table; the
-- policies themselves live in policies/ and are re-applied on every migrate.
--
-- Money is bigint minor units (100 = 1.00). Ratios are basis points or numeric, never float.

create schema app;

-- Users --------------------------------------------------------------------------------------------

-- The same table hosted Supabase keeps for its users; created here, with a unique email, when it
-- does not exist yet (a plain PostgreSQL); left alone when it does (Supabase owns and indexes it).
do $users$
begin
    if to_regclass('auth.users') is null then
        create table auth.users (
            id uuid primary key,
            email text,
            encrypted_password text,
            raw_app_meta_data jsonb not null default '{}',
            raw_user_meta_data jsonb not null default '{}',
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            last_sign_in_at timestamptz,
            deleted_at timestamptz
        );
        create unique index users_email_key on auth.users (lower(email));
    end if;
end
$users$;

-- A user's public name (BetMarket signs in by username). One row per user.
create table app.profiles (
    user_id uuid primary key references auth.users (id) on delete cascade,
    username text not null,
    created_at timestamptz not null default now(),
    constraint profiles_username_shape check (username ~ '^[A-Za-z0-9_.-]{3,32}$')
);
create unique index profiles_username_key on app.profiles (lower(username));
alter table app.profiles enable row level security;

-- Configuration ------------------------------------------------------------------------------------

-- One row of engine-wide settings. Changing a default changes new markets and wallets only.
create table app.config (
    id boolean primary key default true,
    initial_balance bigint not null default 10000,
    max_deposit bigint not null default 1000000,
    max_withdrawal bigint not null default 1000000,
    odds_tolerance numeric(8, 4) not null default 0.01,
    default_virtual_stake bigint not null default 10000,
    default_commission_bps integer not null default 5000,
    default_margin bigint not null default 5000,
    default_min_cap bigint not null default 1000,
    default_rake_bps integer not null default 500,
    default_max_payout bigint not null default 100000000,
    constraint config_single_row check (id),
    constraint config_amounts_valid check (
        initial_balance >= 0 and max_deposit > 0 and max_withdrawal > 0
        and default_virtual_stake > 0 and default_margin >= 0 and default_min_cap > 0
        and default_max_payout > 0 and odds_tolerance >= 0
    ),
    constraint config_commission_range check (default_commission_bps between 0 and 9999),
    constraint config_rake_range check (default_rake_bps between 0 and 2500)
);
alter table app.config enable row level security;

-- Markets and outcomes -----------------------------------------------------------------------------

create table app.markets (
    id bigint generated always as identity primary key,
    title text not null,
    description text not null default '',
    kind text not null,
    category text not null default 'real',
    status text not null default 'draft',
    -- fixed odds (BetMarket): virtual stake V, commission c (bps), margin M, minimum cap
    virtual_stake bigint not null,
    commission_bps integer not null,
    margin bigint not null,
    min_cap bigint not null,
    -- parimutuel (DBGP): rake taken from the pool before winners share it
    rake_bps integer not null,
    requires_approval boolean not null default false,
    closes_at timestamptz,
    -- the most one wager may pay (BetService's max-profit ceiling)
    max_payout bigint not null,
    outcome_count smallint not null,
    -- accepted stakes on every outcome (pending wagers are held apart and not counted)
    total_pool bigint not null default 0,
    -- grows with every change a client would show; live messages carry it so stale ones are dropped
    version bigint not null default 1,
    winning_outcome_id bigint,
    void_reason text,
    created_by uuid,
    created_at timestamptz not null default now(),
    opened_at timestamptz,
    closed_at timestamptz,
    settled_at timestamptz,
    voided_at timestamptz,
    constraint markets_title_present check (length(btrim(title)) between 1 and 200),
    constraint markets_kind_known check (kind in ('fixed_odds', 'parimutuel')),
    constraint markets_category_known check (category in ('real', 'virtual')),
    constraint markets_status_known check (status in ('draft', 'open', 'closed', 'settled', 'void')),
    constraint markets_rake_range check (rake_bps between 0 and 2500),
    constraint markets_commission_range check (commission_bps between 0 and 9999),
    constraint markets_parameters_positive check (
        virtual_stake > 0 and margin >= 0 and min_cap > 0 and max_payout > 0
    ),
    constraint markets_pool_non_negative check (total_pool >= 0),
    constraint markets_outcome_count_range check (outcome_count between 2 and 32),
    constraint markets_winner_only_when_settled check (
        (status = 'settled') = (winning_outcome_id is not null)
    )
);
create index markets_status_idx on app.markets (status, closes_at);
alter table app.markets enable row level security;

create table app.outcomes (
    id bigint generated always as identity primary key,
    market_id bigint not null references app.markets (id),
    position smallint not null,
    label text not null,
    color text,
    abbreviation text,
    -- T_i: accepted stakes on this outcome
    pool bigint not null default 0,
    -- L_i: payouts already promised on this outcome (fixed odds)
    liability bigint not null default 0,
    wager_count integer not null default 0,
    constraint outcomes_position_unique unique (market_id, position),
    constraint outcomes_label_present check (length(btrim(label)) between 1 and 100),
    constraint outcomes_totals_non_negative check (
        pool >= 0 and liability >= 0 and wager_count >= 0
    )
);
alter table app.outcomes enable row level security;

alter table app.markets
add constraint markets_winning_outcome_fk foreign key (winning_outcome_id)
references app.outcomes (id);

-- Accounts and the double-entry ledger -------------------------------------------------------------

-- Every wallet is an account: one per user, one escrow per market, and three system accounts
-- (the house, the outside world for deposits and withdrawals, and the grants that fund new wallets).
create table app.accounts (
    id bigint generated always as identity primary key,
    kind text not null,
    user_id uuid unique references auth.users (id),
    market_id bigint unique references app.markets (id),
    balance bigint not null default 0,
    -- grows by one with every entry; it is the balance_seq of live balance updates
    version bigint not null default 0,
    created_at timestamptz not null default now(),
    constraint accounts_kind_known check (kind in ('user', 'escrow', 'house', 'world', 'grants')),
    constraint accounts_owner_matches_kind check (
        (kind = 'user') = (user_id is not null)
        and (kind = 'escrow') = (market_id is not null)
    ),
    -- user wallets and market escrows can never go negative; only system accounts can
    constraint accounts_balance_non_negative check (
        kind in ('house', 'world', 'grants') or balance >= 0
    )
);
create unique index accounts_one_per_system_kind on app.accounts (kind)
where kind in ('house', 'world', 'grants');
alter table app.accounts enable row level security;

-- One movement of money: two or more entries that sum to zero.
create table app.ledger_transactions (
    id bigint generated always as identity primary key,
    kind text not null,
    market_id bigint references app.markets (id),
    wager_id bigint,
    actor uuid,
    memo jsonb not null default '{}',
    created_at timestamptz not null default now(),
    constraint ledger_transactions_kind_known check (kind in (
        'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void'
    ))
);
create index ledger_transactions_market_idx on app.ledger_transactions (market_id);
alter table app.ledger_transactions enable row level security;

create table app.ledger_entries (
    id bigint generated always as identity primary key,
    transaction_id bigint not null references app.ledger_transactions (id),
    account_id bigint not null references app.accounts (id),
    -- copied from the account and the transaction so an owner's ledger reads without joins
    user_id uuid,
    kind text not null,
    market_id bigint,
    amount bigint not null,
    balance_before bigint not null,
    balance_after bigint not null,
    account_version bigint not null,
    created_at timestamptz not null default now(),
    constraint ledger_entries_amount_nonzero check (amount <> 0),
    constraint ledger_entries_balance_follows check (balance_after = balance_before + amount),
    constraint ledger_entries_one_per_account unique (transaction_id, account_id),
    constraint ledger_entries_version_unique unique (account_id, account_version)
);
create index ledger_entries_user_idx on app.ledger_entries (user_id, id) where user_id is not null;
alter table app.ledger_entries enable row level security;

-- Invariant kept twice (STYLE.md, SQL rule 7): app._post_transaction writes balanced entries, and
-- this trigger refuses any insert whose entries, per transaction, do not sum to zero. All entries
-- of a transaction are written by one statement, so checking each statement checks each transaction.
create function app._ledger_entries_balanced() returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_unbalanced bigint;
begin
    select e.transaction_id into v_unbalanced
    from new_entries as e
    group by e.transaction_id
    having sum(e.amount) <> 0 or count(*) < 2
    limit 1;
    if v_unbalanced is not null then
        raise exception using
            errcode = 'PT500',
            message = 'ledger_unbalanced',
            detail = pg_catalog.json_build_object('transaction_id', v_unbalanced)::text,
            hint = 'Every ledger transaction needs two or more entries summing to zero.';
    end if;
    return null;
end
$$;

create trigger ledger_entries_balanced
after insert on app.ledger_entries
referencing new table as new_entries
for each statement execute function app._ledger_entries_balanced();

-- The ledger is append-only: a mistake is corrected by a new transaction, never by an edit.
create function app._ledger_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    raise exception using
        errcode = 'PT500',
        message = 'ledger_append_only',
        detail = pg_catalog.json_build_object('table', tg_table_name, 'operation', tg_op)::text,
        hint = 'Post a correcting transaction instead.';
end
$$;

create trigger ledger_entries_append_only
before update or delete on app.ledger_entries
for each statement execute function app._ledger_append_only();

create trigger ledger_transactions_append_only
before update or delete on app.ledger_transactions
for each statement execute function app._ledger_append_only();

-- Wagers ---------------------------------------------------------------------------------------------

create table app.wagers (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id),
    market_id bigint not null references app.markets (id),
    outcome_id bigint not null references app.outcomes (id),
    stake bigint not null,
    -- fixed odds: the odds locked at placement and the payout they promise; parimutuel: the odds
    -- quoted at placement (for the record; the payout is decided at settlement)
    odds numeric(24, 4),
    potential_payout bigint,
    expected_odds numeric(24, 4),
    approval text not null,
    -- the market version at which the wager joined the pool (accepted wagers only)
    accepted_version bigint,
    settlement text not null default 'open',
    payout bigint,
    idempotency_key text,
    reject_reason text,
    decided_by uuid,
    decided_at timestamptz,
    settled_at timestamptz,
    created_at timestamptz not null default now(),
    constraint wagers_stake_positive check (stake > 0),
    constraint wagers_approval_known check (approval in ('pending', 'accepted', 'rejected')),
    constraint wagers_settlement_known check (settlement in ('open', 'won', 'lost', 'void')),
    -- only an accepted wager can win or lose; a pending one is open; a rejected one is void (refunded)
    constraint wagers_states_consistent check (
        (approval = 'accepted')
        or (approval = 'pending' and settlement = 'open')
        or (approval = 'rejected' and settlement = 'void')
    ),
    -- payout: everything paid back for this wager (winnings, or the stake when refunded)
    constraint wagers_payout_when_settled check (
        (settlement = 'open') = (payout is null) and coalesce(payout, 0) >= 0
    )
);
create index wagers_market_idx on app.wagers (market_id, outcome_id);
create index wagers_user_idx on app.wagers (user_id, created_at desc);
create index wagers_pending_idx on app.wagers (market_id) where approval = 'pending';
alter table app.wagers enable row level security;

-- Settlements ---------------------------------------------------------------------------------------

-- One row per settled market; the primary key makes a second settlement impossible.
create table app.settlements (
    market_id bigint primary key references app.markets (id),
    winning_outcome_id bigint not null references app.outcomes (id),
    kind text not null,
    total_pool bigint not null,
    rake bigint not null,
    net_pool bigint not null,
    winning_pool bigint not null,
    total_paid bigint not null,
    dust bigint not null,
    house_result bigint not null,
    refunded boolean not null,
    winners_count integer not null,
    losers_count integer not null,
    winning_users integer not null,
    ledger_transaction_id bigint references app.ledger_transactions (id),
    settled_by uuid,
    settled_at timestamptz not null default now(),
    constraint settlements_amounts_valid check (
        total_pool >= 0 and rake >= 0 and dust >= 0 and total_paid >= 0
        and net_pool = total_pool - rake
    )
);
alter table app.settlements enable row level security;

-- Idempotency, telemetry, audit ---------------------------------------------------------------------

-- Inserted first by every money function that takes a key, behind this primary key; a replay
-- returns the stored result, a reuse with other arguments is refused.
create table app.idempotency_keys (
    user_id uuid not null,
    key text not null,
    operation text not null,
    arguments jsonb not null,
    result jsonb,
    created_at timestamptz not null default now(),
    primary key (user_id, key),
    constraint idempotency_key_shape check (length(key) between 1 and 200)
);
alter table app.idempotency_keys enable row level security;

-- Every preview_wager call (DBGP quote telemetry): what was quoted, to whom, and its impact.
create table app.quote_telemetry (
    id bigint generated always as identity primary key,
    market_id bigint not null references app.markets (id),
    outcome_id bigint not null references app.outcomes (id),
    user_id uuid,
    stake bigint not null,
    baseline_odds numeric(24, 4),
    effective_odds numeric(24, 4),
    price_impact_pp numeric(8, 4) not null,
    share_after numeric(8, 6) not null,
    created_at timestamptz not null default now()
);
create index quote_telemetry_market_idx on app.quote_telemetry (market_id, created_at);
alter table app.quote_telemetry enable row level security;

-- Every admin function writes one row: who, what, when, and the state before and after.
create table app.admin_actions (
    id bigint generated always as identity primary key,
    actor uuid,
    actor_role text,
    action text not null,
    market_id bigint,
    wager_id bigint,
    reason text,
    before jsonb,
    after jsonb,
    created_at timestamptz not null default now()
);
create index admin_actions_market_idx on app.admin_actions (market_id, created_at);
alter table app.admin_actions enable row level security;

-- The engine's starting data: one row of settings and the three system accounts.
insert into app.config default values;
insert into app.accounts (kind) values ('house'), ('world'), ('grants');
