-- House games' rules (migrations 0021 and 0026; docs/house-games.md): what a bet of each one-shot
-- game pays if it wins, decided from the player's choices before anything is drawn
-- (_house_terms), what it draws from its round (_house_draw, with the RNG of
-- rpc/78_house_fairness.sql) and what it pays (_house_outcome): dice, limbo, roulette (single
-- zero), plinko and keno, with their tables. Pure functions: nothing here reads or writes a table.

-- The games ------------------------------------------------------------------------------------

-- _roulette_color: 'red', 'black' or 'green' (0): the wheel of the virtual roulette
-- (app._draw_position, rpc/75_virtual.sql).
create or replace function app._roulette_color(p_pocket integer)
returns text
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case app._draw_position('roulette', '{}', p_pocket)
        when 1 then 'red' when 2 then 'black' else 'green'
    end
$$;

-- _roulette_multiplier: what roulette bet `p_bet` pays per unit staked when it wins (the stake
-- included): a pocket '0'..'36' 36, a dozen or column 3, red, black, odd, even, low, high 2; null
-- for anything else.
create or replace function app._roulette_multiplier(p_bet text)
returns integer
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case
        when p_bet ~ '^(0|[1-9]|[12][0-9]|3[0-6])$' then 36
        when p_bet in ('dozen1', 'dozen2', 'dozen3', 'column1', 'column2', 'column3') then 3
        when p_bet in ('red', 'black', 'odd', 'even', 'low', 'high') then 2
    end
$$;

-- _roulette_wins: whether bet `p_bet` wins on pocket `p_pocket`. 0 wins only a bet on 0 itself:
-- it is neither red nor black, odd nor even, low nor high, and in no dozen or column.
--   low 1-18, high 19-36; dozenK 12K-11 .. 12K; columnK the pockets p with p % 3 = K % 3
create or replace function app._roulette_wins(p_bet text, p_pocket integer)
returns boolean
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case
        when p_bet ~ '^[0-9]+$' then p_bet::integer = p_pocket
        when p_pocket = 0 then false
        when p_bet in ('red', 'black') then app._roulette_color(p_pocket) = p_bet
        when p_bet = 'odd' then p_pocket % 2 = 1
        when p_bet = 'even' then p_pocket % 2 = 0
        when p_bet = 'low' then p_pocket <= 18
        when p_bet = 'high' then p_pocket >= 19
        when p_bet like 'dozen_' then (p_pocket - 1) / 12 + 1 = right(p_bet, 1)::integer
        when p_bet like 'column_' then p_pocket % 3 = right(p_bet, 1)::integer % 3
        else false
    end
$$;

-- _limbo_top: the highest crash point limbo can draw at edge `p_edge_bps`, in hundredths (n = 1):
-- floor(2^32 * (10000 - edge) / 100).
create or replace function app._limbo_top(p_edge_bps integer)
returns bigint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select div(4294967296::numeric * (10000 - p_edge_bps), 100)::bigint
$$;

