-- Side effects after settlement (migrations/0009_side_effects.sql, 0018_side_effect_counts.sql;
-- docs/side-effects.md).
--
-- settle and unsettle call app._enqueue_side_effects in their own transaction; the API nodes'
-- workers call app.work_side_effect, which runs the oldest due job in a subtransaction: a failing
-- job is rolled back alone and retried later (exponential backoff).
-- A job never adds blindly: it sums its market's settled wagers per (user, settlement time),
-- compares each sum with what its handler counted for that group before
-- (app.side_effect_counts) and applies only the difference, so running a job again, or two jobs
-- of one market, counts every wager once. Its work grows with the market's bettors, not with
-- its wagers.

-- _enqueue_side_effects: one job per handler for market `p_market_id`, after `p_event`.
-- Callers: app._settle_market and app._unsettle, inside the transaction that changed the wagers.
create or replace function app._enqueue_side_effects(p_market_id bigint, p_event text)
returns void
language sql
set search_path = ''
as $$
    insert into app.side_effect_jobs (handler, market_id, event)
    select h.handler, p_market_id, p_event
    from unnest(array['user_stats', 'leaderboard', 'big_wins', 'market_stats']) as h (handler)
$$;

-- _player_name: a user's public name: their username, else 'player-' and the start of their id
-- (an email is never shown).
create or replace function app._player_name(p_user uuid)
returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        (select p.username from app.profiles as p where p.user_id = p_user),
        'player-' || left(p_user::text, 8)
    )
$$;

-- _side_effect_changes: every (user, settlement time) group of market `p_market_id` whose sums
-- differ from what handler `p_handler` counted for it: its won and lost wagers added up now, and
-- the record. A group that counts nothing any more (unsettled, voided) comes with zero new sums.
-- Stable, so it reads one snapshot.
create or replace function app._side_effect_changes(p_handler text, p_market_id bigint)
returns setof app.side_effect_change
language sql stable
set search_path = ''
as $$
    with counted_now as (
        select
            w.user_id,
            w.settled_at,
            count(*)::integer as wagers,
            (count(*) filter (where w.settlement = 'won'))::integer as wins,
            sum(w.stake)::bigint as stake,
            sum(w.payout)::bigint as payout
        from app.wagers as w
        where w.market_id = p_market_id
            and w.approval = 'accepted'
            and w.settlement in ('won', 'lost')
        group by w.user_id, w.settled_at
    ),
    recorded as (
        select r.user_id, r.settled_at, r.wagers, r.wins, r.stake, r.payout
        from app.side_effect_counts as r
        where r.handler = p_handler and r.market_id = p_market_id
    )
    select
        coalesce(n.user_id, r.user_id),
        coalesce(n.settled_at, r.settled_at),
        coalesce(r.wagers, 0),
        coalesce(r.wins, 0),
        coalesce(r.stake, 0),
        coalesce(r.payout, 0),
        coalesce(n.wagers, 0),
        coalesce(n.wins, 0),
        coalesce(n.stake, 0),
        coalesce(n.payout, 0)
    from counted_now as n
    full join recorded as r on r.user_id = n.user_id and r.settled_at = n.settled_at
    where (n.wagers, n.wins, n.stake, n.payout) is distinct from (r.wagers, r.wins, r.stake, r.payout)
    order by 1, 2
$$;

-- How a handler adds a difference: the rows it touches are created empty first (a negative
-- difference can never be inserted: check constraints test the row before a conflict is found),
-- then locked in key order, then updated, so two workers touching the same rows never deadlock.

-- _apply_user_stats: add each user's difference to app.user_stats.
create or replace function app._apply_user_stats(p_changes app.side_effect_change[])
returns void
language plpgsql
set search_path = ''
as $$
begin
    insert into app.user_stats (user_id)
    select distinct c.user_id from unnest(p_changes) as c order by c.user_id
    on conflict (user_id) do nothing;
    perform 1
    from app.user_stats as s
    where s.user_id in (select c.user_id from unnest(p_changes) as c)
    order by s.user_id
    for update;

    update app.user_stats as s
    set wagers = s.wagers + d.wagers,
        wins = s.wins + d.wins,
        wagered = s.wagered + d.wagered,
        won = s.won + d.won,
        profit = s.profit + d.won - d.wagered,
        updated_at = now()
    from (
        select
            c.user_id,
            sum(c.new_wagers - c.old_wagers) as wagers,
            sum(c.new_wins - c.old_wins) as wins,
            sum(c.new_stake - c.old_stake) as wagered,
            sum(c.new_payout - c.old_payout) as won
        from unnest(p_changes) as c
        group by c.user_id
    ) as d
    where s.user_id = d.user_id;
end
$$;

