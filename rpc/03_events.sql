-- The event stream (migrations/0017): app._notify (rpc/01_core.sql) writes an event into
-- app.events inside the money transaction; every API node's hub reads what became visible since
-- its last read (_read_events, through server.read_events); the scheduler prunes what is older
-- than the retention (_prune_events). docs/live.md ("The event stream") explains the rule.

-- _event_server: which running server this is, for a reader's cursor: its start time. A reader
-- whose cursor was made on another server (the database restarted, or failed over to a standby)
-- cannot trust it (a commit that was not flushed, or not yet replicated, may be gone, and its
-- transaction id used again), so it resyncs. Changes nothing; raises nothing.
create or replace function app._event_server()
returns text
language sql stable
set search_path = ''
as $$
    select pg_catalog.pg_postmaster_start_time()::text
$$;

-- _event_cursor: a cursor at the current end of the stream: every event committed after this
-- snapshot comes after it, whatever its id. Changes nothing; raises nothing.
create or replace function app._event_cursor()
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'snapshot', pg_catalog.pg_current_snapshot()::text, 'server', app._event_server())
$$;

-- _read_events(cursor, limit): the events that became visible after the cursor, in id order, at
-- most `limit` of them, and the cursor to read from next.
--   cursor null            a reader starting fresh: no events, a cursor at the current end.
--   {snapshot, server}     the events whose transaction was still running (or not yet begun) in
--                          `snapshot` and has committed in the current one: an event is in
--                          exactly one such window, so it is delivered once, and a transaction
--                          that rolled back or is still running holds no other event back.
--   + {until, after}       the same window (up to the snapshot `until`), after event id `after`:
--                          the next page of a window that held more than `limit` events.
-- In one window the events are in id order. Events of one market (or one wallet) are inserted
-- while its row is locked, so a later transaction's events have higher ids and become visible no
-- earlier: per market and per user, the order is the version order.
-- When the cursor cannot be trusted the answer is `resync: true` with a `reason` and a fresh
-- cursor at the end: `server` (the database restarted or failed over since the cursor was made),
-- `pruned` (events the cursor had not reached were pruned: it fell behind the retention) or
-- `behind` (more than 250,000 events to catch up on: each page reads the whole window, so a reader
-- that far behind starts again at the end rather than page through them).
-- Callers: the API nodes' hubs (server.read_events), never a client role. Changes nothing.
-- Returns {cursor, events: [{id, channel, payload}], resync, reason}.
-- Raises: invalid_argument (limit not between 1 and 10000, a malformed cursor).
create or replace function app._read_events(p_cursor jsonb, p_limit integer)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_since pg_catalog.pg_snapshot;
    v_until pg_catalog.pg_snapshot;
    v_after bigint;
    v_events jsonb;
    v_count integer;
    v_last bigint;
    v_pruned xid8;
    v_reason text;
    v_ahead bigint;
begin
    if p_limit is null or p_limit not between 1 and 10000 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'limit', 'reason', 'between 1 and 10000'));
    end if;
    if p_cursor is null then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', false);
    end if;
    -- checked by shape rather than by catching a failed cast (a subtransaction on every read)
    if jsonb_typeof(p_cursor) is distinct from 'object'
        or coalesce(p_cursor ->> 'snapshot', '') !~ '^\d{1,19}:\d{1,19}:(\d{1,19}(,\d{1,19})*)?$'
        or coalesce(p_cursor ->> 'until', '0:0:') !~ '^\d{1,19}:\d{1,19}:(\d{1,19}(,\d{1,19})*)?$'
        or coalesce(p_cursor ->> 'after', '0') !~ '^\d{1,18}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'cursor', 'reason', 'a cursor this function returned'));
    end if;
    v_since := (p_cursor ->> 'snapshot')::pg_catalog.pg_snapshot;
    v_until := (p_cursor ->> 'until')::pg_catalog.pg_snapshot;
    v_after := (p_cursor ->> 'after')::bigint;

    select s.pruned_xid into v_pruned from app.event_stream as s;
    if p_cursor ->> 'server' is distinct from app._event_server() then
        v_reason := 'server';
    elsif v_pruned >= pg_catalog.pg_snapshot_xmin(v_since)
        and not pg_catalog.pg_visible_in_snapshot(v_pruned, v_since) then
        v_reason := 'pruned';
    end if;
    if v_reason is not null then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', true,
            'reason', v_reason);
    end if;

    v_until := coalesce(v_until, pg_catalog.pg_current_snapshot());
    -- the window, found through the xid index (one range, and one probe per transaction running
    -- in `since`; the two sets are disjoint) and kept as ids only, then put in id order: ordering
    -- the whole table by id and filtering would read every event kept
    with in_window as materialized (
        select e.id, e.xid
        from app.events as e
        where e.xid >= pg_catalog.pg_snapshot_xmax(v_since)
            and e.xid < pg_catalog.pg_snapshot_xmax(v_until)
        union all
        select e.id, e.xid
        from app.events as e
        where e.xid = any(array(select pg_catalog.pg_snapshot_xip(v_since)))
    ),
    ahead as materialized (
        select w.id
        from in_window as w
        where pg_catalog.pg_visible_in_snapshot(w.xid, v_until)
            and (v_after is null or w.id > v_after)
    ),
    page as (
        select a.id
        from ahead as a
        order by a.id
        limit p_limit
    )

    select coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
               'id', e.id, 'channel', e.channel, 'payload', e.payload) order by e.id), '[]'),
           count(*)::integer,
           max(e.id),
           (select count(*) from ahead)
    into v_events, v_count, v_last, v_ahead
    from page as p
    inner join app.events as e on p.id = e.id;

    -- every page reads the whole window again: past 250,000 events a reader is better off
    -- starting again at the end (its clients reload) than paging through them
    if v_after is null and v_ahead > 250000 then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', true,
            'reason', 'behind');
    end if;

    return pg_catalog.jsonb_build_object(
        'cursor', case
            when v_count = p_limit then pg_catalog.jsonb_build_object(
                'snapshot', v_since::text, 'until', v_until::text, 'after', v_last,
                'server', p_cursor -> 'server')
            else pg_catalog.jsonb_build_object(
                'snapshot', v_until::text, 'server', p_cursor -> 'server')
        end,
        'events', v_events,
        'resync', false);
end
$$;

-- _prune_events(): delete the events older than app.config.event_retention_minutes, oldest id
-- first, at most app.config.history_prune_batch per call (a backlog goes a batch per round), and
-- remember in app.event_stream the newest transaction whose events were deleted, so that a reader
-- that had not reached them learns it must resync (_read_events). Callers: scheduler_tick, under
-- its lock; never a client role. Changes: app.events, app.event_stream. Returns the number of
-- events deleted. Raises nothing.
create or replace function app._prune_events()
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_count integer;
    v_newest xid8;
begin
    with oldest as (
        select e.id
        from app.events as e
        order by e.id
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned as (
        delete from app.events as e
        using oldest as o
        where e.id = o.id
            and e.created_at < now() - pg_catalog.make_interval(
                mins => (select c.event_retention_minutes from app.config as c))
        returning e.xid
    )

    select count(*)::integer, (select p.xid from pruned as p order by p.xid desc limit 1)
    into v_count, v_newest
    from pruned;
    if v_count > 0 then
        update app.event_stream as s set pruned_xid = greatest(s.pruned_xid, v_newest) where s.id;
    end if;
    return v_count;
end
$$;
