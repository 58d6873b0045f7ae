-- 0024: password recovery and sign-in by email (issue 17): the one-time tokens GoTrue's /recover
-- and /otp mail, and when each address was last sent one. docs/api.md, "Recovery and email
-- sign-in".

-- One live one-time token per email address: a new one replaces the old. Only a digest is kept
-- (SHA-256 of GoTrue's token hash, itself SHA-224 of the address and the six-digit code), so
-- neither the code nor the link can be read back from here. `creates_user`: verifying it may
-- create the address's user (an email sign-in with create_user), with `user_metadata`. A token
-- asked for with a PKCE challenge (supabase-js's flowType 'pkce') keeps it: its link then ends in
-- an auth code for that challenge (app.oidc_flows, migration 0025), not a session. Written
-- only by the `server` functions of rpc/08_email_tokens.sql; no client role reaches it.
create table app.email_tokens (
    id bigint generated always as identity primary key,
    email text not null,
    purpose text not null,
    token_digest text not null,
    creates_user boolean not null default false,
    user_metadata jsonb not null default '{}',
    code_challenge text,
    code_challenge_method text,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    constraint email_tokens_one_per_address unique (email),
    constraint email_tokens_digest_unique unique (token_digest),
    constraint email_tokens_purpose_known check (purpose in ('recovery', 'magiclink')),
    constraint email_tokens_challenge_shape check (
        (code_challenge is null and code_challenge_method is null)
        or (
            code_challenge ~ '^[A-Za-z0-9._~-]{43,128}$'
            and code_challenge_method in ('s256', 'plain')
        )
    )
);
create index email_tokens_expiry_idx on app.email_tokens (expires_at);
alter table app.email_tokens enable row level security;

-- When each address was last sent a mail (recovery or sign-in), by the SHA-256 of the address, so
-- that one address gets one mail per interval whether or not it names a user (an unknown
-- address is answered as a known one, and limited as one). Rows older than a day are pruned as
-- new mails are sent.
create table app.email_sends (
    email_digest text primary key,
    sent_at timestamptz not null
);
create index email_sends_sent_at_idx on app.email_sends (sent_at);
alter table app.email_sends enable row level security;