-- _plinko_multipliers: plinko's table for `p_rows` rows (8 to 16) at risk `p_risk` ('low',
-- 'medium', 'high'): what bucket k (0 to rows, the count of rights) pays per unit staked, in
-- hundredths, buckets 0 .. rows in order; null for other rows or risks. Stake's well-known tables,
-- each with its two outermost buckets moved by the few hundredths that make its RTP exactly 99%:
-- sum over k of C(rows, k) * hundredths_k = 99 * 2^rows (docs/house-games.md; the tests prove it).
create or replace function app._plinko_multipliers(p_rows integer, p_risk text)
returns integer[]
language sql immutable strict parallel safe
set search_path = ''
as $$
    select t.hundredths::integer[]
    from (values
        (8, 'low', '{562, 210, 110, 100, 50, 100, 110, 210, 562}'),
        (8, 'medium', '{1312, 300, 130, 70, 40, 70, 130, 300, 1312}'),
        (8, 'high', '{2892, 400, 150, 30, 20, 30, 150, 400, 2892}'),
        (9, 'low', '{564, 200, 160, 100, 70, 70, 100, 160, 200, 564}'),
        (9, 'medium', '{1764, 400, 170, 90, 50, 50, 90, 170, 400, 1764}'),
        (9, 'high', '{4284, 700, 200, 60, 20, 20, 60, 200, 700, 4284}'),
        (10, 'low', '{888, 300, 140, 110, 100, 50, 100, 110, 140, 300, 888}'),
        (10, 'medium', '{2248, 500, 200, 140, 60, 40, 60, 140, 200, 500, 2248}'),
        (10, 'high', '{7568, 1000, 300, 90, 30, 20, 30, 90, 300, 1000, 7568}'),
        (11, 'low', '{836, 300, 190, 130, 100, 70, 70, 100, 130, 190, 300, 836}'),
        (11, 'medium', '{2376, 600, 300, 180, 70, 50, 50, 70, 180, 300, 600, 2376}'),
        (11, 'high', '{11836, 1400, 520, 140, 40, 20, 20, 40, 140, 520, 1400, 11836}'),
        (12, 'low', '{1042, 300, 160, 140, 110, 100, 50, 100, 110, 140, 160, 300, 1042}'),
        (12, 'medium', '{3322, 1100, 400, 200, 110, 60, 30, 60, 110, 200, 400, 1100, 3322}'),
        (12, 'high', '{16762, 2400, 810, 200, 70, 20, 20, 20, 70, 200, 810, 2400, 16762}'),
        (13, 'low', '{814, 400, 300, 190, 120, 90, 70, 70, 90, 120, 190, 300, 400, 814}'),
        (13, 'medium', '{4324, 1300, 600, 300, 130, 70, 40, 40, 70, 130, 300, 600, 1300, 4324}'),
        (13, 'high', '{25644, 3700, 1100, 400, 100, 20, 20, 20, 20, 100, 400, 1100, 3700, 25644}'),
        (14, 'low', '{708, 400, 190, 140, 130, 110, 100, 50, 100, 110, 130, 140, 190, 400, 708}'),
        (14, 'medium', '{5848, 1500, 700, 400, 190, 100, 50, 20, 50, 100, 190, 400, 700, 1500, 5848}'),
        (14, 'high', '{42178, 5600, 1800, 500, 190, 30, 20, 20, 20, 30, 190, 500, 1800, 5600, 42178}'),
        (15, 'low', '{1486, 800, 300, 200, 150, 110, 100, 70, 70, 100, 110, 150, 200, 300, 800, 1486}'),
        (15, 'medium', '{8826, 1800, 1100, 500, 300, 130, 50, 30, 30, 50, 130, 300, 500, 1100, 1800, 8826}'),
        (15, 'high', '{61566, 8300, 2700, 800, 300, 50, 20, 20, 20, 20, 50, 300, 800, 2700, 8300, 61566}'),
        (16, 'low', '{1642, 900, 200, 140, 140, 120, 110, 100, 50, 100, 110, 120, 140, 140, 200, 900, 1642}'),
        (16, 'medium', '{11382, 4100, 1000, 500, 300, 150, 100, 50, 30, 50, 100, 150, 300, 500, 1000, 4100, 11382}'),
        (16, 'high', '{100772, 13000, 2600, 900, 400, 200, 20, 20, 20, 20, 20, 200, 400, 900, 2600, 13000, 100772}')
    ) as t (row_count, risk, hundredths)
    where t.row_count = p_rows and t.risk = p_risk
$$;

