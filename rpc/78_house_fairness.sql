-- House games' fairness (migrations 0021 and 0026; docs/house-games.md, docs/provably-fair.md):
-- the RNG every house game draws from, and the players' seed pairs it is keyed with (BetService
-- sections 4 and 4.1). rpc/79_house_rules.sql says what each game makes of the draws,
-- rpc/80_house_games.sql plays them.
--
-- The RNG, exactly as BetService 4.1 writes it: sample k (0-based) of a bet is
--   hmac_r = HMAC-SHA256(key = server_seed, message = client_seed || ':' || nonce || ':' || r)
--   with r = k / 8, and its bytes 4 * (k % 8) .. + 3 as b0..b3:
--   floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * limit / 2^32)
-- = floor(sum(b_i / 256^(i+1)) * limit), exact in integers. Dice, limbo and roulette draw sample
-- 0; plinko samples 0 .. rows - 1, keno 0 .. 9, mines 0 .. mines - 1 (the shuffle below).
--
-- Seeds: get_seed (the active pair's commitment, made on first use), rotate_seed (reveals the
-- pair and starts a new one at nonce 0), get_revealed_seed (a revealed pair by its hash). No
-- client role reads app.seed_pairs, admins and the service role included: a server seed reaches
-- a client only once its pair is revealed.

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
