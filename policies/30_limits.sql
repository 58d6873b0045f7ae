-- Grants and RLS policies for responsible play (migrations/0004, rpc/15_limits.sql), re-applied
-- on every migrate after policies/10_tables.sql (which revoked everything and dropped every policy
-- on the app tables).
--
-- Client roles read (never write) the limits and their history through the public views, which
-- run as the caller: a bettor sees their own rows, an admin every row (for support). Nobody but
-- the user changes a user's limits, and only through the set_* functions.

grant select on app.play_limits, app.play_limits_in_force, app.play_limit_changes
to authenticated, service_role;

drop policy if exists "users read their own play limits; admins read all" on app.play_limits;
create policy "users read their own play limits; admins read all" on app.play_limits
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

drop policy if exists "users read their own play limit changes; admins read all"
on app.play_limit_changes;
create policy "users read their own play limit changes; admins read all" on app.play_limit_changes
for select using (user_id = (select auth.uid()) or (select app._is_admin()));
