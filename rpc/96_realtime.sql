-- Client broadcasts and presence on the Realtime socket (migrations/0022; docs/live.md,
-- "Broadcast and presence"). What one client sends the others is written as an event of the
-- stream (channel `wagerbase_realtime`, app._notify), so every API node's hub reads it as it reads
-- the engine's messages and hands it to its own sockets. The presences themselves live in
-- app.realtime_presences, so a node joining a channel reads every node's; each node says it is
-- alive in app.realtime_nodes, and the presences of a node silent for longer than its
-- `ttl_seconds` are removed by the next node that beats. The engine's own topics are refused
-- here as well as by the API: no client message ever carries one of them.

-- _engine_topic(topic): whether a Realtime topic (the name after `realtime:`) is the engine's:
-- its first part before a colon is market, markets, admin, user, users or wagerbase. The engine's
-- messages go there (market:{id}, markets, admin); a client may not broadcast, track a presence or
-- join a private channel on any of them. Changes nothing; raises nothing.
create or replace function app._engine_topic(p_topic text)
returns boolean
language sql immutable
set search_path = ''
as $$
    select pg_catalog.split_part(coalesce(p_topic, ''), ':', 1)
        in ('market', 'markets', 'admin', 'user', 'users', 'wagerbase')
$$;

-- _realtime_topic_lock(topic, private): the transaction-level lock every presence change of one
-- channel takes, so that its count is exact and its diffs are written in the order they happen.
-- Changes nothing; raises nothing.
create or replace function app._realtime_topic_lock(p_topic text, p_private boolean)
returns void
language sql
set search_path = ''
as $$
    select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'wagerbase.realtime:' || p_private::text || ':' || p_topic, 0))
$$;

-- _realtime_metas(rows): presences as Phoenix groups them, {key: {metas: [meta + phx_ref]}}.
-- `p_rows` is a JSON array of {key, ref, meta}. Changes nothing; raises nothing.
create or replace function app._realtime_metas(p_rows jsonb)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_object_agg(k.key, pg_catalog.jsonb_build_object('metas', k.metas)), '{}')
    from (
        select
            r.value ->> 'key' as key,
            pg_catalog.jsonb_agg(
                (r.value -> 'meta') || pg_catalog.jsonb_build_object('phx_ref', r.value ->> 'ref')
                order by r.position
            ) as metas
        from pg_catalog.jsonb_array_elements(coalesce(p_rows, '[]')) with ordinality as r (value, position)
        group by r.value ->> 'key'
    ) as k
$$;

-- _realtime_diff(topic, private, joins, leaves): one presence_diff event for the channel, from
-- JSON arrays of {key, ref, meta} (nothing when both are empty). Changes: app.events. Raises
-- nothing.
create or replace function app._realtime_diff(
    p_topic text, p_private boolean, p_joins jsonb, p_leaves jsonb
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if coalesce(pg_catalog.jsonb_array_length(p_joins), 0) = 0
        and coalesce(pg_catalog.jsonb_array_length(p_leaves), 0) = 0 then
        return;
    end if;
    perform app._notify('wagerbase_realtime', pg_catalog.jsonb_build_object(
        'type', 'presence_diff', 'topic', p_topic, 'private', p_private,
        'joins', app._realtime_metas(p_joins), 'leaves', app._realtime_metas(p_leaves)));
end
$$;

-- _realtime_broadcast(item): a client's broadcast, {topic, private, event, payload, sender},
-- as an event of the stream. Returns 'ok', or 'engine_topic' for a topic of the engine's (or
-- none): nothing is written then. Changes: app.events. Raises nothing.
create or replace function app._realtime_broadcast(p_item jsonb)
returns text
language plpgsql
set search_path = ''
as $$
begin
    if coalesce(p_item ->> 'topic', '') = '' or app._engine_topic(p_item ->> 'topic') then
        return 'engine_topic';
    end if;
    perform app._notify('wagerbase_realtime', pg_catalog.jsonb_build_object(
        'type', 'broadcast',
        'topic', p_item ->> 'topic',
        'private', coalesce((p_item ->> 'private')::boolean, false),
        'event', p_item ->> 'event',
        'payload', p_item -> 'payload',
        'sender', p_item ->> 'sender'));
    return 'ok';
end
$$;

