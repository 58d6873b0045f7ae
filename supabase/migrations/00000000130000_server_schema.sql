-- Written by `wagerbase supabase` from migrations/0013_server_schema.sql: edit that, not this.

-- 0013: a schema for what an API node calls as itself.
--
-- An API node runs each request as the caller (`set local role` to anon, authenticated or
-- service_role, with the token's claims), and does a few things as itself: sign-up, sign-in and
-- sessions, rate limits, the start of each request, the scheduler's rounds. The functions for
-- those live in `server`, so that the node's own login role needs rights on this schema and on
-- nothing private: it can reach no table of `app` and no function of `app` directly. No client
-- role has any right on it.

create schema server;
revoke all on schema server from public;
