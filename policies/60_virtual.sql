-- Grants for provably-fair virtual markets (migrations/0010_virtual_markets.sql), re-applied on
-- every migrate after policies/10_tables.sql (which revokes everything and drops every policy
-- first). app.virtual_draws gets no grant and no policy: no client role reads it, admins
-- included, since it holds the unrevealed seeds. The view public.virtual_draws reads it through
-- this security definer function, which shows a seed only once it is revealed.

grant execute on function app._virtual_draw_rows() to anon, authenticated, service_role;
