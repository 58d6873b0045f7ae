-- Responsible play (BetService, section 3.2): a user's self-exclusion, daily stake limit and daily
-- deposit limit; the checks place_wager and deposit run; the views that show them.
--
-- Rules (docs/responsible-play.md):
-- - "daily" is a rolling 24 hours ending now: the stakes of the caller's wagers placed in it
--   (accepted and pending; not those an admin rejected) and of their house games' bets, and the
--   caller's deposits in it;
-- - tightening (a lower limit, a limit where there was none, a later exclusion end) applies at
--   once; loosening (a higher limit, removing one) is kept pending and applies after
--   app.config.play_limit_cooling_off (24 hours); a new request replaces a pending one and, unless
--   it asks for the same value, restarts the clock;
-- - a self-exclusion runs to its end: it can be extended, never shortened or lifted;
-- - only the user changes their limits; admins read them (for support) and change none.
-- The checks run under the user's wallet lock, so concurrent calls cannot both slip under a limit.

-- The limits in force now for every user with a row: a pending change whose time has come is
-- folded in (the table keeps it pending until the next change; nothing needs to run at its
-- time), and the stakes and deposits of the last 24 hours. Read by the public views (as the
-- caller, so RLS applies) and by the checks below.
drop view if exists public.my_play_limits;
drop view if exists public.play_limits;
drop view if exists public.play_limit_changes;
drop view if exists app.play_limits_in_force;
create view app.play_limits_in_force with (security_invoker = true) as
select
    l.user_id,
    l.self_excluded_until,
    coalesce(l.self_excluded_until > now(), false) as self_excluded,
    case
        when l.pending_daily_stake_limit_at <= now() then l.pending_daily_stake_limit
        else l.daily_stake_limit
    end as daily_stake_limit,
    case
        when l.pending_daily_stake_limit_at > now() then l.pending_daily_stake_limit
    end as pending_daily_stake_limit,
    case
        when l.pending_daily_stake_limit_at > now() then l.pending_daily_stake_limit_at
    end as pending_daily_stake_limit_at,
    case
        when l.pending_daily_deposit_limit_at <= now() then l.pending_daily_deposit_limit
        else l.daily_deposit_limit
    end as daily_deposit_limit,
    case
        when l.pending_daily_deposit_limit_at > now() then l.pending_daily_deposit_limit
    end as pending_daily_deposit_limit,
    case
        when l.pending_daily_deposit_limit_at > now() then l.pending_daily_deposit_limit_at
    end as pending_daily_deposit_limit_at,
    now() - interval '24 hours' as window_started_at,
    (
        select coalesce(sum(w.stake), 0)::bigint
        from app.wagers as w
        where
            w.user_id = l.user_id
            and w.approval <> 'rejected'
            and w.created_at > now() - interval '24 hours'
    ) + (
        -- house games' bets (rpc/80_house_games.sql) count with wagers
        select coalesce(sum(b.stake), 0)::bigint
        from app.house_bets as b
        where
            b.user_id = l.user_id
            and b.created_at > now() - interval '24 hours'
    ) as stake_used,
    (
        select coalesce(sum(e.amount), 0)::bigint
        from app.ledger_entries as e
        where
            e.user_id = l.user_id
            and e.kind = 'deposit'
            and e.created_at > now() - interval '24 hours'
    ) as deposit_used,
    l.updated_at
from app.play_limits as l;

-- _play_limits_json: one user's limits in force, as the set_* functions return them.
create or replace function app._play_limits_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(f) from app.play_limits_in_force as f where f.user_id = p_user
$$;

-- _require_not_excluded: refuse a user who excluded themselves until a time still to come.
-- Raises: self_excluded.
create or replace function app._require_not_excluded(p_user uuid)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_until timestamptz;
begin
    select l.self_excluded_until into v_until
    from app.play_limits as l
    where l.user_id = p_user and l.self_excluded_until > now();
    if v_until is not null then
        perform app._fail('self_excluded', pg_catalog.jsonb_build_object('until', v_until));
    end if;
end
$$;

-- _require_within_stake_limit: refuse a stake that would take the user's stakes of the last 24
-- hours (pending wagers included) above their daily stake limit; exactly at the limit is allowed.
-- The caller holds the user's wallet lock (a house game's play; a placement sums under it too and
-- refuses by app._funds_refusal, the same rule), which makes the sum and the wager that follows
-- one step for every placement of this user.
-- Raises: daily_stake_limit_reached.
create or replace function app._require_within_stake_limit(p_user uuid, p_stake bigint)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_limit bigint;
    v_used bigint;
begin
    select f.daily_stake_limit, f.stake_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = p_user;
    if v_limit is not null and v_used + p_stake > v_limit then
        perform app._fail('daily_stake_limit_reached', pg_catalog.jsonb_build_object(
            'limit', v_limit, 'used', v_used, 'stake', p_stake));
    end if;
end
$$;

