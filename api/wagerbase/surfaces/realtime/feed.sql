-- name: acts_as_admin
-- Whether the caller acts as an admin now: the engine's rule (rpc/01_core.sql), which every
-- admin call enforces; asked before an admin message goes to a token.
select public.acts_as_admin() as admin
