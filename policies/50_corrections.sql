-- Grants and RLS for corrections (migrations/0006_corrections.sql), re-applied on every migrate
-- after policies/10_tables.sql (which revokes everything and drops every policy first). Only the
-- functions of rpc/50_corrections.sql write these tables; admins read them.

grant select on app.user_debts, app.ledger_reversals, app.settlement_history
to authenticated, service_role;

create policy "admins read user debts" on app.user_debts
for select using ((select app._is_admin()));

create policy "admins read ledger reversals" on app.ledger_reversals
for select using ((select app._is_admin()));

create policy "admins read settlement history" on app.settlement_history
for select using ((select app._is_admin()));
