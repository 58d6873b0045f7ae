-- Grants and RLS policies for house games (migration 0021, rpc/80_house_games.sql), re-applied on
-- every migrate after policies/10_tables.sql (which revokes everything and drops every policy
-- first).
--
-- app.seed_pairs gets no grant and no policy: no client role reads it, admins and the service role
-- included, since it holds the server seeds of active pairs. The view public.my_seed_pairs reads it
-- through app._seed_pair_rows and public.house_bets shows a bet's server seed through
-- app._revealed_server_seed, both security definer functions that show a seed only once revealed.
-- The bets and the games' settings hold no secret: the bets are read like wagers (a bettor their
-- own, an admin all), the settings by everyone. Only the functions of rpc/80_house_games.sql write
-- them.

grant select on app.house_games to anon, authenticated, service_role;
grant select on app.house_bets to authenticated, service_role;
grant execute on function app._seed_pair_rows(), app._revealed_server_seed(bigint)
to authenticated, service_role;

create policy "anyone reads the house games' settings" on app.house_games
for select using (true);

create policy "users read their own house bets; admins read all" on app.house_bets
for select using (user_id = (select auth.uid()) or (select app._is_admin()));
