-- The side effects of house bets (migrations/0029_house_effects.sql; docs/side-effects.md, "House
-- bets"): XP and levels, rakeback, the live-bets feed and the volume per game, as jobs of the
-- outbox of rpc/70_side_effects.sql keyed per user. A trigger on app.house_bets enqueues, in the
-- transaction that settles the bets; app._run_side_effect hands a user's job to
-- app._run_house_effect, which consumes the user's pending rows of its handler and applies them
-- in the same transaction, so each bet counts once.

-- The parts of a minor unit app.rakeback counts in: 37 * 10^8 (see the migration).
create or replace function app._rakeback_parts_per_unit()
returns numeric
language sql immutable
set search_path = ''
as $$
    select 3700000000::numeric
$$;

-- _rakeback_parts: what bet `p_bet` accrues, in parts (37 * 10^8 a minor unit): stake x the edge
-- it was played at x rakeback_bps / 10000. A game with a house_edge_bps setting (dice, limbo,
-- mines) uses the bet's edge (edge_bps / 10000); roulette, which has none, its single zero's edge
-- of 1/37 (an RTP of 36/37); plinko and keno, whose payouts come from tables, a nominal edge of
-- 1% (100 bps): plinko's every table pays exactly 99%, keno's 98.65% to 99.07% (docs/side-effects.md,
-- "House bets", says why one nominal edge). Exact: stake * edge_bps * 37 * rate_bps, or
-- stake * 10^4 * rate_bps for roulette.
-- Raises: invalid_argument for a game with none of these (a new game must say what its edge is).
create or replace function app._rakeback_parts(p_bet app.house_bets, p_rate_bps integer)
returns numeric
language plpgsql immutable
set search_path = ''
as $$
begin
    if p_bet.house_edge_bps is not null then
        return p_bet.stake::numeric * p_bet.house_edge_bps * 37 * p_rate_bps;
    elsif p_bet.game = 'roulette' then
        return p_bet.stake::numeric * 10000 * p_rate_bps;
    elsif p_bet.game in ('plinko', 'keno') then
        return p_bet.stake::numeric * 100 * 37 * p_rate_bps;
    end if;
    perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
        'argument', 'game', 'game', p_bet.game, 'reason', 'no house edge for rakeback'));
end
$$;

