-- House games (migrations 0021 and 0026; docs/house-games.md): dice, limbo, roulette, plinko and
-- keno, each bet one transaction against the house, drawn from the player's own seed pair
-- (BetService sections 3 and 4).
--
-- The RNG, exactly as BetService 4.1 writes it: sample k (0-based) of a bet is
--   hmac_r = HMAC-SHA256(key = server_seed, message = client_seed || ':' || nonce || ':' || r)
--   with r = k / 8, and its bytes 4 * (k % 8) .. + 3 as b0..b3:
--   floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * limit / 2^32)
-- = floor(sum(b_i / 256^(i+1)) * limit), exact in integers. Dice, limbo and roulette draw sample
-- 0; plinko samples 0 .. rows - 1, keno 0 .. 9.
--
-- Seeds: get_seed (the active pair's commitment, made on first use), rotate_seed (reveals the
-- pair and starts a new one at nonce 0), get_revealed_seed (a revealed pair by its hash). Bets:
-- play_dice, play_limbo, play_roulette, play_plinko, play_keno. Settings: update_house_game
-- (admins). Reads: the views house_games, house_bets and my_seed_pairs. No client role reads
-- app.seed_pairs, admins and the service role included: a server seed reaches a client only once
-- its pair is revealed.
--
-- Lock order: the player's seed pair first (it serialises one player's bets and rotations), then
-- accounts by id (the house's and the wallet, as everywhere: rpc/01_core.sql).

drop view if exists public.house_bets;
drop view if exists public.my_seed_pairs;
drop view if exists public.house_games;

-- The RNG --------------------------------------------------------------------------------------

-- _house_hmac: the HMAC of round `p_round` of bet `p_nonce`: HMAC-SHA256 (app._hmac_sha256,
-- rpc/75_virtual.sql) keyed with the server seed's text, over client_seed:nonce:round.
create or replace function app._house_hmac(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_round integer
)
returns bytea
language sql stable strict parallel safe
set search_path = ''
as $$
    select app._hmac_sha256(
        convert_to(p_server_seed, 'UTF8'),
        convert_to(p_client_seed || ':' || p_nonce::text || ':' || p_round::text, 'UTF8'))
$$;

-- _house_value: the number in [0, p_limit) that bytes p_at .. p_at + 3 of `p_mac` name, read as a
-- big-endian unsigned n: floor(n * limit / 2^32), exact in numeric. The limit is 1 to 2^32 (null
-- otherwise).
create or replace function app._house_value(p_mac bytea, p_at integer, p_limit bigint)
returns bigint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case when p_limit between 1 and 4294967296 then
        div((
            get_byte(p_mac, p_at)::bigint * 16777216
            + get_byte(p_mac, p_at + 1)::bigint * 65536
            + get_byte(p_mac, p_at + 2)::bigint * 256
            + get_byte(p_mac, p_at + 3)::bigint
        )::numeric * p_limit, 4294967296)::bigint
    end
$$;

-- _house_random: sample `p_cursor` (0-based) of bet `p_nonce`, a number in [0, p_limit): the four
-- bytes 4 * (cursor % 8) .. + 3 of round cursor / 8's HMAC (_house_value). The limit is 1 to
-- 2^32, the cursor from 0 (null otherwise). Games that need many samples draw them with
-- _house_samples, the same numbers for one HMAC per round.
create or replace function app._house_random(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_cursor integer,
    p_limit bigint
)
returns bigint
language sql stable strict parallel safe
set search_path = ''
as $$
    select case when p_cursor >= 0 then app._house_value(
        app._house_hmac(p_server_seed, p_client_seed, p_nonce, p_cursor / 8),
        4 * (p_cursor % 8), p_limit)
    end
$$;

-- _house_samples: samples 0 .. n - 1 of bet `p_nonce`, sample k with limit p_limits[k + 1]: the
-- numbers _house_random gives for cursors 0 .. n - 1, computing each round's HMAC once (plinko's
-- 16 rows take 2 HMACs, not 16); a limit out of range gives a null element. The rounds are
-- materialized: a plain CTE is pulled up into the join, and its HMAC computed once per sample.
create or replace function app._house_samples(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_limits bigint[]
)
returns bigint[]
language sql stable strict parallel safe
set search_path = ''
as $$
    with rounds as materialized (
        select r.r, app._house_hmac(p_server_seed, p_client_seed, p_nonce, r.r) as mac
        from pg_catalog.generate_series(0, (cardinality(p_limits) - 1) / 8) as r (r)
    )

    select array_agg(
        app._house_value(m.mac, 4 * ((l.k::integer - 1) % 8), l.limit_value) order by l.k
    )
    from unnest(p_limits) with ordinality as l (limit_value, k)
    inner join rounds as m on m.r = (l.k - 1) / 8
$$;

