-- Market depth and history (DBGP V2, sections 3.6, 4.8, 6.3) and scheduled closing.
--
-- Pool snapshots are written by app.take_pool_snapshots (every open market whose last snapshot is
-- older than app.config.snapshot_interval_seconds) and at close (the trigger of migration 0007).
-- app.close_due_markets closes every open market past its closes_at. Both are called by the
-- scheduler of the API nodes through app.scheduler_tick, under one advisory lock, so one node at a
-- time writes; the same round prunes the snapshots and quote telemetry older than their retention
-- (app._prune_history). get_market_depth is the read side. docs/depth.md defines every number.

-- _snapshot_market: one snapshot row per outcome of market `p_market_id`, now, for `p_reason`
-- ('interval' or 'close'). Called by take_pool_snapshots' set-based twin below and by the close
-- trigger. Changes: app.pool_snapshots.
create or replace function app._snapshot_market(p_market_id bigint, p_reason text)
returns integer
language sql
set search_path = ''
as $$
    with written as (
        insert into app.pool_snapshots (
            market_id, outcome_id, reason, market_version, outcome_pool, total_pool, takeout,
            share, odds
        )
        select q.market_id, q.outcome_id, p_reason, q.market_version, q.pool, q.total_pool,
               case when m.kind = 'parimutuel' then (q.total_pool * m.rake_bps / 10000) else 0 end,
               q.share, q.odds
        from app.outcome_quotes as q
        inner join app.markets as m on q.market_id = m.id
        where q.market_id = p_market_id
        on conflict on constraint pool_snapshots_once do nothing
        returning 1
    )

    select count(*)::integer from written
$$;

-- take_pool_snapshots(): one snapshot row per outcome of every open market whose last snapshot
-- (of either reason) is older than app.config.snapshot_interval_seconds, or that has none.
-- Callers: the scheduler (through scheduler_tick), never a client role. Changes:
-- app.pool_snapshots. Returns the number of rows written.
create or replace function app.take_pool_snapshots()
returns integer
language sql
set search_path = ''
as $$
    with due as (
        select m.id, m.kind, m.rake_bps
        from app.markets as m
        cross join app.config as c
        where m.status = 'open'
            and not exists (
                select 1 from app.pool_snapshots as s
                where s.market_id = m.id
                    and s.taken_at > now() - make_interval(secs => c.snapshot_interval_seconds)
            )
    ),
    written as (
        insert into app.pool_snapshots (
            market_id, outcome_id, reason, market_version, outcome_pool, total_pool, takeout,
            share, odds
        )
        select q.market_id, q.outcome_id, 'interval', q.market_version, q.pool, q.total_pool,
               case when d.kind = 'parimutuel' then (q.total_pool * d.rake_bps / 10000) else 0 end,
               q.share, q.odds
        from app.outcome_quotes as q
        inner join due as d on q.market_id = d.id
        on conflict on constraint pool_snapshots_once do nothing
        returning 1
    )

    select count(*)::integer from written
$$;

-- close_due_markets(): close every open market whose closes_at has passed, exactly once: each is
-- locked with `for no key update skip locked` (a market another transaction holds is left for
-- the next tick; one that another node closed meanwhile no longer matches). Each gets what close_market
-- gives it: status closed, version + 1, its final snapshot (the close trigger), an audit row
-- (action close_market, actor_role 'scheduler', no actor) and the `closed` notification.
-- Callers: the scheduler (through scheduler_tick), never a client role. Returns the ids closed.
create or replace function app.close_due_markets()
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_before jsonb;
    v_closed bigint[] := '{}';
begin
    for v_id in
        select m.id from app.markets as m
        where m.status = 'open' and m.closes_at <= now()
        order by m.id
        for no key update skip locked
    loop
        v_before := app._market_row(v_id);
        update app.markets as m
        set status = 'closed', version = m.version + 1, closed_at = now()
        where m.id = v_id;
        perform app._audit('close_market', v_id, null, 'closes_at passed', v_before,
            app._market_row(v_id), 'scheduler');
        perform app._notify_market(v_id, 'closed');
        v_closed := v_closed || v_id;
    end loop;
    return v_closed;