-- _house_handlers: the handlers every settled house bet goes to, in the order BetService runs
-- them (XP before rakeback, then the affiliate commission; the feed and the game's volume after).
-- house_affiliate only takes the bets of a player who has a referrer (_enqueue_house_effects).
create or replace function app._house_handlers()
returns text[]
language sql immutable
set search_path = ''
as $$
    select array['house_xp', 'house_rakeback', 'house_affiliate', 'house_feed', 'house_game_stats']
$$;

-- _enqueue_house_effects: for the bets `p_bet_ids` just settled, one pending row per (house
-- handler, bet) and one job per (house handler, user). A round refunded unplayed (mines settled
-- by an admin or the idle expiry before any cell: result.refunded) is no bet: nothing was at
-- risk, so it earns no XP or rakeback and is not in the feed or the volume. A bet of a player
-- without a referrer (app.referrals, rpc/84_ggr_and_affiliates.sql) does not go to
-- house_affiliate. Callers: the trigger below, in the transaction that settled the bets.
create or replace function app._enqueue_house_effects(p_bet_ids text[])
returns void
language sql
set search_path = ''
as $$
    insert into app.house_effects_pending (handler, bet_id, user_id)
    select h.handler, b.id, b.user_id
    from app.house_bets as b
    cross join unnest(app._house_handlers()) as h (handler)
    where b.id = any(p_bet_ids) and b.result ->> 'refunded' is distinct from 'true'
        and (h.handler <> 'house_affiliate'
            or exists (select 1 from app.referrals as r where r.user_id = b.user_id))
    order by h.handler, b.id
    on conflict (handler, bet_id) do nothing;
    insert into app.side_effect_jobs (handler, user_id, event)
    select distinct h.handler, b.user_id, 'settled'
    from app.house_bets as b
    cross join unnest(app._house_handlers()) as h (handler)
    where b.id = any(p_bet_ids) and b.result ->> 'refunded' is distinct from 'true'
        and (h.handler <> 'house_affiliate'
            or exists (select 1 from app.referrals as r where r.user_id = b.user_id))
$$;

-- _house_bets_settled: the statement-level trigger of app.house_bets: the bets the statement
-- inserted settled, or moved to settled, go to _enqueue_house_effects (one call per statement, so
-- a batch of auto-bets is enqueued set-based).
create or replace function app._house_bets_settled()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        perform app._enqueue_house_effects(array(
            select n.id from new_bets as n where n.status = 'settled'));
    else
        perform app._enqueue_house_effects(array(
            select n.id from new_bets as n
            inner join old_bets as o on n.id = o.id
            where n.status = 'settled' and o.status is distinct from 'settled'));
    end if;
    return null;
end
$$;

drop trigger if exists house_bets_settled_insert on app.house_bets;
create trigger house_bets_settled_insert
after insert on app.house_bets
referencing new table as new_bets
for each statement execute function app._house_bets_settled();

drop trigger if exists house_bets_settled_update on app.house_bets;
create trigger house_bets_settled_update
after update on app.house_bets
referencing old table as old_bets new table as new_bets
for each statement execute function app._house_bets_settled();

-- _run_house_effect: run house job `p_job`: take (delete) its user's pending rows of its handler
-- and apply those bets, in the job's transaction: a row is counted by the job that deletes it,
-- and a second job, or the same job again, finds nothing (a concurrent one waits for the rows,
-- then skips them). Returns how many bets it counted.
-- Callers: app._run_side_effect. Changes: app.house_effects_pending, app.player_xp,
-- app.rakeback, app.affiliate_commission, app.live_bets or app.house_game_stats.
-- Raises: what its statements raise (lock_not_available past the lock timeout).
create or replace function app._run_house_effect(p_job app.side_effect_jobs)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_config app.config;
    v_bets app.house_bets[];
begin
    select * into v_config from app.config;
    with taken as (
        delete from app.house_effects_pending as p
        where p.handler = p_job.handler and p.user_id = p_job.user_id
        returning p.bet_id
    )
    select coalesce(array_agg(b order by b.id), '{}') into v_bets
    from app.house_bets as b
    where b.id in (select t.bet_id from taken as t);
    if cardinality(v_bets) = 0 then
        return 0;
    end if;
    case p_job.handler
        when 'house_xp' then
            insert into app.player_xp as x (user_id, player, xp, bets)
            select p_job.user_id, app._player_name(p_job.user_id),
                sum(b.stake::numeric * v_config.xp_per_major_unit / 100), count(*)
            from unnest(v_bets) as b
            on conflict (user_id) do update
            set xp = x.xp + excluded.xp, bets = x.bets + excluded.bets, player = excluded.player,
                updated_at = now();
        when 'house_rakeback' then
            insert into app.rakeback as r (user_id, accrued_parts, bets)
            select p_job.user_id, sum(app._rakeback_parts(b, v_config.rakeback_bps)), count(*)
            from unnest(v_bets) as b
            on conflict (user_id) do update
            set accrued_parts = r.accrued_parts + excluded.accrued_parts,
                bets = r.bets + excluded.bets, updated_at = now();
        when 'house_affiliate' then
            perform app._affiliate_accrue(p_job.user_id, v_bets);
        when 'house_feed' then
            insert into app.live_bets (
                bet_id, game, player, stake, multiplier, payout, settled_at
            )
            select
                b.id, b.game, app._player_name(b.user_id), b.stake, b.multiplier, b.payout,
                b.settled_at
            from unnest(v_bets) as b
            on conflict (bet_id) do nothing;
            -- keep the newest live_bets_kept
            delete from app.live_bets as l
            where (l.settled_at, l.bet_id) < (
                select k.settled_at, k.bet_id from app.live_bets as k
                order by k.settled_at desc, k.bet_id desc
                offset v_config.live_bets_kept - 1 limit 1
            );
        when 'house_game_stats' then
            -- the games' rows in key order, so two jobs never deadlock
            insert into app.house_game_stats as g (game)
            select distinct b.game from unnest(v_bets) as b order by b.game
            on conflict (game) do nothing;
            perform 1
            from app.house_game_stats as g
            where g.game in (select b.game from unnest(v_bets) as b)
            order by g.game
            for update;
            update app.house_game_stats as g
            set bets = g.bets + d.bets, wins = g.wins + d.wins, staked = g.staked + d.staked,
                paid = g.paid + d.paid, updated_at = now()
            from (
                select
                    b.game,
                    count(*) as bets,
                    count(*) filter (where b.payout > 0) as wins,
                    sum(b.stake) as staked,
                    sum(b.payout) as paid
                from unnest(v_bets) as b
                group by b.game
            ) as d
            where g.game = d.game;
    end case;
    return cardinality(v_bets);
end
$$;

-- _level_of: the level XP `p_xp` reaches, with its threshold and the next level's (null at the
-- top).
create or replace function app._level_of(p_xp bigint)
returns table (level integer, level_min_xp bigint, next_level_xp bigint)
language sql stable
set search_path = ''
as $$
    select
        l.level,
        l.min_xp,
        (select min(n.min_xp) from app.levels as n where n.min_xp > l.min_xp)
    from app.levels as l
    where l.min_xp <= p_xp
    order by l.min_xp desc
    limit 1
