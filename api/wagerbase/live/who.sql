-- name: who
-- Who a token's claims belong to now, in one statement: auth.uid() raises unknown_user for a
-- user who is gone; public.acts_as_admin() is the engine's rule for an admin now
-- (rpc/01_core.sql).
select (select auth.uid())::text as user_id, public.acts_as_admin() as admin