end
$$;

-- _prune_history(): delete the pool snapshots and the quote telemetry older than their retention
-- (app.config.pool_snapshot_retention and quote_telemetry_retention, 30 days by default), oldest
-- first, at most app.config.history_prune_batch rows of each table per call, so that a backlog
-- goes a batch per round. Callers: scheduler_tick, under its lock; never a client role.
-- Changes: app.pool_snapshots, app.quote_telemetry. Returns {pool_snapshots, quote_telemetry}:
-- the rows deleted from each. Raises nothing.
create or replace function app._prune_history()
returns jsonb
language sql
set search_path = ''
as $$
    with old_snapshots as (
        select s.id
        from app.pool_snapshots as s
        where s.taken_at < now() - (select c.pool_snapshot_retention from app.config as c)
        order by s.taken_at
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned_snapshots as (
        delete from app.pool_snapshots as s
        where s.id in (select o.id from old_snapshots as o)
        returning 1
    ),
    old_telemetry as (
        select t.id
        from app.quote_telemetry as t
        where t.created_at < now() - (select c.quote_telemetry_retention from app.config as c)
        order by t.created_at
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned_telemetry as (
        delete from app.quote_telemetry as t
        where t.id in (select o.id from old_telemetry as o)
        returning 1
    )

    select pg_catalog.jsonb_build_object(
        'pool_snapshots', (select count(*) from pruned_snapshots),
        'quote_telemetry', (select count(*) from pruned_telemetry)
    )
$$;

-- scheduler_tick(): one round of the scheduler, under the transaction-level advisory lock
-- 'wagerbase.scheduler': when another node holds it, does nothing; otherwise closes the due
-- markets, settles the virtual markets whose draw is fixed and reveals the seeds of voided ones
-- (rpc/75_virtual.sql), then takes the due snapshots and prunes the old ones and the old quote
-- telemetry (_prune_history) and the events of the live stream past their retention
-- (_prune_events, rpc/03_events.sql), and settles the house rounds idle past their game's
-- round_idle_minutes (expire_house_rounds, rpc/81_house_rounds.sql). Callers: the API nodes'
-- scheduler, never a client role.
-- Returns {locked, closed (ids), drawn (virtual market ids settled from their draw), draw_failed
-- ([{market_id, sqlstate, error, detail}]), voids_revealed (ids), snapshots (rows written),
-- pruned ({pool_snapshots, quote_telemetry}: rows deleted), events_pruned (events deleted),
-- rounds_expired (house round ids settled)}.
create or replace function app.scheduler_tick()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_closed bigint[];
    v_draws jsonb;
begin
    if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wagerbase.scheduler')) then
        return pg_catalog.jsonb_build_object(
            'locked', false, 'closed', '[]'::jsonb, 'drawn', '[]'::jsonb,
            'draw_failed', '[]'::jsonb, 'voids_revealed', '[]'::jsonb, 'snapshots', 0,
            'pruned', pg_catalog.jsonb_build_object('pool_snapshots', 0, 'quote_telemetry', 0),
            'events_pruned', 0, 'rounds_expired', '[]'::jsonb);
    end if;
    v_closed := app.close_due_markets();
    v_draws := app.settle_virtual_draws();
    return pg_catalog.jsonb_build_object(
        'locked', true, 'closed', to_jsonb(v_closed), 'drawn', v_draws -> 'drawn',
        'draw_failed', v_draws -> 'failed', 'voids_revealed', to_jsonb(app.reveal_void_draws()),
        'snapshots', app.take_pool_snapshots(), 'pruned', app._prune_history(),
        'events_pruned', app._prune_events(),
        'rounds_expired', to_jsonb(app.expire_house_rounds()));
end
$$;

-- get_market_depth(market_id, window): the Market Depth View (DBGP V2 6.3) over the last `window`
-- ('5m', '15m' or '1h'). docs/depth.md defines each part; in short:
--   outcomes        per outcome: live pool, share, odds, wager_count; share_start (the share when
--                   the window began, replayed from the accepted wagers that had joined the pool by
--                   then), share_change_pp = (share - share_start) * 100; window_wagers and
--                   window_stake (accepted wagers that joined the pool in the window)
--   snapshots       the pool snapshots of the window, oldest first, each with its outcomes
--   largest_wagers  the 10 largest accepted wagers of the window
--   price_impact_events  the accepted wagers of the window that moved their outcome's share by at
--                   least app.config.depth_impact_threshold_pp points when they joined the pool
--                   (largest move first, at most 10)
--   biggest_bettors the 5 users with the most accepted stake on the market (all time), ranked
--   pressure        index = the most-backed outcome's part of the window's accepted stake (from
--                   1/n, spread evenly, to 1, all on one outcome; null without stake), outcome_id
-- Bettors are anonymous except to admins (and the service role), who also get user ids, usernames
-- and wager ids; `mine` / `you` flag the caller's own. Quote telemetry is not used (admins only).
-- Callers: anyone (anon included); drafts only admins. Changes: nothing.
-- Raises: market_not_found, invalid_argument (window), unknown_user (a signed-in caller whose user
-- does not exist or was deleted).
create or replace function public.get_market_depth(market_id bigint, "window" text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(get_market_depth.market_id);
    v_span interval;
    v_from timestamptz;
    v_me uuid := auth.uid();
    v_admin boolean := auth.role() = 'service_role' or app._is_admin();
    v_threshold numeric;
    v_result jsonb;
begin
    v_span := case get_market_depth."window"
        when '5m' then interval '5 minutes'
        when '15m' then interval '15 minutes'
        when '1h' then interval '1 hour'
    end;
    if v_span is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'window', 'value', get_market_depth."window", 'reason', '5m, 15m or 1h'));
    end if;
    v_from := now() - v_span;
    select c.depth_impact_threshold_pp into v_threshold from app.config as c;

    with joined as (
        -- accepted wagers in the order they joined the pool, with the pools right after each
        select
            w.id, w.user_id, w.outcome_id, w.stake, w.odds,
            coalesce(w.decided_at, w.created_at) as joined_at,
            (sum(w.stake) over (partition by w.outcome_id order by w.accepted_version, w.id))::bigint
                as outcome_after,
            (sum(w.stake) over (order by w.accepted_version, w.id))::bigint as total_after
        from app.wagers as w
        where w.market_id = v_market.id and w.approval = 'accepted'
    ),
    moves as (
        select
            j.*,
            app._share(j.outcome_after - j.stake, j.total_after - j.stake) as share_before,
            app._share(j.outcome_after, j.total_after) as share_after
        from joined as j
    ),
    in_window as (
        select
            m.*, round((m.share_after - m.share_before) * 100, 4) as impact_pp
        from moves as m where m.joined_at >= v_from
    ),
    start_total as (
        select coalesce(sum(j.stake), 0)::bigint as total from joined as j where j.joined_at < v_from
    ),
    per_outcome as (
        select
            q.outcome_id, q.position, q.label, q.color, q.abbreviation, q.pool, q.share, q.odds,
            q.wager_count,
            app._share((
                select coalesce(sum(j.stake), 0)::bigint from joined as j
                where j.outcome_id = q.outcome_id and j.joined_at < v_from
            ), st.total) as share_start,
            (select count(*) from in_window as i where i.outcome_id = q.outcome_id) as window_wagers,
            (
                select coalesce(sum(i.stake), 0)::bigint from in_window as i
                where i.outcome_id = q.outcome_id
            ) as window_stake
        from app.outcome_quotes as q
        cross join start_total as st
        where q.market_id = v_market.id
    ),
    pressure as (
        select p.outcome_id, p.window_stake, (sum(p.window_stake) over ())::bigint as volume
        from per_outcome as p
        order by p.window_stake desc, p.position
        limit 1
    ),
    bettors as (
        select
            j.user_id, sum(j.stake)::bigint as stake, count(*) as wagers,
            row_number() over (order by sum(j.stake) desc, min(j.id)) as rank
        from joined as j
        group by j.user_id
    ),
    snapshot_rows as (
        select
            s.taken_at, s.reason, max(s.market_version) as market_version,
            max(s.total_pool) as total_pool, max(s.takeout) as takeout,
            jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', s.outcome_id, 'pool', s.outcome_pool, 'share', s.share, 'odds', s.odds
            ) order by s.outcome_id) as outcomes
        from app.pool_snapshots as s
        where s.market_id = v_market.id and s.taken_at >= v_from
        group by s.taken_at, s.reason
    )

    select pg_catalog.jsonb_build_object(
        'market_id', v_market.id,
        'status', v_market.status,
        'kind', v_market.kind,
        'version', v_market.version,
        'total_pool', v_market.total_pool,
        'window', get_market_depth."window",
        'from', v_from,
        'to', now(),
        'window_wagers', (select count(*) from in_window),
        'window_stake', (select coalesce(sum(i.stake), 0) from in_window as i),
        'outcomes', (
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', p.outcome_id, 'position', p.position, 'label', p.label,
                'color', p.color, 'abbreviation', p.abbreviation, 'pool', p.pool,
                'share', p.share, 'odds', p.odds, 'wager_count', p.wager_count,
                'share_start', p.share_start,
                'share_change_pp', round((p.share - p.share_start) * 100, 4),
                'window_wagers', p.window_wagers, 'window_stake', p.window_stake
            ) order by p.position)
            from per_outcome as p
        ),
        'snapshots', coalesce((
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'taken_at', s.taken_at, 'reason', s.reason, 'market_version', s.market_version,
                'total_pool', s.total_pool, 'takeout', s.takeout, 'outcomes', s.outcomes
            ) order by s.taken_at, s.reason)
            from snapshot_rows as s
        ), '[]'),
        'largest_wagers', coalesce((
            select jsonb_agg(x.item order by x.stake desc, x.id)
            from (
                select i.id, i.stake, pg_catalog.jsonb_build_object(
                    'outcome_id', i.outcome_id, 'stake', i.stake, 'odds', i.odds,
                    'placed_at', i.joined_at, 'mine', coalesce(i.user_id = v_me, false)
                ) || case when v_admin then pg_catalog.jsonb_build_object(
                    'wager_id', i.id, 'user_id', i.user_id) else '{}' end as item
                from in_window as i
                order by i.stake desc, i.id
                limit 10
            ) as x
        ), '[]'),
        'price_impact_events', coalesce((
            select jsonb_agg(x.item order by abs(x.impact_pp) desc, x.id)
            from (
                select i.id, i.impact_pp, pg_catalog.jsonb_build_object(
                    'outcome_id', i.outcome_id, 'stake', i.stake, 'share_before', i.share_before,
                    'share_after', i.share_after, 'impact_pp', i.impact_pp, 'at', i.joined_at,
                    'mine', coalesce(i.user_id = v_me, false)
                ) || case when v_admin then pg_catalog.jsonb_build_object(
                    'wager_id', i.id, 'user_id', i.user_id) else '{}' end as item
                from in_window as i
                where abs(i.impact_pp) >= v_threshold
                order by abs(i.impact_pp) desc, i.id
                limit 10
            ) as x
        ), '[]'),
        'biggest_bettors', coalesce((
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'rank', b.rank, 'label', 'Bettor ' || b.rank, 'stake', b.stake,
                'wagers', b.wagers, 'share_of_pool', app._share(b.stake, v_market.total_pool),
                'you', coalesce(b.user_id = v_me, false)
            ) || case when v_admin then pg_catalog.jsonb_build_object(
                'user_id', b.user_id,
                'username', (select pr.username from app.profiles as pr where pr.user_id = b.user_id)
            ) else '{}' end order by b.rank)
            from bettors as b
            where b.rank <= 5
        ), '[]'),
        'pressure', (
            select pg_catalog.jsonb_build_object(
                'index', case when pr.volume > 0 then round(pr.window_stake::numeric / pr.volume, 4) end,
                'outcome_id', case when pr.volume > 0 then pr.outcome_id end,
                'stake', pr.window_stake,
                'volume', pr.volume)
            from pressure as pr
        )
    )
    into v_result;
    return v_result;
end
$$;
grant execute on function public.get_market_depth(bigint, text) to anon, authenticated, service_role;