$$;

-- get_level(): the caller's XP, level, and rakeback.
-- Callers: authenticated. Changes: nothing. Returns {xp, bets, level, level_min_xp,
-- next_level_xp, rakeback_accrued (minor units, floored), rakeback_paid, rakeback_claimable}.
-- Raises: not_authenticated.
create or replace function public.get_level()
returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_xp bigint := coalesce(
        (select floor(x.xp)::bigint from app.player_xp as x where x.user_id = v_user), 0);
    v_rakeback app.rakeback;
    v_accrued bigint;
begin
    select * into v_rakeback from app.rakeback as r where r.user_id = v_user;
    v_accrued := coalesce(floor(v_rakeback.accrued_parts / app._rakeback_parts_per_unit()), 0);
    return (
        select pg_catalog.jsonb_build_object(
            'xp', v_xp,
            'bets', coalesce((select x.bets from app.player_xp as x where x.user_id = v_user), 0),
            'level', l.level, 'level_min_xp', l.level_min_xp, 'next_level_xp', l.next_level_xp,
            'rakeback_accrued', v_accrued,
            'rakeback_paid', coalesce(v_rakeback.paid, 0),
            'rakeback_claimable', v_accrued - coalesce(v_rakeback.paid, 0))
        from app._level_of(v_xp) as l
    );
end
$$;
grant execute on function public.get_level() to authenticated;

