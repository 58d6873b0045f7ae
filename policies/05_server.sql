-- Schema `server`: what an API node calls as itself (rpc/95_server.sql and any other function
-- created in it), re-applied on every migrate.
--
-- The API's login role, `authenticator` (sql/roles.sql), may use this schema and execute every
-- function in it; no other role may use it. The grant covers every function of the schema each
-- time the code layers are applied (after rpc/ and any new migration), and the default
-- privileges cover a function the owner creates later, so a function added to `server` needs no
-- grant line of its own. Everything a function here reaches, it reaches as the schema's owner
-- (security definer): the role gets no right on a table or a private function.

revoke all on schema server from public, anon, authenticated, service_role;
grant usage on schema server to authenticator;

revoke all on all functions in schema server from public, anon, authenticated, service_role;
grant execute on all functions in schema server to authenticator;

-- (sql/roles.sql already takes execute from public by default, for every schema)
alter default privileges in schema server grant execute on functions to authenticator;