-- _house_bet_id: the id of a round: 'bet-' and the first 16 bytes of
-- sha256(server_seed_hash || ':' || client_seed || ':' || nonce) written as a uuid (8-4-4-4-12
-- lowercase hex). Derived from the round (BetService section 1: bet-{uuid(hash(seedData))}), so
-- a round has one id whoever asks; made of the commitment, never of the seed.
create or replace function app._house_bet_id(
    p_server_seed_hash text,
    p_client_seed text,
    p_nonce bigint
)
returns text
language sql stable strict parallel safe
set search_path = ''
as $$
    select 'bet-' || encode(substring(sha256(convert_to(
        p_server_seed_hash || ':' || p_client_seed || ':' || p_nonce::text, 'UTF8'
    )) from 1 for 16), 'hex')::uuid::text
$$;

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

-- _house_shuffle: the first `p_count` values of a Fisher-Yates shuffle of 1 .. `p_size` drawn from
-- round `p_nonce` (BetService's "Fisher-Yates select gemsCount of tilesCount"): start from the
-- array 1 .. size in order; for i = 0 .. count - 1, sample i (cursor i) with limit size - i gives
-- r, and the values at positions i and i + r (0-based) change places. The answer is positions
-- 0 .. count - 1, in the order drawn. So the limits shrink by one per sample: size, size - 1, ...,
-- size - count + 1. Keno draws 10 of 40 tiles.
create or replace function app._house_shuffle(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_size integer,
    p_count integer
)
returns integer[]
language plpgsql stable strict parallel safe
set search_path = ''
as $$
declare
    v_board integer[] := array(select pg_catalog.generate_series(1, p_size));
    v_samples bigint[] := app._house_samples(p_server_seed, p_client_seed, p_nonce,
        array(select p_size - i from pg_catalog.generate_series(0, p_count - 1) as i order by i));
    v_at integer;
    v_value integer;
begin
    for v_i in 0 .. p_count - 1 loop
        v_at := v_i + v_samples[v_i + 1];
        v_value := v_board[v_i + 1];
        v_board[v_i + 1] := v_board[v_at + 1];
        v_board[v_at + 1] := v_value;
    end loop;
    return v_board[1:p_count];
end
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

-- Seed pairs -----------------------------------------------------------------------------------

-- _client_seed: a client seed as given, refused unless 1 to 64 printable ASCII characters (so
-- that any HMAC tool reads it as the engine does); null gives a random one (32 hex characters).
-- Raises: invalid_argument.
create or replace function app._client_seed(p_client_seed text)
returns text
language plpgsql volatile
set search_path = ''
as $$
begin
    if p_client_seed is null then
        return replace(gen_random_uuid()::text, '-', '');
    end if;
    if p_client_seed !~ '^[ -~]{1,64}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'client_seed', 'length', length(p_client_seed),
            'reason', '1 to 64 printable ASCII characters'));
    end if;
    return p_client_seed;
end
$$;

-- _active_seed_pair: user `p_user`'s active seed pair, locked for update when `p_lock`, made on
-- first use (a new server seed, a random client seed, nonce 0). When the statement finds none
-- (the first use, or a rotation that committed while this one waited for the lock: the row it
-- waited for is revealed, and the new one is newer than its snapshot), it inserts, or meets the
-- other transaction's row on the one-active index, and reads again.
-- Raises: unknown_user (the user does not exist or was deleted).
create or replace function app._active_seed_pair(p_user uuid, p_lock boolean)
returns app.seed_pairs
language plpgsql
set search_path = ''
as $$
declare
    v_pair app.seed_pairs;
    v_seed text;
begin
    for v_attempt in 1..3 loop
        if p_lock then
            select * into v_pair from app.seed_pairs as s
            where s.user_id = p_user and s.revealed_at is null
            for update;
        else
            select * into v_pair from app.seed_pairs as s
            where s.user_id = p_user and s.revealed_at is null;
        end if;
        if found then
            return v_pair;
        end if;
        if not exists (
            select 1 from auth.users as u where u.id = p_user and u.deleted_at is null
        ) then
            perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', p_user));
        end if;
        v_seed := app._new_server_seed();
        insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
        values (p_user, v_seed, app._sha256_hex(v_seed), app._client_seed(null))
        on conflict (user_id) where revealed_at is null do nothing;
    end loop;
    -- never: each round above inserts, or finds the pair another transaction committed
    raise exception 'no active seed pair for user %', p_user;
end
$$;

-- _seed_pair_json: a pair as its owner's answers show it; the server seed only once revealed.
create or replace function app._seed_pair_json(p_pair app.seed_pairs)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'seed_pair_id', p_pair.id,
        'server_seed_hash', p_pair.server_seed_hash,
        'client_seed', p_pair.client_seed,
        'next_nonce', p_pair.next_nonce,
        'created_at', p_pair.created_at,
        'revealed', p_pair.revealed_at is not null
    ) || case when p_pair.revealed_at is not null then pg_catalog.jsonb_build_object(
        'server_seed', p_pair.server_seed,
        'last_nonce', nullif(p_pair.next_nonce, 0) - 1,
        'revealed_at', p_pair.revealed_at
    ) else '{}' end