-- _pay_claim: pay `p_amount` minor units from the house to wallet `p_wallet` of user `p_user`, in
-- one balanced ledger transaction of kind `p_kind` (memo {p_kind: amount}); nothing for 0. The
-- caller has claimed its idempotency key and locked the row it pays from. Callers:
-- claim_rakeback, claim_affiliate_commission (rpc/84_ggr_and_affiliates.sql). Changes: the
-- wallet and the house account; notifies balance. Returns {paid, transaction_id (null for 0),
-- balance, balance_version}.
create or replace function app._pay_claim(
    p_user uuid, p_wallet bigint, p_kind text, p_amount bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_tx bigint;
begin
    if p_amount > 0 then
        v_tx := app._post_transaction(p_kind, array[app._system_account('house'), p_wallet],
            array[-p_amount, p_amount],
            p_memo => pg_catalog.jsonb_build_object(p_kind, p_amount), p_actor => p_user);
    end if;
    return (
        select pg_catalog.jsonb_build_object(
            'paid', p_amount, 'transaction_id', v_tx, 'balance', a.balance,
            'balance_version', a.version)
        from app.accounts as a
        where a.id = p_wallet);
end
$$;

-- claim_rakeback(idempotency_key): pay the caller's claimable rakeback (everything accrued, in
-- whole minor units, not yet paid) from the house to their wallet, in one 'rakeback' ledger
-- transaction (app._pay_claim). The key is claimed first (a replay returns the first answer); the
-- rakeback row is locked, so two claims at once pay once: the second finds nothing left and pays
-- 0 (no ledger transaction). Callers: authenticated. Changes: app.rakeback.paid, the wallet and
-- the house account (a ledger transaction; may create the wallet); notifies balance.
-- Returns {paid, rakeback_paid, transaction_id, balance, balance_version}.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict.
create or replace function public.claim_rakeback(idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_rakeback app.rakeback;
    v_amount bigint := 0;
    v_wallet bigint;
    v_paid jsonb;
begin
    v_replay := app._idempotency_begin(v_user, claim_rakeback.idempotency_key, 'claim_rakeback',
        '{}'::jsonb);
    if v_replay is not null then
        return v_replay;
    end if;
    v_wallet := app._ensure_wallet(v_user);
    select * into v_rakeback from app.rakeback as r where r.user_id = v_user for update;
    if found then
        v_amount := floor(v_rakeback.accrued_parts / app._rakeback_parts_per_unit())::bigint
            - v_rakeback.paid;
    end if;
    v_paid := app._pay_claim(v_user, v_wallet, 'rakeback', v_amount);
    if v_amount > 0 then
        update app.rakeback as r
        set paid = r.paid + v_amount, updated_at = now()
        where r.user_id = v_user
        returning * into v_rakeback;
    end if;
    return app._idempotency_finish(v_user, claim_rakeback.idempotency_key, v_paid
        || pg_catalog.jsonb_build_object('rakeback_paid', coalesce(v_rakeback.paid, 0)));
end
$$;
grant execute on function public.claim_rakeback(text) to authenticated;

-- The read side (policies/75_house_effects.sql decides who reads what).
drop view if exists public.xp_leaderboard;
drop view if exists public.live_bets;
drop view if exists public.house_game_volume;
drop view if exists public.levels;

-- Anyone: the levels and their XP thresholds.
create view public.levels with (security_invoker = true) as
select
    l.level,
    l.min_xp
from app.levels as l
order by l.level;

-- Anyone: players ranked by XP (floored), by public name, with their level.
create view public.xp_leaderboard with (security_invoker = true) as
select
    rank() over (order by floor(x.xp) desc) as rank,
    x.player,
    floor(x.xp)::bigint as xp,
    (
        select max(l.level) from app.levels as l
        where l.min_xp <= floor(x.xp)
    ) as level,
    x.bets
from app.player_xp as x
where x.bets > 0;

-- Anyone: the newest settled house bets, newest first, by public name (never an email or a user
-- id): the live-bets feed.
create view public.live_bets with (security_invoker = true) as
select
    l.bet_id,
    l.game,
    l.player,
    l.stake,
    l.multiplier,
    l.payout,
    l.payout - l.stake as profit,
    l.settled_at
from app.live_bets as l
order by l.settled_at desc, l.bet_id desc;

-- Anyone: each game's volume: settled bets, wins and what they staked. What the house won on a
-- game (paid, GGR) is the admins' (house_game_results).
create view public.house_game_volume with (security_invoker = true) as
select
    g.game,
    coalesce(s.bets, 0) as bets,
    coalesce(s.wins, 0) as wins,
    coalesce(s.staked, 0) as staked
from app.house_games as g
left join app.house_game_stats as s on g.game = s.game;

grant select on public.levels, public.xp_leaderboard, public.live_bets, public.house_game_volume
to anon, authenticated, service_role;
