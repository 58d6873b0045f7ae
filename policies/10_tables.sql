-- Grants and RLS policies on the private tables, re-applied on every migrate.
--
-- Client roles may read (never write) the tables behind the views, and RLS picks their rows.
-- Every write goes through a security definer function in rpc/. The views in rpc/90_views.sql run
-- as the caller, so these policies are what decides visibility everywhere.

-- Start from nothing: no table or private function is reachable unless granted below.
revoke all on all tables in schema app from public, anon, authenticated, service_role;
revoke all on all functions in schema app from public, anon, authenticated, service_role;
revoke all on all sequences in schema app from public, anon, authenticated, service_role;
revoke all on auth.users from public, anon, authenticated, service_role;
grant usage on schema app to anon, authenticated, service_role;

-- What the views read.
grant select on app.markets, app.outcomes, app.settlements, app.config, app.outcome_quotes
to anon, authenticated, service_role;
grant select on app.accounts, app.wagers, app.ledger_entries, app.admin_actions,
app.quote_telemetry, app.profiles, app.ledger_transactions
to authenticated, service_role;
grant execute on function
app._fixed_odds(bigint, bigint, integer, bigint, integer),
app._fixed_cap(bigint, bigint, bigint, numeric, bigint),
app._pari_odds(bigint, bigint, integer),
app._share(bigint, bigint),
app._odds(text, bigint, bigint, integer, bigint, integer, integer),
app._cap(text, bigint, bigint, bigint, numeric, bigint),
app._accepting_wagers(text, timestamptz),
app._betmarket_game(text, integer),
app._is_admin(jsonb)
to anon, authenticated, service_role;

-- Drop every policy on the app tables, so that a renamed or removed one does not linger.
do $drop$
declare
    v_policy record;
begin
    for v_policy in
        select p.policyname, p.tablename from pg_catalog.pg_policies as p where p.schemaname = 'app'
    loop
        execute format('drop policy %I on app.%I', v_policy.policyname, v_policy.tablename);
    end loop;
end
$drop$;

create policy "anyone reads the settings" on app.config
for select using (true);

create policy "anyone reads markets but drafts; admins read drafts too" on app.markets
for select using (status <> 'draft' or (select app._is_admin()));

create policy "anyone reads the outcomes of a market they can read" on app.outcomes
for select using (exists (
    select 1 from app.markets as m
    where m.id = outcomes.market_id
));

create policy "anyone reads settlements" on app.settlements
for select using (true);

create policy "users read their own wallet; admins read every account" on app.accounts
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "users read their own ledger entries; admins read all" on app.ledger_entries
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read ledger transactions" on app.ledger_transactions
for select using ((select app._is_admin()));

create policy "users read their own wagers; admins read all" on app.wagers
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "users read their own profile; admins read all" on app.profiles
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read the admin actions log" on app.admin_actions
for select using ((select app._is_admin()));

create policy "admins read quote telemetry" on app.quote_telemetry
for select using ((select app._is_admin()));

-- app.idempotency_keys has no policy: nobody reads it but the functions.