-- _keno_multipliers: keno's table for `p_picks` picks (1 to 10) at risk `p_risk` ('classic',
-- 'low', 'medium', 'high'): what h hits (0 to picks) pay per unit staked, in hundredths, in order
-- of h; null for other picks or risks. Stake's well-known tables as published; each table's RTP,
-- exact from the hypergeometric distribution, is in docs/house-games.md (98.65% to 99.07%).
create or replace function app._keno_multipliers(p_picks integer, p_risk text)
returns integer[]
language sql immutable strict parallel safe
set search_path = ''
as $$
    select t.hundredths::integer[]
    from (values
        (1, 'classic', '{0, 396}'),
        (2, 'classic', '{0, 190, 450}'),
        (3, 'classic', '{0, 100, 310, 1040}'),
        (4, 'classic', '{0, 80, 180, 500, 2250}'),
        (5, 'classic', '{0, 25, 140, 410, 1650, 3600}'),
        (6, 'classic', '{0, 0, 100, 368, 700, 1650, 4000}'),
        (7, 'classic', '{0, 0, 47, 300, 450, 1400, 3100, 6000}'),
        (8, 'classic', '{0, 0, 0, 220, 400, 1300, 2200, 5500, 7000}'),
        (9, 'classic', '{0, 0, 0, 155, 300, 800, 1500, 4400, 6000, 8500}'),
        (10, 'classic', '{0, 0, 0, 140, 225, 450, 800, 1700, 5000, 8000, 10000}'),
        (1, 'low', '{70, 185}'),
        (2, 'low', '{0, 200, 380}'),
        (3, 'low', '{0, 110, 138, 2600}'),
        (4, 'low', '{0, 0, 220, 790, 9000}'),
        (5, 'low', '{0, 0, 150, 420, 1300, 30000}'),
        (6, 'low', '{0, 0, 110, 200, 620, 10000, 70000}'),
        (7, 'low', '{0, 0, 110, 160, 350, 1500, 22500, 70000}'),
        (8, 'low', '{0, 0, 110, 150, 200, 550, 3900, 10000, 80000}'),
        (9, 'low', '{0, 0, 110, 130, 170, 250, 750, 5000, 25000, 100000}'),
        (10, 'low', '{0, 0, 110, 120, 130, 180, 350, 1300, 5000, 25000, 100000}'),
        (1, 'medium', '{40, 275}'),
        (2, 'medium', '{0, 180, 510}'),
        (3, 'medium', '{0, 0, 280, 5000}'),
        (4, 'medium', '{0, 0, 170, 1000, 10000}'),
        (5, 'medium', '{0, 0, 140, 400, 1400, 39000}'),
        (6, 'medium', '{0, 0, 0, 300, 900, 18000, 71000}'),
        (7, 'medium', '{0, 0, 0, 200, 700, 3000, 40000, 80000}'),
        (8, 'medium', '{0, 0, 0, 200, 400, 1100, 6700, 40000, 90000}'),
        (9, 'medium', '{0, 0, 0, 200, 250, 500, 1500, 10000, 50000, 100000}'),
        (10, 'medium', '{0, 0, 0, 160, 200, 400, 700, 2600, 10000, 50000, 100000}'),
        (1, 'high', '{0, 396}'),
        (2, 'high', '{0, 0, 1710}'),
        (3, 'high', '{0, 0, 0, 8150}'),
        (4, 'high', '{0, 0, 0, 1000, 25900}'),
        (5, 'high', '{0, 0, 0, 450, 4800, 45000}'),
        (6, 'high', '{0, 0, 0, 0, 1100, 35000, 71000}'),
        (7, 'high', '{0, 0, 0, 0, 700, 9000, 40000, 80000}'),
        (8, 'high', '{0, 0, 0, 0, 500, 2000, 27000, 60000, 90000}'),
        (9, 'high', '{0, 0, 0, 0, 400, 1100, 5600, 50000, 80000, 100000}'),
        (10, 'high', '{0, 0, 0, 0, 350, 800, 1300, 6300, 50000, 80000, 100000}')
    ) as t (picks, risk, hundredths)
    where t.picks = p_picks and t.risk = p_risk
$$;

-- _house_terms: what a bet pays if it wins, decided before anything is drawn, from the player's
-- choices `p_params`, the game's edge `p_edge_bps` and the stake (a valid one: _stake_refusal):
--   dice     {target, over}: target in hundredths; over wins on a roll above it (target 0 to
--            9998), under on a roll below it (1 to 9999). chance (in hundredths of a percent) =
--            9999 - target over, target under; multiplier (10000 - edge) / chance;
--            win_payout floor(stake * (10000 - edge) / chance)
--   limbo    {target}: the target multiplier in hundredths, 101 to _limbo_top(edge) (above it no
--            crash point reaches: a win would be impossible); multiplier target / 100;
--            win_payout floor(stake * target / 100)
--   roulette {bet}: _roulette_multiplier; win_payout stake * multiplier
--   plinko   {rows, risk}: rows 8 to 16, risk low, medium or high (_plinko_multipliers); the
--            draw decides the bucket, so multiplier is the table's highest and win_payout
--            floor(stake * it): the best the bet can pay
--   keno     {picks, risk}: 1 to 10 distinct tiles from 1 to 40 (stored in ascending order),
--            risk classic, low, medium or high (_keno_multipliers); multiplier the row's highest
--            (all picks hit), win_payout floor(stake * it)
-- Returns {params (as stored), multiplier (dice: rounded to 4 decimals, for display), win_payout
-- (exact, numeric: it is checked against max profit before anything is cast), and for dice
-- chance}.
-- Raises: invalid_argument.
create or replace function app._house_terms(
    p_game text,
    p_params jsonb,
    p_edge_bps integer,
    p_stake bigint
)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
    v_target bigint;
    v_over boolean;
    v_chance bigint;
    v_bet text;
    v_multiplier integer;
    v_risk text := lower(btrim(p_params ->> 'risk'));
    v_picks integer[];
    v_table integer[];
