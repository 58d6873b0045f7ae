-- Written by `wagerbase supabase` from migrations/0014_address_limits_and_session_ends.sql: edit that, not this.

-- 0014: authentication that cannot be used against itself, and sessions that end when they end
-- (issue 12).
--
-- Sign-ins, sign-ups and token refreshes are limited per client address, counted here so that
-- every API node shares the count (server.check_rate_limit, rpc/06_sessions.sql), before any
-- password is hashed. Every session keeps why it ended, and a session that ends (sign-out, a
-- reused refresh token, an admin's revocation, its user deleted) is announced at commit by the
-- triggers below, so every node closes its sockets at once; each request checks its session
-- (server.check_session). docs/api.md, "Limits" and "Sessions".

-- The limits per client address, with Supabase Auth's defaults: 30 sign-ins, 30 sign-ups and 150
-- token refreshes per 5 minutes per address. Only the database owner changes them; the
-- `settings` view shows them.
alter table app.config
add column sign_in_limit_per_address integer not null default 30,
add column sign_up_limit_per_address integer not null default 30,
add column refresh_limit_per_address integer not null default 150,
add column address_limit_window interval not null default interval '5 minutes',
add constraint config_address_limits_positive check (
    sign_in_limit_per_address > 0
    and sign_up_limit_per_address > 0
    and refresh_limit_per_address > 0
),
add constraint config_address_limit_window_range check (
    address_limit_window between interval '1 second' and interval '1 day'
);

-- One row per attempt a limit let through: the last window's rows of an address are counted,
-- older ones deleted as new attempts arrive. A refused attempt writes nothing, so an address that
-- floods costs a count, never a row. `address` is an IPv4 address, or the /64 network of an IPv6
-- one (one subscriber's usual allocation).
create table app.address_attempts (
    id bigint generated always as identity primary key,
    action text not null,
    address inet not null,
    attempted_at timestamptz not null default clock_timestamp(),
    constraint address_attempts_action_known check (action in ('sign_in', 'sign_up', 'refresh'))
);
create index address_attempts_recent_idx on app.address_attempts (action, address, attempted_at);
create index address_attempts_expiry_idx on app.address_attempts (attempted_at);
alter table app.address_attempts enable row level security;

-- Why a session ended (null for one that ended before this migration, or has not).
alter table app.sessions
add column ended_reason text,
add constraint sessions_ended_reason_known check (
    ended_reason in ('signed_out', 'refresh_token_reused', 'revoked', 'user_deleted')
),
add constraint sessions_ended_reason_only_when_ended check (
    ended_reason is null or ended_at is not null
);

-- The triggers: thin wrappers around app._announce_ended_sessions and app._end_sessions
-- (rpc/06_sessions.sql), whoever ends a session, an API node, the CLI or a psql prompt.

-- Sessions whose ended_at was just set, or that were deleted while live (their user was deleted:
-- the rows go with it), announced on wagerbase_user at commit.
create function app._sessions_ended_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        perform app._announce_ended_sessions((
            select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'id', o.id, 'user_id', o.user_id, 'reason', 'user_deleted'))
            from old_rows as o
            where o.ended_at is null
        ));
    else
        perform app._announce_ended_sessions((
            select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'id', n.id, 'user_id', n.user_id, 'reason', n.ended_reason))
            from new_rows as n
            inner join old_rows as o on n.id = o.id
            where o.ended_at is null and n.ended_at is not null
        ));
    end if;
    return null;
end
$$;

create trigger sessions_ended_announced
after update on app.sessions
referencing old table as old_rows new table as new_rows
for each statement execute function app._sessions_ended_trigger();

create trigger sessions_deleted_announced
after delete on app.sessions
referencing old table as old_rows
for each statement execute function app._sessions_ended_trigger();

-- A user marked deleted (auth.users keeps a deleted user, `deleted_at` set) loses every session.
create function app._user_deleted_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._end_sessions(new.id, null, 'global', 'user_deleted');
    return null;
end
$$;

create trigger users_deleted_end_sessions
after update of deleted_at on auth.users
for each row when (old.deleted_at is null and new.deleted_at is not null)
execute function app._user_deleted_trigger();