-- _require_deposit_allowed: refuse a deposit by a self-excluded user, or one that would take the
-- user's deposits of the last 24 hours above their daily deposit limit (exactly at it is allowed).
-- The caller holds the user's wallet lock (app._wallet_transfer).
-- Raises: self_excluded, daily_deposit_limit_reached.
create or replace function app._require_deposit_allowed(p_user uuid, p_amount bigint)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_limit bigint;
    v_used bigint;
begin
    perform app._require_not_excluded(p_user);
    select f.daily_deposit_limit, f.deposit_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = p_user;
    if v_limit is not null and v_used + p_amount > v_limit then
        perform app._fail('daily_deposit_limit_reached', pg_catalog.jsonb_build_object(
            'limit', v_limit, 'used', v_used, 'amount', p_amount));
    end if;
end
$$;

-- _lock_play_limits: the caller's limits row, created empty on first use, locked for update.
-- Returns the user id. Raises: not_authenticated, unknown_user.
create or replace function app._lock_play_limits()
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
begin
    if not exists (
        select 1 from auth.users as u where u.id = v_user and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_user));
    end if;
    insert into app.play_limits (user_id) values (v_user)
    on conflict (user_id) do nothing;
    perform 1 from app.play_limits as l where l.user_id = v_user for update;
    return v_user;
end
$$;

-- _log_play_limit_change: one row of the user's history of limit requests.
create or replace function app._log_play_limit_change(
    p_user uuid,
    p_setting text,
    p_previous jsonb,
    p_requested jsonb,
    p_effect text,
    p_applies_at timestamptz
)
returns void
language sql
set search_path = ''
as $$
    insert into app.play_limit_changes (
        user_id, actor, setting, previous_value, requested_value, effect, applies_at
    )
    values (
        p_user, auth.uid(), p_setting, coalesce(p_previous, 'null'), coalesce(p_requested, 'null'),
        p_effect, p_applies_at
    )
$$;

