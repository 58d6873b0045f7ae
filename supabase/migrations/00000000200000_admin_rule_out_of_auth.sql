-- Written by `wagerbase supabase` from migrations/0020_admin_rule_out_of_auth.sql: edit that, not this.

-- 0020: who is an admin is app._is_admin (rpc/01_core.sql), no longer auth.is_admin: hosted
-- Supabase owns the `auth` schema, where a project may not create functions. The policies that
-- called the old function go with it; policies/ makes them again, calling the new one, in this
-- same migrate.

drop function if exists auth.is_admin() cascade;