-- _realtime_track(node, item, most): a presence tracked by a socket of `node`,
-- {ref, prev, topic, private, key, meta}: the row `prev` (the socket's previous presence on the
-- channel, if any) is replaced by `ref`, and the channel's subscribers get one diff (the join,
-- and the leave of `prev`). A ref already there is left as it is (the node saying again what
-- it holds). Returns 'ok', 'engine_topic', 'invalid_presence' (no ref or key, or a meta that is
-- not an object), or 'too_many_presences' when the channel already holds `most` presences
-- (nothing changes then). Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_track(p_node uuid, p_item jsonb, p_most integer)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_topic text := p_item ->> 'topic';
    v_private boolean := coalesce((p_item ->> 'private')::boolean, false);
    v_ref text := p_item ->> 'ref';
    v_prev text := p_item ->> 'prev';
    v_join jsonb;
    v_leave jsonb;
begin
    if coalesce(v_topic, '') = '' or app._engine_topic(v_topic) then
        return 'engine_topic';
    end if;
    if coalesce(v_ref, '') = '' or coalesce(p_item ->> 'key', '') = ''
        or pg_catalog.jsonb_typeof(p_item -> 'meta') is distinct from 'object' then
        return 'invalid_presence';
    end if;
    perform app._realtime_topic_lock(v_topic, v_private);
    if exists (select 1 from app.realtime_presences as p where p.ref = v_ref) then
        return 'ok';
    end if;
    if (
        select count(*)
        from app.realtime_presences as p
        where p.topic = v_topic and p.private = v_private and p.ref is distinct from v_prev
    ) >= p_most then
        return 'too_many_presences';
    end if;
    delete from app.realtime_presences as p
    where p.ref = v_prev and p.node = p_node
    returning pg_catalog.jsonb_build_object('key', p.key, 'ref', p.ref, 'meta', p.meta) into v_leave;
    v_join := pg_catalog.jsonb_build_object(
        'key', p_item ->> 'key',
        'ref', v_ref,
        'meta', (p_item -> 'meta') || case
            when v_leave is null then '{}'::jsonb
            else pg_catalog.jsonb_build_object('phx_ref_prev', v_prev)
        end);
    insert into app.realtime_presences (ref, node, topic, private, key, meta)
    values (v_ref, p_node, v_topic, v_private, p_item ->> 'key', p_item -> 'meta');
    perform app._realtime_diff(
        v_topic, v_private, pg_catalog.jsonb_build_array(v_join),
        case when v_leave is null then '[]'::jsonb else pg_catalog.jsonb_build_array(v_leave) end);
    return 'ok';
end
$$;

-- _realtime_untrack(node, ref): the presence `ref` of a socket of `node` ends (untrack, a leave,
-- the socket closed); its channel gets the leave. Returns 'ok' (also for a ref no longer there).
-- Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_untrack(p_node uuid, p_ref text)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_row app.realtime_presences;
begin
    select p.* into v_row from app.realtime_presences as p where p.ref = p_ref and p.node = p_node;
    if not found then
        return 'ok';
    end if;
    perform app._realtime_topic_lock(v_row.topic, v_row.private);
    delete from app.realtime_presences as p where p.ref = p_ref and p.node = p_node;
    if found then
        perform app._realtime_diff(v_row.topic, v_row.private, '[]', pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('key', v_row.key, 'ref', v_row.ref, 'meta', v_row.meta)));
    end if;
    return 'ok';
end
$$;

-- _realtime_remove(refs): remove these presences and tell each of their channels, in one leave
-- diff a channel. Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_remove(p_refs text[])
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_channel record;
begin
    for v_channel in
        with gone as (
            delete from app.realtime_presences as p
            where p.ref = any(p_refs)
            returning p.topic, p.private, p.key, p.ref, p.meta, p.tracked_at
        )

        select
            g.topic,
            g.private,
            pg_catalog.jsonb_agg(
                pg_catalog.jsonb_build_object('key', g.key, 'ref', g.ref, 'meta', g.meta)
                order by g.tracked_at, g.ref
            ) as leaves
        from gone as g
        group by g.topic, g.private
        order by g.topic, g.private
    loop
        perform app._realtime_diff(v_channel.topic, v_channel.private, '[]', v_channel.leaves);
    end loop;
end
$$;