begin
    if p_game = 'dice' then
        v_target := (p_params ->> 'target')::bigint;
        v_over := (p_params ->> 'over')::boolean;
        if v_over is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'over', 'reason', 'true (a roll above target wins) or false (below)'));
        end if;
        if v_target is null
            or (v_over and v_target not between 0 and 9998)
            or (not v_over and v_target not between 1 and 9999) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'target', 'value', v_target, 'over', v_over,
                'reason', 'hundredths: over 0 to 9998, under 1 to 9999 (a win must be possible)'));
        end if;
        v_chance := case when v_over then 9999 - v_target else v_target end;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('target', v_target, 'over', v_over),
            'chance', v_chance,
            'multiplier', round((10000 - p_edge_bps)::numeric / v_chance, 4),
            'win_payout', div(p_stake::numeric * (10000 - p_edge_bps), v_chance));
    elsif p_game = 'limbo' then
        v_target := (p_params ->> 'target')::bigint;
        if v_target is null or v_target not between 101 and app._limbo_top(p_edge_bps) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'target_multiplier', 'value', v_target,
                'reason', 'hundredths, from 101 (1.01x) to the highest crash point',
                'maximum', app._limbo_top(p_edge_bps)));
        end if;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('target', v_target),
            'multiplier', round(v_target / 100.0, 2),
            'win_payout', div(p_stake::numeric * v_target, 100));
    elsif p_game = 'roulette' then
        v_bet := lower(btrim(p_params ->> 'bet'));
        v_multiplier := app._roulette_multiplier(v_bet);
        if v_multiplier is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'bet', 'value', p_params -> 'bet',
                'reason', 'a pocket 0 to 36, red, black, odd, even, low, high, dozen1 to dozen3 or '
                || 'column1 to column3'));
        end if;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('bet', v_bet),
            'multiplier', v_multiplier,
            'win_payout', p_stake::numeric * v_multiplier);
    elsif p_game = 'plinko' then
        v_target := (p_params ->> 'rows')::bigint;
        if v_target is null or v_target not between 8 and 16 then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'rows', 'value', v_target, 'reason', 'a whole number from 8 to 16'));
        end if;
        v_table := app._plinko_multipliers(v_target::integer, v_risk);
    elsif p_game = 'keno' then
        select case when count(distinct t.tile) = count(*) and bool_and(t.tile between 1 and 40)
            then array_agg(t.tile order by t.tile) end
        into v_picks
        from (
            select case when e.value::text ~ '^[0-9]{1,2}$' then e.value::text::integer end as tile
            from pg_catalog.jsonb_array_elements(
                case when pg_catalog.jsonb_typeof(p_params -> 'picks') = 'array'
                    and pg_catalog.jsonb_array_length(p_params -> 'picks') <= 10
                    then p_params -> 'picks' else '[]' end) as e
        ) as t;
        if coalesce(cardinality(v_picks), 0) not between 1 and 10 then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'picks', 'value', p_params -> 'picks',
                'reason', '1 to 10 distinct tiles, each from 1 to 40'));
        end if;
        v_table := app._keno_multipliers(cardinality(v_picks), v_risk);
    end if;
    if p_game in ('plinko', 'keno') then
        if v_table is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'risk', 'value', p_params -> 'risk',
                'reason', case when p_game = 'plinko' then 'low, medium or high'
                    else 'classic, low, medium or high' end));
        end if;
        v_multiplier := (select max(m) from unnest(v_table) as m);
        return pg_catalog.jsonb_build_object(
            'params', case when p_game = 'plinko'
                then pg_catalog.jsonb_build_object('rows', v_target, 'risk', v_risk)
                else pg_catalog.jsonb_build_object('picks', v_picks, 'risk', v_risk) end,
            'multiplier', round(v_multiplier / 100.0, 2),
            'win_payout', div(p_stake::numeric * v_multiplier, 100));
    end if;
    perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
        'argument', 'game', 'value', p_game,
        'reason', 'dice, limbo, roulette, plinko or keno'));
    return null;
end
$$;