-- _period_start: the UTC day, ISO week (Monday) or month that `p_at` falls in.
create or replace function app._period_start(p_period text, p_at timestamptz)
returns date
language sql immutable
set search_path = ''
as $$
    select date_trunc(p_period, p_at at time zone 'UTC')::date
$$;

-- _leaderboard_moves: what a set of changes adds to each leaderboard row, summed per (period,
-- period start, user): a group's difference goes into the day, week and month of its settlement
-- time (a correction that settles again later takes the old group out and puts a new one in).
create or replace function app._leaderboard_moves(p_changes app.side_effect_change[])
returns setof app.leaderboard_move
language sql immutable
set search_path = ''
as $$
    select
        p.period,
        app._period_start(p.period, c.settled_at),
        c.user_id,
        sum(c.new_wagers - c.old_wagers)::bigint,
        sum(c.new_wins - c.old_wins)::bigint,
        sum(c.new_stake - c.old_stake)::bigint,
        sum(c.new_payout - c.old_payout)::bigint
    from unnest(p_changes) as c
    cross join unnest(array['day', 'week', 'month']) as p (period)
    group by 1, 2, 3
    order by 1, 2, 3
$$;

-- _apply_leaderboard: add each (period, user)'s difference to app.leaderboard.
create or replace function app._apply_leaderboard(p_changes app.side_effect_change[])
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_moves app.leaderboard_move[] := array(
        select m from app._leaderboard_moves(p_changes) as m
    );
begin
    insert into app.leaderboard (period, period_start, user_id, player)
    select m.period, m.period_start, m.user_id, app._player_name(m.user_id)
    from unnest(v_moves) as m
    order by m.period, m.period_start, m.user_id
    on conflict (period, period_start, user_id) do nothing;
    perform 1
    from app.leaderboard as l
    inner join unnest(v_moves) as m
        on l.period = m.period and l.period_start = m.period_start and l.user_id = m.user_id
    order by l.period, l.period_start, l.user_id
    for update of l;

    update app.leaderboard as l
    set wagers = l.wagers + m.wagers,
        wins = l.wins + m.wins,
        wagered = l.wagered + m.wagered,
        won = l.won + m.won,
        profit = l.profit + m.won - m.wagered,
        updated_at = now()
    from unnest(v_moves) as m
    where l.period = m.period and l.period_start = m.period_start and l.user_id = m.user_id;
end
$$;

-- _apply_big_wins: for each user whose counted wagers on market `p_market_id` changed, the feed
-- holds exactly their winning wagers of the market whose profit reaches
-- config.big_win_min_profit now: a new one goes in, one that no longer wins (a correction) or
-- no longer reaches it leaves.
create or replace function app._apply_big_wins(
    p_market_id bigint, p_changes app.side_effect_change[]
)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_minimum bigint := (select c.big_win_min_profit from app.config as c);
begin
    delete from app.big_wins as b
    where b.market_id = p_market_id
        and b.user_id in (select c.user_id from unnest(p_changes) as c)
        and not exists (
            select from app.wagers as w
            where w.id = b.wager_id and w.approval = 'accepted' and w.settlement = 'won'
                and w.payout - w.stake >= v_minimum
        );

    insert into app.big_wins (wager_id, market_id, outcome_id, user_id, player, stake, payout, settled_at)
    select
        w.id,
        w.market_id,
        w.outcome_id,
        w.user_id,
        app._player_name(w.user_id),
        w.stake,
        w.payout,
        w.settled_at
    from app.wagers as w
    where w.market_id = p_market_id
        and w.user_id in (select c.user_id from unnest(p_changes) as c)
        and w.approval = 'accepted'
        and w.settlement = 'won'
        and w.payout - w.stake >= v_minimum
    order by w.id
    on conflict (wager_id) do update
    set stake = excluded.stake, payout = excluded.payout, settled_at = excluded.settled_at
    where (app.big_wins.stake, app.big_wins.payout, app.big_wins.settled_at)
        is distinct from (excluded.stake, excluded.payout, excluded.settled_at);
end
$$;

