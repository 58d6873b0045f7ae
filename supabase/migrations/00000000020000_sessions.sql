-- Written by `wagerbase supabase` from migrations/0002_sessions.sql: edit that, not this.

-- 0002: sign-in sessions, refresh tokens, and the sign-in rate limit.
--
-- Kept in the private schema `app` (not in `auth`, which hosted Supabase owns): these tables back
-- Wagerbase's own GoTrue-compatible endpoints. Only the server's role writes them, through the
-- functions in rpc/06_sessions.sql; no client role can read them.

-- One signed-in session: a sign-in starts it, sign-out ends it, refreshes keep it alive.
create table app.sessions (
    id uuid primary key,
    user_id uuid not null references auth.users (id) on delete cascade,
    created_at timestamptz not null default now(),
    refreshed_at timestamptz,
    ended_at timestamptz
);
create index sessions_user_idx on app.sessions (user_id) where ended_at is null;
alter table app.sessions enable row level security;

-- Refresh tokens are stored as SHA-256 digests, never in clear. Each refresh uses one token up and
-- issues its successor; presenting a used token again ends the whole session (token theft).
create table app.refresh_tokens (
    id bigint generated always as identity primary key,
    token_hash text not null,
    session_id uuid not null references app.sessions (id) on delete cascade,
    user_id uuid not null references auth.users (id) on delete cascade,
    parent_id bigint references app.refresh_tokens (id),
    created_at timestamptz not null default now(),
    used_at timestamptz,
    constraint refresh_tokens_hash_unique unique (token_hash)
);
alter table app.refresh_tokens enable row level security;

-- Sign-in attempts per identifier (lower-cased username or email), for the rate limit: the last
-- minute's rows are counted, older ones deleted as new ones arrive.
create table app.sign_in_attempts (
    id bigint generated always as identity primary key,
    identifier text not null,
    attempted_at timestamptz not null default clock_timestamp()
);
create index sign_in_attempts_recent_idx on app.sign_in_attempts (identifier, attempted_at);
alter table app.sign_in_attempts enable row level security;
