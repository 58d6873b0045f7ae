-- Grants and RLS policies for withdrawals that wait for an admin (migration 0016,
-- rpc/11_withdrawals.sql), re-applied on every migrate after policies/10_tables.sql (which revoked
-- everything and dropped every policy on the app tables).
--
-- Client roles read (never write) them through the `withdrawals` and `my_withdrawals` views, which
-- run as the caller: a bettor sees their own, an admin every one. Only withdraw,
-- approve_withdrawal and reject_withdrawal write them.

grant select on app.withdrawals to authenticated, service_role;

create policy "users read their own withdrawals; admins read all" on app.withdrawals
for select using (user_id = (select auth.uid()) or (select app._is_admin()));
