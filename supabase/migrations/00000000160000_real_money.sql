-- Written by `wagerbase supabase` from migrations/0016_real_money.sql: edit that, not this.

-- 0016: a real-money profile (issue 12): who may put money into a wallet, and withdrawals that wait
-- for an admin.
--
-- Two settings join initial_balance (the sign-up grant; 0 turns it off) in app.config:
-- self_service_deposits (may a bettor call deposit; off, money comes in only through
-- credit_wallet, called by an admin or a payment integration) and withdrawals_require_approval
-- (on, withdraw moves the money into the pending-withdrawals account and an admin approves or
-- rejects it). The defaults keep play money as it was; `update_settings` and `wagerbase settings`
-- change them (docs/operations.md, "Play money or real money").
--
-- The pending-withdrawals account is a system account that, like an escrow, never goes negative:
-- it holds exactly the amounts of the pending rows of app.withdrawals (a checked invariant).

alter table app.config
add column self_service_deposits boolean not null default true,
add column withdrawals_require_approval boolean not null default false;

alter table app.accounts drop constraint accounts_kind_known;
alter table app.accounts
add constraint accounts_kind_known check (
    kind in ('user', 'escrow', 'house', 'world', 'grants', 'withdrawals_pending')
);
drop index app.accounts_one_per_system_kind;
create unique index accounts_one_per_system_kind on app.accounts (kind)
where kind in ('house', 'world', 'grants', 'withdrawals_pending');
insert into app.accounts (kind) values ('withdrawals_pending');

alter table app.ledger_transactions drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment',
    'withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection'
));

-- One row per withdrawal that waited for an admin: requested (wallet -> pending account), then
-- approved (pending -> world) or rejected with a reason (pending -> wallet), once.
create table app.withdrawals (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id),
    amount bigint not null,
    status text not null default 'pending',
    idempotency_key text,
    request_transaction_id bigint not null references app.ledger_transactions (id),
    decision_transaction_id bigint references app.ledger_transactions (id),
    reason text,
    decided_by uuid,
    requested_at timestamptz not null default now(),
    decided_at timestamptz,
    constraint withdrawals_amount_positive check (amount > 0),
    constraint withdrawals_status_known check (status in ('pending', 'approved', 'rejected')),
    constraint withdrawals_decided_once check (
        (status = 'pending') = (decided_at is null)
        and (status = 'pending') = (decision_transaction_id is null)
        and (status = 'rejected') = (reason is not null)
    )
);
create index withdrawals_user_idx on app.withdrawals (user_id, requested_at desc);
create index withdrawals_pending_idx on app.withdrawals (requested_at) where status = 'pending';
alter table app.withdrawals enable row level security;
