-- Written by `wagerbase supabase` from migrations/0025_oidc_identities.sql: edit that, not this.

-- 0025: sign-in with OpenID Connect providers (issue 17), as GoTrue's external providers:
-- the identities a user signs in with, and the sign-in flows between /authorize, the provider's
-- callback and supabase-js's PKCE exchange. docs/supabase.md, "Sign-in with OpenID Connect".
-- Only the API node writes them (rpc/06_oidc.sql, through schema server); no client role reads
-- them: a user sees their identities in their GoTrue User object (app._user_json).

-- A user's identity at a provider: the provider's name (as the node's settings name it) and the
-- `sub` of its id_token, unique together; identity_data is what the provider said of the user
-- (sub, email, name...), shown in the user's `identities`, never read for a right (app_metadata
-- is the server's: admin comes from auth.users, app._is_admin).
create table app.identities (
    id uuid primary key default gen_random_uuid(),
    provider text not null,
    provider_id text not null,
    user_id uuid not null references auth.users (id),
    identity_data jsonb not null default '{}',
    email text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_sign_in_at timestamptz,
    constraint identities_provider_shape check (provider ~ '^[a-z0-9_-]{1,40}$'),
    constraint identities_provider_id_length check (length(provider_id) between 1 and 255),
    constraint identities_data_object check (
        jsonb_typeof(identity_data) = 'object' and length(identity_data::text) <= 4096
    )
);
create unique index identities_provider_key on app.identities (provider, provider_id);
create index identities_user_idx on app.identities (user_id);
alter table app.identities enable row level security;

-- One sign-in with a provider, from /authorize to the session (GoTrue's flow_state): the digest
-- of the `state` sent to the provider (single use: state_used_at), where to send the user back,
-- the PKCE challenge (none for the implicit flow) and the nonce the id_token must carry; once the
-- provider answered, the digest of the auth code handed to the client and its user. A flow
-- lives 10 minutes from /authorize, its auth code 5 minutes (GoTrue's flow state expiry).
-- A mailed link of a PKCE sign-in or recovery (provider 'email', rpc/08_email_tokens.sql) makes
-- a flow that starts with its auth code: no state, no nonce.
create table app.oidc_flows (
    id uuid primary key default gen_random_uuid(),
    state_digest text,
    provider text not null,
    redirect_to text not null,
    code_challenge text,
    code_challenge_method text,
    nonce text,
    created_at timestamptz not null default now(),
    state_used_at timestamptz,
    auth_code_digest text,
    user_id uuid references auth.users (id),
    authenticated_at timestamptz,
    constraint oidc_flows_challenge_shape check (
        (code_challenge is null and code_challenge_method is null)
        or (
            code_challenge ~ '^[A-Za-z0-9._~-]{43,128}$'
            and code_challenge_method in ('s256', 'plain')
        )
    ),
    constraint oidc_flows_redirect_length check (length(redirect_to) <= 2048),
    constraint oidc_flows_code_has_user check (
        (auth_code_digest is null) = (user_id is null)
    ),
    constraint oidc_flows_state_or_code check (
        (state_digest is not null and nonce is not null) or auth_code_digest is not null
    )
);
create unique index oidc_flows_state_key on app.oidc_flows (state_digest);
create unique index oidc_flows_auth_code_key on app.oidc_flows (auth_code_digest);
create index oidc_flows_created_idx on app.oidc_flows (created_at);
alter table app.oidc_flows enable row level security;
