-- 0021: users as GoTrue keeps them, for supabase-js (issue 17): anonymous users and the setting
-- that allows them, sessions that end because their user changed the password, and the
-- refresh-token reuse interval. docs/api.md, "Auth".

-- Anonymous users (supabase-js's signInAnonymously). Hosted Supabase's auth.users has this column
-- (and owns the table); a plain PostgreSQL's (migration 0001) gets it here.
do $anonymous$
begin
    if not exists (
        select 1 from pg_catalog.pg_attribute as a
        where a.attrelid = 'auth.users'::regclass and a.attname = 'is_anonymous'
            and not a.attisdropped
    ) then
        alter table auth.users add column is_anonymous boolean not null default false;
    end if;
end
$anonymous$;

-- anonymous_sign_ins: may a client sign in without an email or a password (off by default, as
-- GoTrue's GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED); admins change it with update_settings, and
-- the `settings` view shows it.
alter table app.config add column anonymous_sign_ins boolean not null default false;

-- refresh_token_reuse_seconds: for how long after its first use a refresh token may be presented
-- again and still refresh its session (GoTrue's GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL,
-- 10 s): two tabs that refresh at once keep their user signed in; past it a reuse ends the
-- session. Only the database owner changes it; the `settings` view shows it.
alter table app.config
add column refresh_token_reuse_seconds integer not null default 10,
add constraint config_refresh_token_reuse_range check (
    refresh_token_reuse_seconds between 0 and 3600
);

-- A password change ends the user's other sessions (as GoTrue's), for this reason.
alter table app.sessions drop constraint sessions_ended_reason_known;
alter table app.sessions
add constraint sessions_ended_reason_known check (
    ended_reason in (
        'signed_out', 'refresh_token_reused', 'revoked', 'user_deleted', 'password_changed'
    )
);