-- _apply_market_stats: add the difference to market `p_market_id`'s row of app.market_stats.
create or replace function app._apply_market_stats(
    p_market_id bigint, p_changes app.side_effect_change[]
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    insert into app.market_stats (market_id) values (p_market_id)
    on conflict (market_id) do nothing;

    update app.market_stats as s
    set wagers = s.wagers + d.wagers,
        wins = s.wins + d.wins,
        staked = s.staked + d.staked,
        paid = s.paid + d.paid,
        updated_at = now()
    from (
        select
            sum(c.new_wagers - c.old_wagers) as wagers,
            sum(c.new_wins - c.old_wins) as wins,
            sum(c.new_stake - c.old_stake) as staked,
            sum(c.new_payout - c.old_payout) as paid
        from unnest(p_changes) as c
    ) as d
    where s.market_id = p_market_id;
end
$$;

-- _run_side_effect: run job `p_job` once: under a transaction lock per (handler, market), so two
-- workers never apply the same difference, read the changes once, apply them with the handler and
-- record the groups' new sums (a group that counts nothing leaves the record). Returns how many
-- wagers the changed groups hold, before or after, whichever is more (0: nothing changed).
-- A user's job (house bets) goes to app._run_house_effect (rpc/83_house_effects.sql).
-- Raises: whatever the handler's statements raise (lock_not_available past the lock timeout, ...).
create or replace function app._run_side_effect(p_job app.side_effect_jobs)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_changes app.side_effect_change[];
begin
    if p_job.market_id is null then
        return app._run_house_effect(p_job);  -- a user's house bets (rpc/83_house_effects.sql)
    end if;
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'wagerbase.side_effect:' || p_job.handler || ':' || p_job.market_id, 0));
    v_changes := array(select c from app._side_effect_changes(p_job.handler, p_job.market_id) as c);
    if cardinality(v_changes) = 0 then
        return 0;
    end if;
    case p_job.handler
        when 'user_stats' then perform app._apply_user_stats(v_changes);
        when 'leaderboard' then perform app._apply_leaderboard(v_changes);
        when 'big_wins' then perform app._apply_big_wins(p_job.market_id, v_changes);
        when 'market_stats' then perform app._apply_market_stats(p_job.market_id, v_changes);
    end case;

    delete from app.side_effect_counts as r
    using unnest(v_changes) as c
    where r.handler = p_job.handler and r.market_id = p_job.market_id
        and r.user_id = c.user_id and r.settled_at = c.settled_at and c.new_wagers = 0;
    insert into app.side_effect_counts as r (
        handler, market_id, user_id, settled_at, wagers, wins, stake, payout, job_id
    )
    select
        p_job.handler, p_job.market_id, c.user_id, c.settled_at, c.new_wagers, c.new_wins,
        c.new_stake, c.new_payout, p_job.id
    from unnest(v_changes) as c
    where c.new_wagers > 0
    on conflict (handler, market_id, user_id, settled_at) do update
    set wagers = excluded.wagers, wins = excluded.wins, stake = excluded.stake,
        payout = excluded.payout, job_id = excluded.job_id, applied_at = now();
    return (select greatest(sum(c.old_wagers), sum(c.new_wagers)) from unnest(v_changes) as c);
end
$$;

-- work_side_effect(): run the oldest due job, once, in a subtransaction; one job per call (and so
-- per transaction), so a worker holds one job's locks at a time: a job takes its (handler,
-- market) lock, then its handler's rows in key order, and two workers never deadlock. Jobs are
-- taken `for update skip locked`, so every node's worker can run at once without taking the same
-- job. A job that fails is rolled back alone: its attempt and error are recorded and it is due
-- again after side_effect_backoff_ms * 2^(attempts - 1); after side_effect_max_attempts it is
-- failed (admins are told, and retry_side_effects brings it back). Statements wait at most
-- side_effect_lock_timeout_ms for a lock, so a worker never hangs on a busy row. When no job is
-- due, done jobs older than seven days are deleted, a thousand at a time.
-- Callers: the API nodes' workers (api/wagerbase/live/scheduler.py), never a client role.
-- Returns null when no job was due, else {job_id, handler, market_id, status (done, pending:
-- to be retried, failed), attempts, changed, error}.
create or replace function app.work_side_effect()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_config app.config;
    v_job app.side_effect_jobs;
    v_changed integer;
    v_state text;
    v_message text;
begin
    select * into v_config from app.config;
    perform pg_catalog.set_config('lock_timeout', v_config.side_effect_lock_timeout_ms || 'ms', true);
    select * into v_job
    from app.side_effect_jobs as j
    where j.status = 'pending' and j.next_attempt_at <= now()
    order by j.next_attempt_at, j.id
    limit 1
    for update skip locked;
    if not found then
        delete from app.side_effect_jobs as j
        where j.id in (
            select d.id from app.side_effect_jobs as d
            where d.status = 'done' and d.done_at < now() - interval '7 days'
            limit 1000
        );
        return null;
    end if;

    begin
        v_changed := app._run_side_effect(v_job);
        update app.side_effect_jobs as j
        set status = 'done', attempts = j.attempts + 1, last_attempt_at = now(), done_at = now(),
            changed = v_changed
        where j.id = v_job.id
        returning * into v_job;
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
        update app.side_effect_jobs as j
        set attempts = j.attempts + 1,
            last_attempt_at = now(),
            last_error = v_state || ': ' || v_message,
            status = case
                when j.attempts + 1 >= v_config.side_effect_max_attempts then 'failed'
                else 'pending'
            end,
            next_attempt_at = now() + make_interval(
                secs => v_config.side_effect_backoff_ms * power(2, j.attempts) / 1000.0)
        where j.id = v_job.id
        returning * into v_job;
        if v_job.status = 'failed' then
            perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
                'type', 'side_effect_failed', 'job_id', v_job.id, 'handler', v_job.handler,
                'market_id', v_job.market_id, 'attempts', v_job.attempts,
                'error', v_job.last_error));
        end if;
    end;
    return pg_catalog.jsonb_build_object(
        'job_id', v_job.id, 'handler', v_job.handler, 'market_id', v_job.market_id,
        'status', v_job.status, 'attempts', v_job.attempts, 'changed', v_job.changed,
        'error', v_job.last_error);
