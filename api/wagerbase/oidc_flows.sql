-- name: begin_flow
-- A sign-in with a provider starts (rpc/06_oidc.sql), counted against the address's sign-in
-- limit: the seconds to wait, 0 when within it.
select server.begin_oidc_flow(
    %(address)s::inet, %(state_digest)s, %(provider)s, %(redirect_to)s,
    %(code_challenge)s, %(code_challenge_method)s, %(nonce)s
) as wait

-- name: take_state
-- Use up the state the provider sent back: the flow, or null.
select server.take_oidc_state(%(state_digest)s) as flow

-- name: complete_flow
-- The provider's checked claims sign the flow's user in: {user_id}, and for an implicit flow
-- the new session's user; and whether that user's token acts as an admin now (the engine's rule).
with completed as (
    select server.complete_oidc_flow(
        %(flow_id)s, %(claims)s::jsonb, %(user_metadata)s::jsonb, %(auth_code_digest)s,
        %(session_id)s, %(refresh_digest)s
    ) as result
)
select
    c.result,
    server.acts_as_admin((c.result -> 'user' ->> 'id')::uuid) as acts_as_admin
from completed as c

-- name: redeem_code
-- grant_type=pkce: {status, session_id, user}, and whether the user acts as an admin now.
with redeemed as (
    select server.redeem_oidc_code(
        %(code_digest)s, %(verifier)s, %(verifier_s256)s, %(session_id)s, %(refresh_digest)s
    ) as result
)
select
    r.result,
    server.acts_as_admin((r.result -> 'user' ->> 'id')::uuid) as acts_as_admin
from redeemed as r