-- _house_draw: what a bet (its `p_params` as _house_terms stores them) draws from its round,
-- sample 0:
--   dice     {roll}: rng(10000), the roll in hundredths (0.00 to 99.99); won: over ? roll >
--            target : roll < target
--   limbo    {crash}: n = rng(2^32) + 1 (1 to 2^32); crash = max(100, floor(2^32 * (10000 -
--            edge) / (100 * n))) in hundredths; won: crash >= target
--   roulette {pocket, color}: rng(37), the single-zero wheel; won: _roulette_wins
--   plinko   {path, bucket}: samples 0 .. rows - 1, each rng(2) (0 left, 1 right), the path in
--            that order; the bucket is the count of rights (0 to rows)
--   keno     {drawn, hits}: the 10 tiles of _house_shuffle(40, 10) (samples 0 .. 9 with limits
--            40, 39, ..., 31), in the order drawn; hits, how many of the picks were drawn
-- Returns {result, won}; for plinko and keno, whose draw decides what the bet pays, also
-- {multiplier}: the table's for the bucket or the hits (exact, hundredths), and won is then
-- whether it pays more than the stake (multiplier > 1). Used by the plays and by the tests, which
-- redo it in Python.
create or replace function app._house_draw(
    p_game text,
    p_params jsonb,
    p_edge_bps integer,
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_number bigint;
    v_crash bigint;
    v_path integer[];
    v_drawn integer[];
    v_hundredths integer;
begin
    if p_game in ('plinko', 'keno') then
        if p_game = 'plinko' then
            v_path := app._house_samples(p_server_seed, p_client_seed, p_nonce, array_fill(
                2::bigint, array[(p_params ->> 'rows')::integer]))::integer[];
            v_number := (select sum(d) from unnest(v_path) as d);
            v_hundredths := (app._plinko_multipliers(
                (p_params ->> 'rows')::integer, p_params ->> 'risk'))[v_number + 1];
        else
            v_drawn := app._house_shuffle(p_server_seed, p_client_seed, p_nonce, 40, 10);
            v_number := (
                select count(*) from pg_catalog.jsonb_array_elements(p_params -> 'picks') as e
                where (e.value #>> '{}')::integer = any(v_drawn));
            v_hundredths := (app._keno_multipliers(
                pg_catalog.jsonb_array_length(p_params -> 'picks'),
                p_params ->> 'risk'))[v_number + 1];
        end if;
        return pg_catalog.jsonb_build_object(
            'result', case when p_game = 'plinko'
                then pg_catalog.jsonb_build_object('path', v_path, 'bucket', v_number)
                else pg_catalog.jsonb_build_object('drawn', v_drawn, 'hits', v_number) end,
            'multiplier', round(v_hundredths / 100.0, 2),
            'won', v_hundredths > 100);
    elsif p_game = 'dice' then
        v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 10000);
        return pg_catalog.jsonb_build_object(
            'result', pg_catalog.jsonb_build_object('roll', v_number),
            'won', case when (p_params ->> 'over')::boolean
                then v_number > (p_params ->> 'target')::bigint
                else v_number < (p_params ->> 'target')::bigint end);
    elsif p_game = 'limbo' then
        v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 4294967296) + 1;
        v_crash := greatest(100,
            div(4294967296::numeric * (10000 - p_edge_bps), 100 * v_number)::bigint);
        return pg_catalog.jsonb_build_object(
            'result', pg_catalog.jsonb_build_object('crash', v_crash),
            'won', v_crash >= (p_params ->> 'target')::bigint);
    end if;
    v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 37);
    return pg_catalog.jsonb_build_object(
        'result', pg_catalog.jsonb_build_object(
            'pocket', v_number, 'color', app._roulette_color(v_number::integer)),
        'won', app._roulette_wins(p_params ->> 'bet', v_number::integer));
end
$$;

-- _house_outcome: what a bet of `p_stake` on terms `p_terms` (_house_bet_terms's) pays on draw
-- `p_draw` (_house_draw's): the one rule a play (_play_house_game) and an auto-bet (auto_bet,
-- rpc/82_house_autobet.sql) both apply. Plinko and keno, whose draw decides the multiplier, pay
-- floor(stake * that multiplier) and record it; dice, limbo and roulette pay the terms' win_payout
-- when the draw won, else 0, and record the terms' multiplier. A payout equal to the stake moves
-- no money: the bet has no ledger transaction.
-- Returns {result, payout, multiplier}.
create or replace function app._house_outcome(p_stake bigint, p_terms jsonb, p_draw jsonb)
returns jsonb
language sql immutable strict parallel safe
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'result', p_draw -> 'result',
        'payout', case
            when p_draw ? 'multiplier'
                then floor(p_stake * (p_draw ->> 'multiplier')::numeric)::bigint
            when (p_draw ->> 'won')::boolean then (p_terms ->> 'win_payout')::numeric::bigint
            else 0
        end,
        'multiplier', coalesce(p_draw -> 'multiplier', p_terms -> 'multiplier'))
$$;
