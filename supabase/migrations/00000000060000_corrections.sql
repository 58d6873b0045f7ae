-- Written by `wagerbase supabase` from migrations/0006_corrections.sql: edit that, not this.

-- 0006: settlement corrections (issue 5, "Corrections"): unsettle, resettle, void one wager.
--
-- The functions are in rpc/50_corrections.sql; see docs/corrections.md.

-- Two new kinds of ledger transaction: the reversal of a settlement's payouts, and the refund of
-- one voided wager.
alter table app.ledger_transactions
drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void'
));

-- Every correction: the ledger transaction it reverses and the one that reverses it. The unique
-- original makes each reversal possible once only.
create table app.ledger_reversals (
    id bigint generated always as identity primary key,
    kind text not null,
    -- null only for a settlement that moved no money (a market settled without wagers)
    original_transaction_id bigint references app.ledger_transactions (id),
    reversal_transaction_id bigint references app.ledger_transactions (id),
    market_id bigint not null references app.markets (id),
    wager_id bigint references app.wagers (id),
    reason text not null,
    actor uuid,
    actor_role text,
    created_at timestamptz not null default now(),
    constraint ledger_reversals_kind_known check (kind in ('unsettle_market', 'void_wager')),
    constraint ledger_reversals_once unique (original_transaction_id),
    constraint ledger_reversals_wager_when_void check ((kind = 'void_wager') = (wager_id is not null)),
    constraint ledger_reversals_reason_length check (length(reason) between 1 and 500)
);
create index ledger_reversals_market_idx on app.ledger_reversals (market_id, id);
alter table app.ledger_reversals enable row level security;

-- A settlement that was reversed: the app.settlements row, moved here by unsettle_market so that
-- the market's primary key there allows the next settlement.
create table app.settlement_history (
    reversal_id bigint primary key references app.ledger_reversals (id),
    market_id bigint not null references app.markets (id),
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
    settled_at timestamptz not null,
    reversed_at timestamptz not null default now()
);
create index settlement_history_market_idx on app.settlement_history (market_id);
alter table app.settlement_history enable row level security;

-- The debt rule: a reversal debits a winner only what the wallet holds (wallets never go below
-- zero); the house absorbs the rest in the same ledger transaction, and it is recorded here as
-- that user's debt to the house.
create table app.user_debts (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id),
    amount bigint not null,
    reversal_id bigint not null references app.ledger_reversals (id),
    created_at timestamptz not null default now(),
    constraint user_debts_amount_positive check (amount > 0),
    constraint user_debts_once_per_reversal unique (reversal_id, user_id)
);
create index user_debts_user_idx on app.user_debts (user_id);
alter table app.user_debts enable row level security;

-- The market version at which void_wager took a wager out of the pool (as accepted_version marks
-- when it joined), so the pool's history can be replayed exactly.
alter table app.wagers add column voided_version bigint;
