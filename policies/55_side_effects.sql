-- Grants and RLS for the side effects after settlement (migrations/0009_side_effects.sql),
-- re-applied on every migrate after policies/10_tables.sql (which revokes everything and drops
-- every policy first). Only the functions of rpc/70_side_effects.sql write these tables.

-- The public figures: anyone. The leaderboard's user_id is not granted; `player` names the user.
grant select (period, period_start, player, wagers, wins, wagered, won, profit)
on app.leaderboard to anon, authenticated, service_role;
grant select (wager_id, market_id, outcome_id, player, stake, payout, profit, settled_at)
on app.big_wins to anon, authenticated, service_role;
grant select on app.market_stats to anon, authenticated, service_role;

create policy "anyone reads the leaderboard" on app.leaderboard
for select using (true);

create policy "anyone reads the big wins" on app.big_wins
for select using (true);

create policy "anyone reads the market statistics" on app.market_stats
for select using (true);

-- A bettor's own statistics; admins read everyone's, and the jobs.
grant select on app.user_stats, app.side_effect_jobs to authenticated, service_role;

create policy "users read their own statistics; admins read all" on app.user_stats
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read the side-effect jobs" on app.side_effect_jobs
for select using ((select app._is_admin()));
