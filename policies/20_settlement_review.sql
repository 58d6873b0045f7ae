-- Grants and RLS for settlement review (migrations/0003_settlement_review.sql), re-applied on every
-- migrate after policies/10_tables.sql (which revokes everything and drops every policy first).
-- Clients read proposals only through public.settlement_proposals; only the functions of
-- rpc/45_settlement_review.sql write them.

grant select on app.settlement_proposals to authenticated, service_role;

create policy "admins read settlement proposals" on app.settlement_proposals
for select using ((select app._is_admin()));