end
$$;
-- retry_side_effects(job_id): make failed jobs due again with a fresh count of attempts: job
-- `job_id`, or every failed job when it is null.
-- Callers: admins. Changes: the jobs (status pending, attempts 0, retried_by/at); logs.
-- Returns {retried: number of jobs}.
-- Raises: not_admin, job_not_found, job_not_failed.
create or replace function public.retry_side_effects(job_id bigint default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_job app.side_effect_jobs;
    v_retried integer;
begin
    if retry_side_effects.job_id is not null then
        select * into v_job
        from app.side_effect_jobs as j
        where j.id = retry_side_effects.job_id
        for update;
        if not found then
            perform app._fail('job_not_found', pg_catalog.jsonb_build_object(
                'job_id', retry_side_effects.job_id));
        end if;
        if v_job.status <> 'failed' then
            perform app._fail('job_not_failed', pg_catalog.jsonb_build_object(
                'job_id', v_job.id, 'status', v_job.status));
        end if;
    end if;
    with retried as (
        update app.side_effect_jobs as j
        set status = 'pending', attempts = 0, next_attempt_at = now(), retried_by = v_actor,
            retried_at = now()
        where j.status = 'failed'
            and (retry_side_effects.job_id is null or j.id = retry_side_effects.job_id)
        returning j.id, j.handler, j.market_id, j.last_error
    )
    select count(*) into v_retried from retried;
    perform app._audit('retry_side_effects', v_job.market_id, null, null,
        pg_catalog.jsonb_build_object('job_id', retry_side_effects.job_id),
        pg_catalog.jsonb_build_object('retried', v_retried));
    return pg_catalog.jsonb_build_object('retried', v_retried);
end
$$;
grant execute on function public.retry_side_effects(bigint) to authenticated, service_role;

-- The read side. Each view is security_invoker: the policies in policies/55_side_effects.sql decide.
drop view if exists public.side_effect_jobs;
drop view if exists public.user_stats;
drop view if exists public.leaderboard;
drop view if exists public.big_wins;
drop view if exists public.market_stats;

-- Admins: every job, failed ones with their last error.
create view public.side_effect_jobs with (security_invoker = true) as
select
    j.id,
    j.handler,
    j.market_id,
    j.user_id,
    j.event,
    j.status,
    j.attempts,
    j.next_attempt_at,
    j.last_attempt_at,
    j.last_error,
    j.changed,
    j.retried_by,
    j.retried_at,
    j.created_at,
    j.done_at
from app.side_effect_jobs as j;

-- A bettor's own figures; an admin's view of everyone's.
create view public.user_stats with (security_invoker = true) as
select
    s.user_id,
    s.wagers,
    s.wins,
    s.wagered,
    s.won,
    s.profit,
    s.updated_at
from app.user_stats as s;

-- Anyone: the ranking by profit per period (`day`, `week`, `month`; period_start in UTC).
create view public.leaderboard with (security_invoker = true) as
select
    l.period,
    l.period_start,
    rank() over (partition by l.period, l.period_start order by l.profit desc) as rank,
    l.player,
    l.wagers,
    l.wins,
    l.wagered,
    l.won,
    l.profit
from app.leaderboard as l
where l.wagers > 0;

-- Anyone: recent big wins, newest first.
create view public.big_wins with (security_invoker = true) as
select
    b.wager_id,
    b.market_id,
    m.title as market_title,
    b.outcome_id,
    o.label as outcome_label,
    b.player,
    b.stake,
    b.payout,
    b.profit,
    b.settled_at
from app.big_wins as b
inner join app.markets as m on b.market_id = m.id
inner join app.outcomes as o on b.outcome_id = o.id
order by b.settled_at desc, b.wager_id desc;

-- Anyone: each settled market's counted wagers, what they staked and were paid, the house's result.
create view public.market_stats with (security_invoker = true) as
select
    s.market_id,
    s.wagers,
    s.wins,
    s.staked,
    s.paid,
    s.staked - s.paid as house_result,
    s.updated_at
from app.market_stats as s;

grant select on public.leaderboard, public.big_wins, public.market_stats
to anon, authenticated, service_role;
grant select on public.side_effect_jobs, public.user_stats to authenticated, service_role;