-- _realtime_reconcile(node, presences): make the node's rows what it holds: `p_presences` is a
-- JSON array of {ref, topic, private, key, meta}, every presence the node's sockets hold; rows of
-- the node not in it are removed (leaves), and those missing are written (joins), whatever the
-- channels' counts (they were tracked once already). The node runs it when its rows differ from
-- what it holds: after another node removed them while it could not beat, after a failover lost
-- a write. Returns 'ok'. Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_reconcile(p_node uuid, p_presences jsonb)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_channel record;
begin
    perform app._realtime_remove(array(
        select p.ref
        from app.realtime_presences as p
        where p.node = p_node
            and p.ref not in (
                select h.value ->> 'ref'
                from pg_catalog.jsonb_array_elements(p_presences) as h (value)
                where h.value ->> 'ref' is not null
            )
    ));
    for v_channel in
        with held as (
            select
                h.value ->> 'ref' as ref,
                h.value ->> 'topic' as topic,
                coalesce((h.value ->> 'private')::boolean, false) as private,
                h.value ->> 'key' as key,
                h.value -> 'meta' as meta,
                h.position
            from pg_catalog.jsonb_array_elements(p_presences) with ordinality as h (value, position)
            where pg_catalog.jsonb_typeof(h.value -> 'meta') = 'object'
                and coalesce(h.value ->> 'ref', '') <> ''
                and coalesce(h.value ->> 'key', '') <> ''
                and coalesce(h.value ->> 'topic', '') <> ''
                and not app._engine_topic(h.value ->> 'topic')
        ),
        added as (
            insert into app.realtime_presences (ref, node, topic, private, key, meta)
            select h.ref, p_node, h.topic, h.private, h.key, h.meta
            from held as h
            order by h.position
            on conflict (ref) do nothing
            returning ref, topic, private, key, meta
        )

        select
            a.topic,
            a.private,
            pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'key', a.key, 'ref', a.ref, 'meta', a.meta) order by a.ref) as joins
        from added as a
        group by a.topic, a.private
        order by a.topic, a.private
    loop
        perform app._realtime_diff(v_channel.topic, v_channel.private, v_channel.joins, '[]');
    end loop;
    return 'ok';
end
$$;

-- _realtime_sweep(): remove the presences of the nodes that have not said they are alive for
-- longer than their own ttl_seconds (the node died, or lost the database), with a leave for each
-- channel, and those nodes; also presences of no node at all. Changes: app.realtime_presences,
-- app.realtime_nodes, app.events. Raises nothing.
create or replace function app._realtime_sweep()
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_dead uuid[];
begin
    with dead as (
        delete from app.realtime_nodes as n
        where n.seen_at < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => n.ttl_seconds)
        returning n.node
    )

    select coalesce(pg_catalog.array_agg(d.node), '{}') into v_dead from dead as d;
    perform app._realtime_remove(array(
        select p.ref
        from app.realtime_presences as p
        where p.node = any(v_dead)
            or not exists (select 1 from app.realtime_nodes as n where n.node = p.node)
    ));
end
$$;

-- _realtime_seen(node, ttl): the node is alive, and may stay silent `ttl` seconds. Returns
-- whether its row is new (first beat, or another node removed it and its presences meanwhile).
-- Changes: app.realtime_nodes. Raises: invalid_argument (ttl not between 1 and 3600).
create or replace function app._realtime_seen(p_node uuid, p_ttl integer)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    v_new boolean;
begin
    if p_ttl is null or p_ttl not between 1 and 3600 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'ttl_seconds', 'reason', 'between 1 and 3600'));
    end if;
    insert into app.realtime_nodes as n (node, ttl_seconds)
    values (p_node, p_ttl)
    on conflict (node) do update
        set seen_at = pg_catalog.clock_timestamp(), ttl_seconds = excluded.ttl_seconds
    returning n.xmax = 0 into v_new;
    return v_new;
end
$$;

