-- Written by `wagerbase supabase` from migrations/0008_debt_repayment.sql: edit that, not this.

-- 0008: corrections collect a debtor's new credits toward their debt (app._collect_debts), which
-- posts a new kind of ledger transaction.

alter table app.ledger_transactions
drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment'
));