$$;

-- get_seed(): the caller's active seed pair: its commitment (server_seed_hash), its client seed
-- and the nonce the next bet draws (next_nonce); never its server seed. Made on first use.
-- Callers: authenticated. Changes: may create the pair.
-- Raises: not_authenticated, unknown_user.
create or replace function public.get_seed()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._seed_pair_json(app._active_seed_pair(app._require_user(), false));
end
$$;
grant execute on function public.get_seed() to authenticated;

-- rotate_seed(client_seed): the caller's active pair is revealed (from now on its server seed is
-- readable: get_revealed_seed, the my_seed_pairs and house_bets views) and draws no more; a new
-- pair with a new server seed and `client_seed` (null: a random one) starts at nonce 0. The answer
-- carries the revealed pair's hash, client seed and last nonce, not its server seed: a client
-- reads that once the rotation has committed, so no transaction that could still be rolled back
-- ever shows the seed of a pair that would then go on drawing. Refused while a multi-step round of
-- the caller is open (a house bet still `created`). Serialised with the caller's bets by the lock
-- on the active pair: each bet drew from the pair it names.
-- Callers: authenticated. Changes: the old pair's revealed_at, a new pair.
-- Returns {revealed: the old pair (seed_pair_id, server_seed_hash, client_seed, next_nonce,
-- created_at, revealed: true, revealed_at, last_nonce: its last bet's nonce or null),
-- active: the new pair as get_seed shows it}.
-- Raises: not_authenticated, unknown_user, invalid_argument (client seed), round_in_progress.
create or replace function public.rotate_seed(client_seed text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_client_seed text := app._client_seed(rotate_seed.client_seed);
    v_old app.seed_pairs := app._active_seed_pair(v_user, true);
    v_open text;
    v_seed text := app._new_server_seed();
    v_new app.seed_pairs;
begin
    select b.id into v_open
    from app.house_bets as b
    where b.user_id = v_user and b.status = 'created'
    limit 1;
    if v_open is not null then
        perform app._fail('round_in_progress', pg_catalog.jsonb_build_object(
            'bet_id', v_open, 'seed_pair_id', v_old.id));
    end if;
    update app.seed_pairs as s
    set revealed_at = now()
    where s.id = v_old.id
    returning * into v_old;
    insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
    values (v_user, v_seed, app._sha256_hex(v_seed), v_client_seed)
    returning * into v_new;
    return pg_catalog.jsonb_build_object(
        'revealed', app._seed_pair_json(v_old) - 'server_seed',
        'active', app._seed_pair_json(v_new));
end
$$;
grant execute on function public.rotate_seed(text) to authenticated;

-- get_revealed_seed(server_seed_hash): the revealed seed pair with this commitment: server_seed
-- (check: its SHA-256 is the hash), client_seed, next_nonce (how many bets it drew) and last_nonce
-- (the last bet's, null for none), created_at, revealed_at; whose it is is not said. A pair still
-- active is refused exactly like an unknown hash.
-- Callers: anyone (anon included). Changes: nothing.
-- Raises: seed_not_found.
create or replace function public.get_revealed_seed(server_seed_hash text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_pair app.seed_pairs;
begin
    select * into v_pair
    from app.seed_pairs as s
    where s.server_seed_hash = lower(btrim(get_revealed_seed.server_seed_hash))
        and s.revealed_at is not null;
    if not found then
        perform app._fail('seed_not_found', pg_catalog.jsonb_build_object(
            'server_seed_hash', get_revealed_seed.server_seed_hash));
    end if;
    return app._seed_pair_json(v_pair);
end
$$;
grant execute on function public.get_revealed_seed(text) to anon, authenticated, service_role;

-- _revealed_server_seed: the server seed of pair `p_seed_pair_id` once revealed, else null. What
-- the house_bets view shows; revealed seeds are public (get_revealed_seed), the others nobody's.
create or replace function app._revealed_server_seed(p_seed_pair_id bigint)
returns text
language sql stable
security definer
set search_path = ''
as $$
    select s.server_seed from app.seed_pairs as s
    where s.id = p_seed_pair_id and s.revealed_at is not null
$$;

-- _seed_pair_rows(): the caller's own seed pairs (an admin's too: their own), the server seed only
-- once revealed. Read by the view public.my_seed_pairs; no client role reads app.seed_pairs
-- itself. Admins see every bet's commitment, client seed and nonce in house_bets.
create or replace function app._seed_pair_rows()
returns table (
    id bigint,
    user_id uuid,
    server_seed_hash text,
    client_seed text,
    next_nonce bigint,
    revealed boolean,
    server_seed text,
    created_at timestamptz,
    revealed_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
    select
        s.id,
        s.user_id,
        s.server_seed_hash,
        s.client_seed,
        s.next_nonce,
        s.revealed_at is not null,
        case when s.revealed_at is not null then s.server_seed end,
        s.created_at,
        s.revealed_at
    from app.seed_pairs as s
    where s.user_id = (select auth.uid())
$$;

-- The guards (the triggers of migration 0021) ---------------------------------------------------

-- _seed_pair_changed: a seed pair is never deleted; its owner, seeds, commitment and created_at
-- never change; a revealed pair stays revealed and draws no more; the nonce moves forward by one
-- bet at a time: by one (a play, which writes its bet next), or by k over the k bets already
-- written with exactly those nonces (an auto-bet's batch, rpc/82_house_autobet.sql). Refused even
-- for the superuser (short of dropping the trigger).
-- Raises: house_history_final.
create or replace function app._seed_pair_changed(
    p_op text,
    p_old app.seed_pairs,
    p_new app.seed_pairs
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE'
        or (p_new.id, p_new.user_id, p_new.server_seed, p_new.server_seed_hash, p_new.client_seed,
            p_new.created_at)
        is distinct from
        (p_old.id, p_old.user_id, p_old.server_seed, p_old.server_seed_hash, p_old.client_seed,
            p_old.created_at)
        or (p_old.revealed_at is not null and (p_new.revealed_at, p_new.next_nonce)
            is distinct from (p_old.revealed_at, p_old.next_nonce))
        or p_new.next_nonce < p_old.next_nonce
        or (p_new.next_nonce > p_old.next_nonce + 1 and (
            select count(*) from app.house_bets as b
            where b.seed_pair_id = p_old.id
                and b.nonce >= p_old.next_nonce and b.nonce < p_new.next_nonce
        ) <> p_new.next_nonce - p_old.next_nonce) then
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'seed_pair_id', p_old.id, 'operation', lower(p_op)));
    end if;
end
$$;

-- _house_bet_changed: a house bet is never deleted, a settled one never changes, and a round's
-- identity (id, player, game, pair, nonce, stake, params, created_at) never changes while it is
-- open. Refused even for the superuser (short of dropping the trigger).
-- Raises: house_history_final.
create or replace function app._house_bet_changed(
    p_op text,
    p_old app.house_bets,
    p_new app.house_bets
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE' or p_old.status = 'settled'
        or (p_new.id, p_new.user_id, p_new.game, p_new.seed_pair_id, p_new.server_seed_hash,
            p_new.client_seed, p_new.nonce, p_new.stake, p_new.params, p_new.house_edge_bps,
            p_new.created_at)
        is distinct from
        (p_old.id, p_old.user_id, p_old.game, p_old.seed_pair_id, p_old.server_seed_hash,
            p_old.client_seed, p_old.nonce, p_old.stake, p_old.params, p_old.house_edge_bps,
            p_old.created_at) then
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'bet_id', p_old.id, 'operation', lower(p_op)));
    end if;
end
$$;

-- Settings -------------------------------------------------------------------------------------

-- _house_game_json: a game's settings as update_house_game answers and logs them.
create or replace function app._house_game_json(p_game text)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.to_jsonb(g) from app.house_games as g where g.game = p_game
$$;

-- update_house_game(game, settings): change some of one game's settings, e.g. `{"enabled":
-- false}` or `{"house_edge_bps": 200, "max_profit": 5000000}`; the others keep their values.
--   enabled         true or false: a disabled game refuses every bet (game_disabled)
--   house_edge_bps  dice, limbo and mines: a whole number from 0 to 5000 (roulette's is its
--                   wheel's, plinko's and keno's their tables')
--   max_profit      a whole number of minor units from 1 to 10^15: the most one bet may win above
--                   its stake (a bet that could win more is refused, max_profit_exceeded)
--   round_idle_minutes  mines: an open round expires after this many minutes without a step
--                   (scheduler_tick, rpc/81_house_rounds.sql); null: never
--   ggr_commission_bps  any game: the GGR commission rate, a whole number of basis points from 0
--                   to 10000, stored on each bet as it settles (ggr_commission,
--                   rpc/84_ggr_and_affiliates.sql)
-- A JSON number is required (a string is refused, never converted). A change applies to the bets
-- that start after it commits; a bet keeps the edge it was played at (house_bets.house_edge_bps),
-- and the commission rate of the moment it settled (a round of mines: when it ends).
-- Callers: admins and the service role. Changes: app.house_games; logs update_house_game with the
-- game's settings before and after.
-- Returns the game's settings after the change.
-- Raises: not_admin, invalid_argument (an unknown game; not a JSON object or empty; an unknown
-- setting; a value of the wrong type or out of range; an edge for a game but dice and limbo).
create or replace function public.update_house_game(game text, settings jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_game app.house_games;
    v_key text;
    v_value jsonb;
    v_number numeric;
    v_before jsonb;
    v_after jsonb;
begin
    perform app._require_admin();
    select * into v_game from app.house_games as g where g.game = update_house_game.game
    for update;
    if not found then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'game', 'value', update_house_game.game,
            'reason', 'dice, limbo, roulette, plinko, keno or mines'));
    end if;
    if update_house_game.settings is null
        or pg_catalog.jsonb_typeof(update_house_game.settings) <> 'object'
        or update_house_game.settings = '{}' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'settings', 'reason', 'a JSON object of one or more settings'));
    end if;
    v_before := pg_catalog.to_jsonb(v_game);
    for v_key, v_value in
        select e.key, e.value from pg_catalog.jsonb_each(update_house_game.settings) as e
    loop
        if v_key = 'enabled' then
            if pg_catalog.jsonb_typeof(v_value) <> 'boolean' then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value, 'reason', 'true or false'));
            end if;
            v_game.enabled := (v_value #>> '{}')::boolean;
            continue;
        end if;
        if v_key = 'round_idle_minutes' then
            -- mines (rpc/81_house_rounds.sql): null, never; else 1 minute to a year
            v_number := case when pg_catalog.jsonb_typeof(v_value) = 'number'
                then (v_value #>> '{}')::numeric end;
            if v_game.game <> 'mines' or (v_value <> 'null' and (v_number is null
                or v_number <> trunc(v_number) or v_number not between 1 and 525600)) then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value, 'game', v_game.game,
                    'reason', 'mines only: null (never) or whole minutes from 1 to 525600'));
            end if;
            v_game.round_idle_minutes := v_number::integer;
            continue;
        end if;
        if v_key not in ('house_edge_bps', 'max_profit', 'ggr_commission_bps') then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', v_key, 'reason', 'unknown setting',
                'known', pg_catalog.jsonb_build_array('enabled', 'house_edge_bps', 'max_profit',
                    'round_idle_minutes', 'ggr_commission_bps')));
        end if;
        v_number := case when pg_catalog.jsonb_typeof(v_value) = 'number'
            then (v_value #>> '{}')::numeric end;
        if v_key = 'ggr_commission_bps' then
            if v_number is null or v_number <> trunc(v_number)
                or v_number not between 0 and 10000 then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of basis points from 0 to 10000'));
            end if;
            v_game.ggr_commission_bps := v_number::integer;
            continue;
        end if;
        if v_key = 'house_edge_bps' then
            if v_game.game not in ('dice', 'limbo', 'mines') then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'game', v_game.game,
                    'reason', 'roulette''s edge is its wheel''s single zero, plinko''s and '
                    || 'keno''s their tables'));
            end if;
            if v_number is null or v_number <> trunc(v_number) or v_number not between 0 and 5000
            then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of basis points from 0 to 5000'));
            end if;
            v_game.house_edge_bps := v_number::integer;
        else
            if v_number is null or v_number <> trunc(v_number) or v_number not between 1 and 1e15
            then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of minor units from 1 to 10^15'));
            end if;
            v_game.max_profit := v_number::bigint;
        end if;
    end loop;

    update app.house_games as g
    set enabled = v_game.enabled,
        house_edge_bps = v_game.house_edge_bps,
        max_profit = v_game.max_profit,
        round_idle_minutes = v_game.round_idle_minutes,
        ggr_commission_bps = v_game.ggr_commission_bps,
        updated_at = now()
    where g.game = v_game.game;
    v_after := app._house_game_json(v_game.game);
    perform app._audit('update_house_game', null, null, null, v_before, v_after);
    return v_after;
end
$$;
grant execute on function public.update_house_game(text, jsonb) to authenticated, service_role;

-- Playing --------------------------------------------------------------------------------------

-- _house_bet_json: a bet as the plays answer it: the row (no idempotency key, no GGR figures: the
-- admins'), whether it won (paid more than its stake), its profit (payout - stake), and the
-- chance of a dice bet.
create or replace function app._house_bet_json(p_bet app.house_bets)
returns jsonb
language sql stable
set search_path = ''
as $$
    select (pg_catalog.to_jsonb(p_bet) - array['idempotency_key', 'ggr', 'ggr_commission_bps',
        'ggr_commission']) || pg_catalog.jsonb_build_object(
        'won', p_bet.payout > p_bet.stake,
        'profit', p_bet.payout - p_bet.stake
    )
$$;

-- _house_stake_checks: the first checks a bet of user `p_user` on `p_game` of `p_stake` passes, in
-- place_wager's order, before anything is locked or drawn: refused during a self-exclusion,
-- refused when the game is disabled, the stake checked (_stake_refusal). Shared by every house
-- bet: a play and an auto-bet (through _house_bet_terms) and a round of mines (open_mines,
-- rpc/81_house_rounds.sql). An unknown game passes (its settings are all null): the terms refuse
-- it.
-- Returns the game's settings.
-- Raises: self_excluded, game_disabled, invalid_amount.
create or replace function app._house_stake_checks(p_user uuid, p_game text, p_stake bigint)
returns app.house_games
language plpgsql stable
set search_path = ''
as $$
declare
    v_game app.house_games;
    v_refusal jsonb;
begin
    perform app._require_not_excluded(p_user);
    select * into v_game from app.house_games as g where g.game = p_game;
    if not v_game.enabled then
        perform app._fail('game_disabled', pg_catalog.jsonb_build_object('game', p_game));
    end if;
    v_refusal := app._stake_refusal(p_stake);
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
    return v_game;
end
$$;

-- _house_bet_terms: the checks a one-shot bet of user `p_user` passes before anything is locked
-- or drawn, in place_wager's order: _house_stake_checks (self-exclusion, the game enabled, the
-- stake), then the player's choices (_house_terms) are checked and the win priced (the best the
-- bet can pay: plinko's and keno's table's highest): a win must pay more than the stake, and at
-- most the game's max_profit above it (max_profit_exceeded, refused rather than clamped: a clamp
-- would pay a winner less than the multiplier shown). Shared by a play (_play_house_game) and an
-- auto-bet (auto_bet), whose bets all have the same stake and choices, so the same terms.
-- Returns _house_terms's answer and the game's house_edge_bps.
-- Raises: self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded.
create or replace function app._house_bet_terms(
    p_user uuid,
    p_game text,
    p_stake bigint,
    p_params jsonb
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_game app.house_games := app._house_stake_checks(p_user, p_game, p_stake);
    v_terms jsonb;
    v_win_payout numeric;
begin
    v_terms := app._house_terms(p_game, p_params, v_game.house_edge_bps, p_stake);
    v_win_payout := (v_terms ->> 'win_payout')::numeric;
    if v_win_payout <= p_stake then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'stake', 'stake', p_stake, 'payout', v_win_payout,
            'reason', 'a win would pay no more than the stake: raise the stake or the multiplier'));
    end if;
    if v_win_payout - p_stake > v_game.max_profit then
        perform app._fail('max_profit_exceeded', pg_catalog.jsonb_build_object(
            'game', p_game, 'stake', p_stake, 'payout', v_win_payout,
            'profit', v_win_payout - p_stake, 'max_profit', v_game.max_profit));
    end if;

    return v_terms || pg_catalog.jsonb_build_object('house_edge_bps', v_game.house_edge_bps);
end
$$;

-- _lock_stake: the locks and checks a house bet's stake passes once the caller holds the player's
-- seed pair (the lock order: the pair, then the accounts by id): the wallet of `p_user` (made on
-- first use) and `p_account` (the house for a one-shot bet, the held rounds for a round of mines)
-- locked in id order; then, under those locks, the daily stake limit (house bets count with
-- wagers), then the funds. Shared by a play (_play_house_game) and open_mines
-- (rpc/81_house_rounds.sql); an auto-bet, which draws between the pair's lock and the accounts'
-- and cuts its run at the limit or the funds, applies the same rules to a run.
-- Returns the wallet's id.
-- Raises: daily_stake_limit_reached, insufficient_funds.
create or replace function app._lock_stake(p_user uuid, p_stake bigint, p_account bigint)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_wallet bigint := app._ensure_wallet(p_user);
    v_balance bigint;
begin
    select l.balance into v_balance
    from (
        select a.id, a.balance from app.accounts as a
        where a.id in (p_account, v_wallet) order by a.id for update
    ) as l
    where l.id = v_wallet;
    perform app._require_within_stake_limit(p_user, p_stake);
    if v_balance < p_stake then
        perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', v_balance, 'stake', p_stake));
    end if;
    return v_wallet;
end
$$;

-- _play_house_game: one bet of the caller on one-shot game `p_game`, in this transaction, in the
-- order of place_wager's checks:
--   1. the idempotency key is claimed first (a replay answers the stored bet, replayed: true);
--   2. refused during a self-exclusion; refused when the game is disabled;
--   3. the stake and the player's choices are checked (_stake_refusal, _house_terms), and the
--      win is priced (the best the bet can pay: plinko's and keno's table's highest): a win must
--      pay more than the stake, and at most the game's max_profit above it
--      (max_profit_exceeded, refused rather than clamped: a clamp would pay a winner less than
--      the multiplier shown); all before anything is drawn;
--   4. the caller's active seed pair is locked (made on first use): one player's bets and
--      rotations go one at a time; then the wallet (made on first use) and the house account, in
--      id order;
--   5. under those locks, the daily stake limit (house bets count with wagers), then the funds;
--   6. the pair's next nonce is taken (and the pair's next_nonce moves on by one), the round
--      drawn (_house_draw), and one 'house_bet' ledger transaction moves stake - payout from the
--      wallet to the house (payout - stake the other way for a win; none when the payout is the
--      stake: nothing moves); the bet is written settled. The payout and the multiplier the bet
--      records are _house_outcome's: the win's or 0 (dice, limbo, roulette), or floor(stake *
--      the multiplier the draw decided) (plinko, keno).
-- Every refusal rolls the whole call back: no nonce is used, no money moves, no key is kept.
-- Returns the bet (_house_bet_json) with the wallet's balance and version after it.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function app._play_house_game(
    p_game text,
    p_stake bigint,
    p_params jsonb,
    p_idempotency_key text
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_terms jsonb;
    v_edge integer;
    v_pair app.seed_pairs;
    v_wallet bigint;
    v_house bigint := app._system_account('house');
    v_outcome jsonb;
    v_payout bigint;
    v_id text;
    v_tx bigint;
    v_bet app.house_bets;
    v_result jsonb;
begin
    v_replay := app._idempotency_begin(v_user, p_idempotency_key, 'play_' || p_game,
        pg_catalog.jsonb_build_object('stake', p_stake) || p_params);
    if v_replay is not null then
        return v_replay;
    end if;
    v_terms := app._house_bet_terms(v_user, p_game, p_stake, p_params);
    v_edge := (v_terms ->> 'house_edge_bps')::integer;

    -- the lock order: the seed pair, then the accounts by id
    v_pair := app._active_seed_pair(v_user, true);
    v_wallet := app._lock_stake(v_user, p_stake, v_house);

    -- the round: this pair's next nonce, taken under its lock
    update app.seed_pairs as s
    set next_nonce = s.next_nonce + 1
    where s.id = v_pair.id;
    v_outcome := app._house_outcome(p_stake, v_terms, app._house_draw(p_game,
        v_terms -> 'params', v_edge, v_pair.server_seed, v_pair.client_seed, v_pair.next_nonce));
    v_payout := (v_outcome ->> 'payout')::bigint;
    v_id := app._house_bet_id(v_pair.server_seed_hash, v_pair.client_seed, v_pair.next_nonce);
    v_tx := app._post_transaction('house_bet', array[v_house, v_wallet],
        array[p_stake - v_payout, v_payout - p_stake],
        p_memo => pg_catalog.jsonb_build_object(
            'house_bet_id', v_id, 'game', p_game, 'stake', p_stake, 'payout', v_payout),
        p_actor => v_user);
    insert into app.house_bets (
        id, user_id, game, seed_pair_id, server_seed_hash, client_seed, nonce, stake, params,
        house_edge_bps, result, multiplier, payout, status, transaction_id, idempotency_key,
        settled_at
    )
    values (
        v_id, v_user, p_game, v_pair.id, v_pair.server_seed_hash, v_pair.client_seed,
        v_pair.next_nonce, p_stake, v_terms -> 'params', v_edge,
        v_outcome -> 'result', (v_outcome ->> 'multiplier')::numeric, v_payout, 'settled', v_tx,
        p_idempotency_key, now()
    )
    returning * into v_bet;

    select app._house_bet_json(v_bet)
        || pg_catalog.jsonb_strip_nulls(
            pg_catalog.jsonb_build_object('chance', v_terms -> 'chance'))
        || pg_catalog.jsonb_build_object('balance', a.balance, 'balance_version', a.version)
    into v_result
    from app.accounts as a
    where a.id = v_wallet;
    return app._idempotency_finish(v_user, p_idempotency_key, v_result);
end
$$;

-- play_dice(stake, target, over, idempotency_key): roll 0.00 to 99.99 against `target` (in
-- hundredths): `over` wins on a roll above it (target 0 to 9998), otherwise a roll below it wins
-- (1 to 9999). The win chance is 9999 - target (over) or target (under) hundredths of a percent;
-- a win pays floor(stake * (10000 - edge) / chance), edge the game's house_edge_bps.
-- Callers: authenticated. Changes: see _play_house_game (a house bet, a 'house_bet' ledger
-- transaction, the seed pair's nonce; may create the wallet and the seed pair); notifies balance.
-- Returns the bet (id, game, stake, params, result {roll}, multiplier, payout, won, profit, chance,
-- nonce, seed_pair_id, server_seed_hash, client_seed, ...) and the new balance.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_dice(
    stake bigint,
    target integer,
    over boolean,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('dice', play_dice.stake,
        pg_catalog.jsonb_build_object('target', play_dice.target, 'over', play_dice.over),
        play_dice.idempotency_key);
end
$$;
grant execute on function public.play_dice(bigint, integer, boolean, text) to authenticated;

-- play_limbo(stake, target_multiplier, idempotency_key): a crash point is drawn; the bet wins
-- when it reaches `target_multiplier` (in hundredths, 101 = 1.01x, up to the highest crash point
-- the edge allows) and pays floor(stake * target_multiplier / 100).
-- Callers: authenticated. Changes: see _play_house_game; notifies balance.
-- Returns the bet (result {crash}, in hundredths) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_limbo(
    stake bigint,
    target_multiplier bigint,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('limbo', play_limbo.stake,
        pg_catalog.jsonb_build_object('target', play_limbo.target_multiplier),
        play_limbo.idempotency_key);
end
$$;
grant execute on function public.play_limbo(bigint, bigint, text) to authenticated;

-- play_roulette(stake, bet, idempotency_key): one spin of the single-zero wheel. `bet`: a pocket
-- '0' to '36' (pays 36x), 'dozen1'..'dozen3' or 'column1'..'column3' (3x), 'red', 'black', 'odd',
-- 'even', 'low' (1-18) or 'high' (19-36) (2x; 0 loses them all).
-- Callers: authenticated. Changes: see _play_house_game; notifies balance.
-- Returns the bet (result {pocket, color}) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_roulette(
    stake bigint,
    bet text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('roulette', play_roulette.stake,
        pg_catalog.jsonb_build_object('bet', play_roulette.bet),
        play_roulette.idempotency_key);
end
$$;
grant execute on function public.play_roulette(bigint, text, text) to authenticated;

-- play_plinko(stake, rows, risk, idempotency_key): a ball falls through `rows` rows of pins (8 to
-- 16), each row left or right (a sample of rng(2): 0 left, 1 right); it lands in bucket k, the
-- count of rights, and the bet pays floor(stake * the bucket's multiplier) of the table for
-- (rows, risk), `risk` 'low', 'medium' or 'high' (app._plinko_multipliers; docs/house-games.md).
-- Refused when the table's highest bucket would win more than the game's max profit.
-- Callers: authenticated. Changes: see _play_house_game; notifies balance (unless the bucket paid
-- back exactly the stake: nothing moves).
-- Returns the bet (result {path, bucket}, multiplier: the bucket's, payout) and the new balance,
-- as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_plinko(
    stake bigint,
    rows integer,
    risk text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('plinko', play_plinko.stake,
        pg_catalog.jsonb_build_object('rows', play_plinko.rows, 'risk', play_plinko.risk),
        play_plinko.idempotency_key);
end
$$;
grant execute on function public.play_plinko(bigint, integer, text, text) to authenticated;

-- play_keno(stake, picks, risk, idempotency_key): the player picks 1 to 10 distinct tiles of 40
-- (`picks`, a JSON array of whole numbers from 1 to 40, any order); the engine draws 10 (a
-- Fisher-Yates shuffle, app._house_shuffle), and the bet pays floor(stake * the multiplier of the
-- table for (number of picks, risk) at the number of hits),
-- `risk` 'classic', 'low', 'medium' or 'high' (app._keno_multipliers; docs/house-games.md).
-- Refused when the row's highest multiplier would win more than the game's max profit.
-- Callers: authenticated. Changes: see _play_house_game; notifies balance (unless the hits paid
-- back exactly the stake).
-- Returns the bet (params {picks in ascending order, risk}, result {drawn, hits}, multiplier: the
-- hits', payout) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_keno(
    stake bigint,
    picks jsonb,
    risk text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('keno', play_keno.stake,
        pg_catalog.jsonb_build_object('picks', play_keno.picks, 'risk', play_keno.risk),
        play_keno.idempotency_key);
end
$$;
grant execute on function public.play_keno(bigint, jsonb, text, text) to authenticated;

-- Reading --------------------------------------------------------------------------------------

-- The house games' settings: everyone.
create view public.house_games with (security_invoker = true) as
select
    g.game,
    g.enabled,
    g.house_edge_bps,
    g.max_profit,
    g.round_idle_minutes,
    g.updated_at
from app.house_games as g;

-- The house bets: a bettor their own, an admin (and the service role) every one; the server seed
-- only once its pair is revealed.
create view public.house_bets with (security_invoker = true) as
select
    b.id,
    b.user_id,
    b.game,
    b.status,
    b.stake,
    b.params,
    b.house_edge_bps,
    b.result,
    b.multiplier,
    b.payout,
    b.payout > b.stake as won,
    b.payout - b.stake as profit,
    -- the GGR commission (rpc/84_ggr_and_affiliates.sql): the admins' figures, null for a bettor
    case when (select public.acts_as_admin()) then b.ggr end as ggr,
    case when (select public.acts_as_admin()) then b.ggr_commission_bps end as ggr_commission_bps,
    case when (select public.acts_as_admin()) then b.ggr_commission end as ggr_commission,
    b.seed_pair_id,
    b.nonce,
    b.server_seed_hash,
    b.client_seed,
    app._revealed_server_seed(b.seed_pair_id) as server_seed,
    b.transaction_id,
    b.created_at,
    b.settled_at
from app.house_bets as b;

-- The caller's seed pairs, the active one and those revealed; the server seed only once revealed.
create view public.my_seed_pairs with (security_invoker = true) as
select
    s.id,
    s.user_id,
    s.server_seed_hash,
    s.client_seed,
    s.next_nonce,
    s.revealed,
    s.server_seed,
    s.created_at,
    s.revealed_at
from app._seed_pair_rows() as s;

grant select on public.house_games to anon, authenticated, service_role;
grant select on public.house_bets, public.my_seed_pairs to authenticated, service_role;