-- _set_daily_limit: set the caller's daily stake or deposit limit (`p_setting` names which) to
-- `p_amount` minor units, null for none. Tighter or equal: in force at once, and any pending
-- loosening is dropped. Looser: pending until now + the cooling-off (the same pending value asked
-- again keeps its time). Logs the request. Returns the limits in force with effect and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function app._set_daily_limit(p_setting text, p_amount bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid;
    v_now app.play_limits_in_force;
    v_current bigint;
    v_pending bigint;
    v_pending_at timestamptz;
    v_cooling_off interval;
    v_effect text;
    v_applies_at timestamptz := now();
begin
    if p_amount < 0 then
        perform app._fail('invalid_amount', pg_catalog.jsonb_build_object('amount', p_amount));
    end if;
    v_user := app._lock_play_limits();
    select * into v_now from app.play_limits_in_force as f where f.user_id = v_user;
    if p_setting = 'daily_stake_limit' then
        v_current := v_now.daily_stake_limit;
        v_pending := v_now.pending_daily_stake_limit;
        v_pending_at := v_now.pending_daily_stake_limit_at;
    else
        v_current := v_now.daily_deposit_limit;
        v_pending := v_now.pending_daily_deposit_limit;
        v_pending_at := v_now.pending_daily_deposit_limit_at;
    end if;
    select c.play_limit_cooling_off into v_cooling_off from app.config as c;

    if v_current is not null and (p_amount is null or p_amount > v_current)
        and v_cooling_off > interval '0' then
        -- loosening: wait for the cooling-off
        if v_pending_at is not null and v_pending is not distinct from p_amount then
            v_effect := 'unchanged';
            v_applies_at := v_pending_at;
        else
            v_effect := 'pending';
            v_applies_at := now() + v_cooling_off;
            v_pending := p_amount;
            v_pending_at := v_applies_at;
        end if;
    else
        -- tightening, or no change: at once, and nothing stays pending
        v_effect := case
            when p_amount is not distinct from v_current and v_pending_at is null then 'unchanged'
            else 'immediate'
        end;
        v_current := p_amount;
        v_pending := null;
        v_pending_at := null;
    end if;

    update app.play_limits as l
    set
        daily_stake_limit = case when p_setting = 'daily_stake_limit'
            then v_current else l.daily_stake_limit end,
        pending_daily_stake_limit = case when p_setting = 'daily_stake_limit'
            then v_pending else l.pending_daily_stake_limit end,
        pending_daily_stake_limit_at = case when p_setting = 'daily_stake_limit'
            then v_pending_at else l.pending_daily_stake_limit_at end,
        daily_deposit_limit = case when p_setting = 'daily_deposit_limit'
            then v_current else l.daily_deposit_limit end,
        pending_daily_deposit_limit = case when p_setting = 'daily_deposit_limit'
            then v_pending else l.pending_daily_deposit_limit end,
        pending_daily_deposit_limit_at = case when p_setting = 'daily_deposit_limit'
            then v_pending_at else l.pending_daily_deposit_limit_at end,
        updated_at = now()
    where l.user_id = v_user;

    perform app._log_play_limit_change(v_user, p_setting,
        to_jsonb(case when p_setting = 'daily_stake_limit'
            then v_now.daily_stake_limit else v_now.daily_deposit_limit end),
        to_jsonb(p_amount), v_effect, v_applies_at);
    return app._play_limits_json(v_user) || pg_catalog.jsonb_build_object(
        'setting', p_setting, 'requested', p_amount, 'effect', v_effect, 'applies_at', v_applies_at);
end
$$;

-- set_daily_stake_limit(amount): the most the caller may stake in any 24 hours, in minor units
-- (0 allows no wager at all; null removes the limit). A lower limit, or one where there was none,
-- applies at once; a higher one, or removing it, applies after the cooling-off (24 hours).
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force (as my_play_limits shows them) with setting, requested, effect
-- ('immediate', 'pending' or 'unchanged') and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function public.set_daily_stake_limit(amount bigint)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._set_daily_limit('daily_stake_limit', set_daily_stake_limit.amount)
$$;
grant execute on function public.set_daily_stake_limit(bigint) to authenticated;

-- set_daily_deposit_limit(amount): the most the caller may deposit in any 24 hours, in minor
-- units (null removes the limit). Tightening at once, loosening after the cooling-off, as
-- set_daily_stake_limit.
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force with setting, requested, effect and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function public.set_daily_deposit_limit(amount bigint)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._set_daily_limit('daily_deposit_limit', set_daily_deposit_limit.amount)
$$;
grant execute on function public.set_daily_deposit_limit(bigint) to authenticated;

-- set_self_exclusion(until): exclude the caller from wagering and depositing until `until`
-- ('infinity' for good). In force at once. It can be extended (a later `until`) but never
-- shortened or lifted before it ends; once it has ended a new one may start. Withdrawals stay open.
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force with setting, requested, effect ('immediate' or 'unchanged') and
-- applies_at.
-- Raises: not_authenticated, unknown_user, invalid_argument (until missing or not in the
-- future), self_exclusion_locked (an earlier end than the current exclusion's).
create or replace function public.set_self_exclusion(until timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid;
    v_current timestamptz;
    v_effect text;
begin
    if set_self_exclusion.until is null or set_self_exclusion.until <= now() then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'until', 'reason', 'must be a time in the future',
            'until', set_self_exclusion.until));
    end if;
    v_user := app._lock_play_limits();
    select l.self_excluded_until into v_current
    from app.play_limits as l
    where l.user_id = v_user and l.self_excluded_until > now();
    if set_self_exclusion.until < v_current then
        perform app._fail('self_exclusion_locked', pg_catalog.jsonb_build_object(
            'until', v_current, 'requested', set_self_exclusion.until));
    end if;
    v_effect := case when set_self_exclusion.until = v_current then 'unchanged' else 'immediate' end;

    update app.play_limits as l
    set self_excluded_until = set_self_exclusion.until, updated_at = now()
    where l.user_id = v_user;
    perform app._log_play_limit_change(v_user, 'self_excluded_until', to_jsonb(v_current),
        to_jsonb(set_self_exclusion.until), v_effect, now());
    return app._play_limits_json(v_user) || pg_catalog.jsonb_build_object(
        'setting', 'self_excluded_until', 'requested', set_self_exclusion.until,
        'effect', v_effect, 'applies_at', now());
end
$$;
grant execute on function public.set_self_exclusion(timestamptz) to authenticated;

-- The read side. play_limits: a bettor sees their own row, an admin every row (RLS on
-- app.play_limits); my_play_limits: the caller's own. A user who never set a limit has no row.
-- pending_*_at is the moment a pending loosening applies (null when none is pending); a pending
-- value of null with a time means the limit goes away then.
create view public.play_limits with (security_invoker = true) as
select
    f.user_id,
    f.self_excluded,
    f.self_excluded_until,
    f.daily_stake_limit,
    f.pending_daily_stake_limit,
    f.pending_daily_stake_limit_at,
    f.daily_deposit_limit,
    f.pending_daily_deposit_limit,
    f.pending_daily_deposit_limit_at,
    f.window_started_at,
    f.stake_used,
    f.deposit_used,
    f.updated_at
from app.play_limits_in_force as f;

create view public.my_play_limits with (security_invoker = true) as
select p.*
from public.play_limits as p
where p.user_id = (select auth.uid());

-- Every request to change a limit: a bettor sees their own, an admin every one.
create view public.play_limit_changes with (security_invoker = true) as
select
    c.id,
    c.user_id,
    c.actor,
    c.setting,
    c.previous_value,
    c.requested_value,
    c.effect,
    c.applies_at,
    c.created_at
from app.play_limit_changes as c;

grant select on public.play_limits, public.my_play_limits, public.play_limit_changes
to authenticated, service_role;
