-- What a Supabase project needs before the engine's code, and a plain PostgreSQL does not: applied
-- only there, at the top of every code snapshot of supabase/migrations (`wagerbase supabase`).
--
-- Supabase grants every new table, view, sequence and function of `public` to anon, authenticated
-- and service_role by default (its `alter default privileges for role postgres in schema public
-- grant all ...`). The engine grants each one what it may do, explicitly (rpc/, policies/), and
-- nothing else: a view writable by anon, or an admin function callable by anyone, is exactly what
-- the attack matrix forbids. So the project's own defaults are revoked first; grants that exist
-- already are revoked by the code that follows (policies/10_tables.sql, rpc/90_views.sql).

alter default privileges in schema public
revoke all on tables from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on sequences from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on functions from anon, authenticated, service_role;
