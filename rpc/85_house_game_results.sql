-- The house games' result per game (docs/house-games.md, the admin console's Casino screen): for
-- each game, its settled bets, what they staked and were paid, and the gross gaming revenue
-- (GGR = stakes - payouts, the house's side), summed by the database over app.house_bets; the
-- game's GGR commission rate now, and the sum of the commissions stored on its bets as each
-- settled (rpc/84_ggr_and_affiliates.sql: exact, at the rate of the day each bet settled).
-- Admins and the service role read every game's row; a bettor is allowed the select and reads no
-- row (not even sums of their own bets: the house's revenue is the house's business).

drop view if exists public.house_game_results;

-- Every game of app.house_games has a row, with zeros when it has no settled bet yet. Security
-- invoker: an admin's RLS on app.house_bets lets them read every bet, and the filter on
-- acts_as_admin() (the service role, or a current admin) leaves a bettor nothing. The filter
-- stands for a policy (a bettor's RLS would let them sum their own bets), so it binds whom RLS
-- binds: a role that bypasses RLS (the superuser, the owner's maintenance) reads every row, as it
-- reads every table's.
create view public.house_game_results with (security_invoker = true) as
select
    g.game,
    count(b.id) as bets,
    count(b.id) filter (where b.payout > 0) as wins,
    coalesce(sum(b.stake), 0)::bigint as staked,
    coalesce(sum(b.payout), 0)::bigint as paid,
    coalesce(sum(b.stake - b.payout), 0)::bigint as ggr,
    g.ggr_commission_bps,
    coalesce(sum(b.ggr_commission), 0) as ggr_commission
from app.house_games as g
left join app.house_bets as b on g.game = b.game and b.status = 'settled'
where (select public.acts_as_admin())
    or exists (
        select 1 from pg_catalog.pg_roles as r
        where r.rolname = current_user and (r.rolsuper or r.rolbypassrls)
    )
group by g.game, g.ggr_commission_bps;

grant select on public.house_game_results to authenticated, service_role;
