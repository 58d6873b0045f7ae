-- Pool snapshots (migration 0007): readable by anyone for the markets they can see (the policy on
-- app.markets hides drafts from non-admins), written only by the scheduler's functions in
-- rpc/60_depth.sql. get_market_depth is the usual way to read them.

grant select on app.pool_snapshots to anon, authenticated, service_role;

create policy "anyone reads the snapshots of a market they can see" on app.pool_snapshots
for select to anon, authenticated, service_role
using (exists (
    select 1 from app.markets as m
    where m.id = pool_snapshots.market_id
));
