-- Grants and RLS for the side effects of house bets (migrations/0029_house_effects.sql),
-- re-applied on every migrate after policies/10_tables.sql. Only the functions of
-- rpc/83_house_effects.sql write these tables; app.house_effects_pending and app.rakeback are
-- read by no client role (a player reads their own rakeback through get_level).

-- Anyone: the levels, and the XP ranking by public name (user_id is not granted).
grant select on app.levels to anon, authenticated, service_role;
grant select (player, xp, bets) on app.player_xp to anon, authenticated, service_role;

create policy "anyone reads the levels" on app.levels
for select using (true);

create policy "anyone reads the XP ranking" on app.player_xp
for select using (true);

-- Anyone: the live-bets feed (by public name) and each game's volume (paid is not granted: what
-- the house won is the admins', in house_game_results).
grant select (bet_id, game, player, stake, multiplier, payout, settled_at)
on app.live_bets to anon, authenticated, service_role;
grant select (game, bets, wins, staked) on app.house_game_stats to anon, authenticated, service_role;

create policy "anyone reads the live bets" on app.live_bets
for select using (true);

create policy "anyone reads the games' volume" on app.house_game_stats
for select using (true);