-- realtime_write(node, ttl, items, most): what a node's sockets sent, in the order sent, in one
-- transaction: `p_items` is a JSON array of
--   {op: broadcast, topic, private, event, payload, sender}    a client broadcast
--   {op: track, ref, prev, topic, private, key, meta}          a presence tracked (or replaced)
--   {op: untrack, ref}                                         a presence ended
--   {op: reconcile, presences: [...]}                          every presence the node holds
-- Returns a JSON array with each item's outcome: 'ok', 'engine_topic', 'invalid_presence',
-- 'too_many_presences' (at most `most` presences a channel) or 'unknown_op'. An item refused
-- changes nothing; the others are written.
-- Who: the API node (surfaces/realtime/rooms.py). Changes: app.events, app.realtime_presences,
-- app.realtime_nodes (the node's row, when an item is about presence).
-- Raises: invalid_argument (ttl not between 1 and 3600, items not an array).
create or replace function server.realtime_write(
    p_node uuid, p_ttl integer, p_items jsonb, p_most integer
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_item jsonb;
    v_results jsonb := '[]';
begin
    if pg_catalog.jsonb_typeof(p_items) is distinct from 'array' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'items', 'reason', 'a JSON array'));
    end if;
    if exists (
        select 1 from pg_catalog.jsonb_array_elements(p_items) as i (value)
        where i.value ->> 'op' in ('track', 'untrack', 'reconcile')
    ) then
        perform app._realtime_seen(p_node, p_ttl);
    end if;
    for v_item in
        select i.value from pg_catalog.jsonb_array_elements(p_items) with ordinality as i (value, position)
        order by i.position
    loop
        v_results := v_results || pg_catalog.to_jsonb(case v_item ->> 'op'
            when 'broadcast' then app._realtime_broadcast(v_item)
            when 'track' then app._realtime_track(p_node, v_item, p_most)
            when 'untrack' then app._realtime_untrack(p_node, v_item ->> 'ref')
            when 'reconcile' then app._realtime_reconcile(p_node, coalesce(v_item -> 'presences', '[]'))
            else 'unknown_op'
        end);
    end loop;
    return v_results;
end
$$;

-- realtime_beat(node, ttl): the node says it is alive (it may stay silent `ttl` seconds), and
-- removes the presences of nodes silent for longer than theirs (_realtime_sweep). Returns
-- {new: whether the node's row was new, digest: md5 of the node's presence refs, sorted and
-- joined by commas}: the node compares them with what it holds and reconciles when they differ.
-- Who: the API node, every ttl/3 seconds while it serves Realtime. Changes: app.realtime_nodes,
-- app.realtime_presences, app.events. Raises: invalid_argument (ttl not between 1 and 3600).
create or replace function server.realtime_beat(p_node uuid, p_ttl integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_new boolean;
begin
    v_new := app._realtime_seen(p_node, p_ttl);
    perform app._realtime_sweep();
    return pg_catalog.jsonb_build_object(
        'new', v_new,
        'digest', (
            select pg_catalog.md5(coalesce(pg_catalog.string_agg(p.ref, ',' order by p.ref collate "C"), ''))
            from app.realtime_presences as p
            where p.node = p_node
        ));
end
$$;

-- realtime_gone(node): the node stops: its presences end (a leave for each channel) and its row
-- goes. Who: the API node, as it shuts down. Changes: app.realtime_presences,
-- app.realtime_nodes, app.events. Raises nothing.
create or replace function server.realtime_gone(p_node uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform app._realtime_remove(array(
        select p.ref from app.realtime_presences as p where p.node = p_node
    ));
    delete from app.realtime_nodes as n where n.node = p_node;
end
$$;

-- realtime_presence_state(topic, private): the channel's presences, every node's, as Phoenix's
-- presence_state: {key: {metas: [meta + phx_ref]}}, in the order they were tracked.
-- Who: the API node, when a socket joins a channel with presence. Changes nothing. Raises nothing.
create or replace function server.realtime_presence_state(p_topic text, p_private boolean)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
    select app._realtime_metas(coalesce(pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object('key', p.key, 'ref', p.ref, 'meta', p.meta)
        order by p.tracked_at, p.ref
    ), '[]'))
    from app.realtime_presences as p
    where p.topic = p_topic and p.private = p_private
$$;

-- realtime_probe(topic, ids): the start of an authorization check of a private channel, as
-- Supabase Realtime makes one: `realtime.topic` is set to `topic` for the transaction, and two
-- rows of realtime.messages are written as the owner (ids[1] for broadcast, ids[2] for presence),
-- for the caller's SELECT policies to show or hide once the transaction becomes the caller's. The
-- check rolls back (and realtime.messages keeps no row: migrations/0022).
-- Who: the API node, in a transaction it then runs as the caller and rolls back
-- (surfaces/realtime/policies.py). Changes: realtime.messages, until the rollback.
-- Raises: insufficient_privilege where realtime.messages is not the engine's (a Supabase project:
-- its own Realtime serves private channels there).
create or replace function server.realtime_probe(p_topic text, p_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform pg_catalog.set_config('realtime.topic', p_topic, true);
    insert into realtime.messages (id, topic, extension, private)
    values (p_ids[1], p_topic, 'broadcast', true), (p_ids[2], p_topic, 'presence', true);
end
$$;
