-- 0022: client broadcasts and presence on the Realtime socket (issue 17, item 4). docs/live.md,
-- "Broadcast and presence", says why each piece is shaped so.
--
-- 1. Schema `realtime`, as Supabase Realtime has it, so that an app's policies written for
--    Supabase work unchanged: a table `realtime.messages` whose row-level security policies decide
--    who may read (receive) and write (send) on a private channel's topic, and `realtime.topic()`,
--    the topic being checked. As on Supabase, a check is a query run as the caller and rolled
--    back: the API node inserts a probe row per extension (broadcast, presence) and selects it as
--    the caller to learn what the caller may read, then inserts one as the caller to learn what
--    it may write. Nothing is kept there: a constraint trigger, checked at commit, refuses any
--    transaction that inserted a row, whoever runs it, so the insert privilege the client roles
--    need for the check never lets a row in. With RLS on and no policy, a private channel allows
--    nothing (the service role, which bypasses RLS, everything).
--    On a database where `realtime.messages` exists already (a hosted Supabase project, whose
--    Supabase Realtime owns the schema) none of this is made: Supabase's own table and function
--    stay as they are (docs/supabase.md).
-- 2. Where the presences live, so that every API node sees every node's: app.realtime_presences,
--    one row per tracked presence, and app.realtime_nodes, when each node last said it is alive
--    and how long it may stay silent before another node removes its presences.
-- 3. A fourth channel of the event stream, `wagerbase_realtime`: what clients send to each other
--    (their broadcasts and the presence diffs) reaches every node the way the engine's messages do.

do $realtime$
begin
    if pg_catalog.to_regclass('realtime.messages') is not null then
        raise notice 'realtime.messages exists already (Supabase''s own): left as it is';
        return;
    end if;
    create schema if not exists realtime;
    revoke all on schema realtime from public;
    grant usage on schema realtime to anon, authenticated, service_role;

    -- Supabase's columns, so policies that name them work; its id is a uuid too
    create table realtime.messages (
        id uuid not null default gen_random_uuid() primary key,
        topic text not null,
        extension text not null,
        payload jsonb,
        event text,
        private boolean default false,
        updated_at timestamp without time zone not null default now(),
        inserted_at timestamp without time zone not null default now()
    );
    alter table realtime.messages enable row level security;
    -- the checks' inserts need the privilege; RLS decides the rows; nothing ever commits (below)
    grant select, insert on realtime.messages to anon, authenticated, service_role;

    -- realtime.topic(): the topic a check is about (without `realtime:`), as Supabase's; the API
    -- node sets `realtime.topic` for the transaction (server.realtime_probe).
    create function realtime.topic()
    returns text
    language sql stable
    as $topic$
        select nullif(pg_catalog.current_setting('realtime.topic', true), '')::text
    $topic$;
    revoke all on function realtime.topic() from public;
    grant execute on function realtime.topic() to anon, authenticated, service_role;

    -- Every check rolls back; a transaction that would commit a row is refused at its commit.
    create function realtime._never_kept()
    returns trigger
    language plpgsql
    set search_path = ''
    as $kept$
    begin
        raise exception using
            errcode = 'PT500',
            message = 'realtime_messages_not_kept',
            detail = pg_catalog.jsonb_build_object('topic', new.topic, 'extension', new.extension)::text,
            hint = 'Roll back: realtime.messages only answers authorization checks.';
    end
    $kept$;
    revoke all on function realtime._never_kept() from public;
    create constraint trigger messages_never_kept
    after insert on realtime.messages
    deferrable initially deferred
    for each row execute function realtime._never_kept();
end
$realtime$;

create table app.realtime_nodes (
    node uuid primary key,
    seen_at timestamptz not null default pg_catalog.clock_timestamp(),
    -- how long the node may go without saying it is alive before its presences are removed
    ttl_seconds integer not null,
    constraint realtime_nodes_ttl_range check (ttl_seconds between 1 and 3600)
);
alter table app.realtime_nodes enable row level security;

create table app.realtime_presences (
    ref text primary key,  -- the presence's phx_ref, unique
    node uuid not null,
    topic text not null,  -- without `realtime:`
    private boolean not null,
    key text not null,  -- the presence key the channel joined with
    meta jsonb not null,  -- what the client tracked
    tracked_at timestamptz not null default pg_catalog.clock_timestamp(),
    constraint realtime_presences_meta_object check (pg_catalog.jsonb_typeof(meta) = 'object')
);
create index realtime_presences_topic_idx on app.realtime_presences (topic, private);
create index realtime_presences_node_idx on app.realtime_presences (node);
alter table app.realtime_presences enable row level security;

alter table app.events drop constraint events_channel_known;
alter table app.events add constraint events_channel_known check (
    channel in ('wagerbase_market', 'wagerbase_user', 'wagerbase_admin', 'wagerbase_realtime')
);
