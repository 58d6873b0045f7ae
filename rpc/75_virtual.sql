-- Provably-fair virtual markets (migrations/0010_virtual_markets.sql; docs/provably-fair.md).
--
-- create_virtual_market commits a server seed (its SHA-256 is public from the start). Closing the
-- market, on schedule and never earlier, fixes the client seed from the wagers in play and draws:
--   hmac   = HMAC-SHA256(key = the seed's text, message = client_seed || ':' || nonce)
--   number = floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * limit / 2^32), b0..b3 its first bytes
-- roulette: limit 37, the pocket; dice: limit 10000, the roll in hundredths. The scheduler then
-- reveals the seed and settles the market with the drawn outcome, in one transaction; a voided
-- market's seed is revealed by the scheduler too. Before that, no client role (admins included)
-- can read the seed or the draw: the table has no client grant, and the read side
-- (public.virtual_draws, verify_draw) shows them only once revealed_at is set.

drop view if exists public.virtual_draws;

-- The draw ------------------------------------------------------------------------------------

-- _hmac_sha256: HMAC-SHA256 (RFC 2104) over the built-in sha256(bytea): a key longer than the
-- 64-byte block is hashed first, then padded with zeros to 64 bytes;
-- sha256((key xor opad) || sha256((key xor ipad) || message)), ipad = 0x36.., opad = 0x5c...
create or replace function app._hmac_sha256(p_key bytea, p_message bytea)
returns bytea
language sql immutable strict parallel safe
set search_path = ''
as $$
    with block as (
        select case when length(p_key) > 64 then sha256(p_key) else p_key end as key
    ),
    padded as (
        select b.key || decode(repeat('00', 64 - length(b.key)), 'hex') as key
        from block as b
    ),
    pads as (
        select
            string_agg(lpad(to_hex(get_byte(p.key, i) # 54), 2, '0'), '' order by i) as inner_pad,
            string_agg(lpad(to_hex(get_byte(p.key, i) # 92), 2, '0'), '' order by i) as outer_pad
        from padded as p
        cross join generate_series(0, 63) as i
    )

    select sha256(decode(p.outer_pad, 'hex') || sha256(decode(p.inner_pad, 'hex') || p_message))
    from pads as p
$$;

-- _draw_number: the number in [0, p_limit) that the first four bytes of `p_mac` name:
-- floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * p_limit / 2^32), exact in bigint (the
-- product stays below 2^46 for a limit up to 16384).
create or replace function app._draw_number(p_mac bytea, p_limit integer)
returns integer
language sql immutable strict parallel safe
set search_path = ''
as $$
    select ((
        get_byte(p_mac, 0)::bigint * 16777216
        + get_byte(p_mac, 1)::bigint * 65536
        + get_byte(p_mac, 2)::bigint * 256
        + get_byte(p_mac, 3)::bigint
    ) * p_limit / 4294967296)::integer
$$;

-- _draw_position: the position of the outcome that number `p_result` names.
--   roulette  pocket 0 -> 3 Green; a red pocket -> 1 Red; any other -> 2 Black
--   dice      roll < params.threshold -> 1 Under; otherwise -> 2 Over
create or replace function app._draw_position(p_template text, p_params jsonb, p_result integer)
returns smallint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select (case
        when p_template = 'roulette' and p_result = 0 then 3
        when p_template = 'roulette' and p_result = any(array[
            1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36
        ]) then 1
        when p_template = 'roulette' then 2
        when p_template = 'dice' and p_result < (p_params ->> 'threshold')::integer then 1
        when p_template = 'dice' then 2
    end)::smallint
$$;

-- _virtual_draw: the draw of a template from its seeds: {hmac (hex), result, position}.
-- Used when the market closes and, from the revealed seed, by verify_draw.
create or replace function app._virtual_draw(
    p_template text,
    p_params jsonb,
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint
)
returns jsonb
language sql stable strict
set search_path = ''
as $$
    with mac as (
        select app._hmac_sha256(
            convert_to(p_server_seed, 'UTF8'),
            convert_to(p_client_seed || ':' || p_nonce::text, 'UTF8')
        ) as value
    ),
    drawn as (
        select
            m.value,
            app._draw_number(m.value, case p_template when 'roulette' then 37 else 10000 end) as result
        from mac as m
    )

    select pg_catalog.jsonb_build_object(
        'hmac', encode(d.value, 'hex'),
        'result', d.result,
        'position', app._draw_position(p_template, p_params, d.result)
    )
    from drawn as d
$$;

-- _client_seed_input: the text hashed into the client seed: the market id, ':', and the ids of
-- the wagers in play at close, ascending, comma separated ('42:' without any).
create or replace function app._client_seed_input(p_market_id bigint, p_wager_ids bigint[])
returns text
language sql immutable
set search_path = ''
as $$
    select p_market_id::text || ':' || coalesce(array_to_string(p_wager_ids, ','), '')
$$;

-- _sha256_hex: the lowercase hex SHA-256 of a text's UTF-8 bytes (what `sha256sum` prints).
create or replace function app._sha256_hex(p_text text)
returns text
language sql stable strict
set search_path = ''
as $$
    select encode(sha256(convert_to(p_text, 'UTF8')), 'hex')
$$;

-- _new_server_seed: a fresh server seed: 32 bytes as 64 lowercase hex characters, the SHA-256 of
-- three gen_random_uuid()s (366 bits from pg_strong_random, PostgreSQL's cryptographic source).
-- Built-ins only: pgcrypto's gen_random_bytes would do as well, but the embedded server ships
-- without pgcrypto. Virtual markets and the players' seed pairs (rpc/78_house_fairness.sql) use it.
create or replace function app._new_server_seed()
returns text
language sql volatile
set search_path = ''
as $$
    select encode(sha256(
        uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
    ), 'hex')
$$;

-- _result_text: a drawn number as people read it: the pocket, or the roll with two decimals.
create or replace function app._result_text(p_template text, p_result integer)
returns text
language sql immutable
set search_path = ''
as $$
    select case
        when p_template = 'dice' then to_char(p_result / 100.0, 'FM990.00')
        else p_result::text
    end
$$;

-- _fix_draw: fix the client seed of `p_draw`'s market from its wagers in play (accepted and not
-- voided), draw, and record it all. Called by the close gate, in the transaction that closes it.
create or replace function app._fix_draw(p_draw app.virtual_draws)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_ids bigint[];
    v_client_seed text;
    v_draw jsonb;
begin
    select coalesce(array_agg(w.id order by w.id), '{}') into v_ids
    from app.wagers as w
    where w.market_id = p_draw.market_id and w.approval = 'accepted' and w.settlement = 'open';
    v_client_seed := app._sha256_hex(app._client_seed_input(p_draw.market_id, v_ids));
    v_draw := app._virtual_draw(
        p_draw.template, p_draw.params, p_draw.server_seed, v_client_seed, p_draw.nonce);
    update app.virtual_draws as d
    set wager_ids = v_ids,
        client_seed = v_client_seed,
        hmac = v_draw ->> 'hmac',
        result = (v_draw ->> 'result')::integer,
        winning_outcome_id = (
            select o.id from app.outcomes as o
            where o.market_id = p_draw.market_id and o.position = (v_draw ->> 'position')::smallint
        ),
        drawn_at = now()
    where d.market_id = p_draw.market_id;
end
$$;

-- The gates (the triggers of migration 0010) ------------------------------------------------------

-- _virtual_refused: raise `virtual_market` for market `p_market_id`. The detail never says
-- anything about the draw, so a refused call cannot be used to learn it.
create or replace function app._virtual_refused(p_market_id bigint, p_action text, p_reason text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform app._fail('virtual_market', pg_catalog.jsonb_build_object(
        'market_id', p_market_id, 'action', p_action, 'reason', p_reason));
end
$$;

-- _virtual_market_changed: the market gate, after a status change (or the two-step switch) of
-- any market; nothing for a market without a draw. A virtual market closes only once closes_at
-- has passed, and its draw is fixed in that same transaction (whoever closes it: the scheduler,
-- close_market, or settle_market or propose_settlement on an open market, which are refused
-- after that by their own gates). A settled one stays settled; its settlement is never two-step.
-- Raises: virtual_market.
create or replace function app._virtual_market_changed(p_old app.markets, p_new app.markets)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = p_new.id for update;
    if not found then
        return;
    end if;
    if p_old.status = 'settled' and p_new.status <> 'settled' then
        perform app._virtual_refused(p_new.id, 'unsettle', 'a virtual market''s settlement is final');
    end if;
    if p_new.settlement_requires_confirmation and not p_old.settlement_requires_confirmation then
        perform app._virtual_refused(p_new.id, 'require_settlement_confirmation',
            'its result is drawn, not confirmed');
    end if;
    if p_old.status = 'open' and p_new.status = 'closed' then
        if p_new.closes_at > now() then
            perform app._fail('virtual_market', pg_catalog.jsonb_build_object(
                'market_id', p_new.id, 'action', 'close', 'reason', 'it closes at closes_at',
                'closes_at', p_new.closes_at));
        end if;
        perform app._fix_draw(v_draw);
    end if;
end
$$;

-- _virtual_settlement_written: the settlements gate: a virtual market is settled only by its
-- draw (app.settle_virtual_draws stamps the transaction when it reveals the seed) and only with
-- the drawn outcome. Any other settlement (settle_market, confirm_settlement, resettle_market)
-- is refused the same way whatever outcome it names, so trying outcomes teaches nothing.
-- Raises: virtual_market.
create or replace function app._virtual_settlement_written(p_new app.settlements)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = p_new.market_id;
    if not found then
        return;
    end if;
    if v_draw.reveal_reason is distinct from 'settled'
        or v_draw.revealed_xact is distinct from pg_catalog.pg_current_xact_id()
        or v_draw.winning_outcome_id is distinct from p_new.winning_outcome_id then
        perform app._virtual_refused(p_new.market_id, 'settle', 'only its draw settles it');
    end if;
end
$$;

-- _virtual_settlement_removed: a virtual market's settlement is never moved away (unsettle_market,
-- resettle_market).
-- Raises: virtual_market.
create or replace function app._virtual_settlement_removed(p_old app.settlements)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (select 1 from app.virtual_draws as d where d.market_id = p_old.market_id) then
        perform app._virtual_refused(p_old.market_id, 'unsettle', 'a virtual market''s settlement is final');
    end if;
end
$$;

-- _virtual_wager_approved: once the draw is fixed, the wagers in play are the ones it was drawn
-- with: a wager still pending stays out (settlement rejects and refunds it).
-- Raises: virtual_market.
create or replace function app._virtual_wager_approved(p_new app.wagers)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (
        select 1 from app.virtual_draws as d
        where d.market_id = p_new.market_id and d.client_seed is not null
    ) then
        perform app._virtual_refused(p_new.market_id, 'approve_wager', 'the draw is fixed');
    end if;
end
$$;

-- _virtual_proposal_made: nobody proposes a virtual market's result.
-- Raises: virtual_market.
create or replace function app._virtual_proposal_made(p_new app.settlement_proposals)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (select 1 from app.virtual_draws as d where d.market_id = p_new.market_id) then
        perform app._virtual_refused(p_new.market_id, 'propose_settlement', 'its result is drawn');
    end if;
end
$$;

-- _virtual_draw_changed: a draw row is never deleted; its commitment never changes; the draw is
-- written once; a reveal is final. Refused even for the superuser (short of dropping the trigger).
-- Raises: virtual_market.
create or replace function app._virtual_draw_changed(
    p_op text,
    p_old app.virtual_draws,
    p_new app.virtual_draws
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE' then
        perform app._virtual_refused(p_old.market_id, 'delete', 'a draw is kept for good');
    end if;
    if (p_new.market_id, p_new.template, p_new.params, p_new.server_seed, p_new.server_seed_hash,
        p_new.nonce, p_new.created_at)
        is distinct from
        (p_old.market_id, p_old.template, p_old.params, p_old.server_seed, p_old.server_seed_hash,
            p_old.nonce, p_old.created_at) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the commitment never changes');
    end if;
    if p_old.client_seed is not null and (
        p_new.wager_ids, p_new.client_seed, p_new.hmac, p_new.result, p_new.winning_outcome_id,
        p_new.drawn_at
    ) is distinct from (
        p_old.wager_ids, p_old.client_seed, p_old.hmac, p_old.result, p_old.winning_outcome_id,
        p_old.drawn_at
    ) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the draw is fixed');
    end if;
    if p_old.revealed_at is not null
        and (p_new.revealed_at, p_new.reveal_reason, p_new.revealed_xact)
        is distinct from (p_old.revealed_at, p_old.reveal_reason, p_old.revealed_xact) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the seed is revealed for good');
    end if;
end
$$;

-- Creating ------------------------------------------------------------------------------------

-- create_virtual_market(template, title, closes_at, options): a virtual market, open at once
-- (or a draft), with a committed server seed: 32 random bytes as 64 lowercase hex characters
-- (app._new_server_seed). Only its SHA-256 is answered and shown.
--   roulette  outcomes Red, Black, Green (pockets 1..36 by colour, 0 green)
--   dice      outcomes 'Under T' and 'Over T', T = options.threshold in hundredths (1 to 9999,
--             default 5000 = 50.00); a roll below T is Under, any other Over
-- options: kind ('parimutuel', the default, or 'fixed_odds'), threshold (dice), and the options of
-- create_market but category (always 'virtual') and closes_at (the argument).
-- Callers: admins. Changes: what create_market changes, the draw row; logs
-- create_virtual_market too; notifies created (when open).
-- Raises: not_admin, invalid_argument, invalid_option.
create or replace function public.create_virtual_market(
    template text,
    title text,
    closes_at timestamptz,
    options jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_options jsonb := coalesce(create_virtual_market.options, '{}');
    v_kind text;
    v_params jsonb := '{}';
    v_threshold text;
    v_outcomes jsonb;
    v_market jsonb;
    v_seed text;
    v_draw app.virtual_draws;
begin
    if create_virtual_market.template is null
        or create_virtual_market.template not in ('roulette', 'dice') then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'template', 'value', create_virtual_market.template,
            'reason', 'roulette or dice'));
    end if;
    if create_virtual_market.closes_at is null or create_virtual_market.closes_at <= now() then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'closes_at', 'value', create_virtual_market.closes_at,
            'reason', 'a virtual market needs a closes_at in the future'));
    end if;
    if jsonb_typeof(v_options) <> 'object' then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', null, 'reason', 'options must be a JSON object'));
    end if;
    if v_options ?| array['category', 'closes_at'] then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', case when v_options ? 'category' then 'category' else 'closes_at' end,
            'reason', 'set by create_virtual_market'));
    end if;
    v_kind := app._option_text(v_options, 'kind', 'parimutuel', array['parimutuel', 'fixed_odds']);

    if create_virtual_market.template = 'roulette' then
        if v_options ? 'threshold' then
            perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
                'option', 'threshold', 'reason', 'dice only'));
        end if;
        v_outcomes := '[
            {"label": "Red", "color": "#d32f2f", "abbreviation": "R"},
            {"label": "Black", "color": "#212121", "abbreviation": "B"},
            {"label": "Green", "color": "#2e7d32", "abbreviation": "G"}
        ]';
    else
        v_params := pg_catalog.jsonb_build_object(
            'threshold', app._option_amount(v_options, 'threshold', 5000, 1, 9999));
        v_threshold := app._result_text('dice', (v_params ->> 'threshold')::integer);
        v_outcomes := pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('label', 'Under ' || v_threshold, 'abbreviation', 'U'),
            pg_catalog.jsonb_build_object('label', 'Over ' || v_threshold, 'abbreviation', 'O'));
    end if;

    v_market := public.create_market(
        create_virtual_market.title,
        v_outcomes,
        v_kind,
        (v_options - 'kind' - 'threshold') || pg_catalog.jsonb_build_object(
            'category', 'virtual', 'closes_at', create_virtual_market.closes_at));

    v_seed := app._new_server_seed();
    insert into app.virtual_draws (
        market_id, template, params, server_seed, server_seed_hash, nonce
    )
    values (
        (v_market ->> 'id')::bigint, create_virtual_market.template, v_params, v_seed,
        app._sha256_hex(v_seed), (v_market ->> 'id')::bigint
    )
    returning * into v_draw;

    perform app._audit('create_virtual_market', v_draw.market_id, null, null, null,
        pg_catalog.jsonb_build_object(
            'template', v_draw.template, 'params', v_draw.params,
            'server_seed_hash', v_draw.server_seed_hash, 'nonce', v_draw.nonce));
    return v_market || pg_catalog.jsonb_build_object(
        'template', v_draw.template, 'params', v_draw.params,
        'server_seed_hash', v_draw.server_seed_hash, 'nonce', v_draw.nonce);
end
$$;
grant execute on function public.create_virtual_market(text, text, timestamptz, jsonb)
to authenticated, service_role;

-- The scheduler -------------------------------------------------------------------------------

-- _reveal_draw: the seed of market `p_market_id` becomes readable ('settled' or 'void'), stamped
-- with this transaction; logs reveal_draw (actor_role 'scheduler') with the whole draw.
create or replace function app._reveal_draw(p_market_id bigint, p_reason text)
returns app.virtual_draws
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    update app.virtual_draws as d
    set revealed_at = now(), reveal_reason = p_reason,
        revealed_xact = pg_catalog.pg_current_xact_id()
    where d.market_id = p_market_id
    returning * into v_draw;
    perform app._audit('reveal_draw', p_market_id, null, p_reason, null,
        pg_catalog.to_jsonb(v_draw) - 'revealed_xact', 'scheduler');
    return v_draw;
end
$$;

-- _notify_revealed: the public `draw_revealed` message: the seed and what it drew.
create or replace function app._notify_revealed(p_draw app.virtual_draws)
returns void
language sql
set search_path = ''
as $$
    select app._notify_market(p_draw.market_id, 'draw_revealed', pg_catalog.jsonb_build_object(
        'template', p_draw.template,
        'server_seed', p_draw.server_seed,
        'server_seed_hash', p_draw.server_seed_hash,
        'client_seed', p_draw.client_seed,
        'nonce', p_draw.nonce,
        'result', p_draw.result,
        'winning_outcome_id', p_draw.winning_outcome_id,
        'reveal_reason', p_draw.reveal_reason))
$$;

-- settle_virtual_draws(): settle every closed virtual market whose draw is fixed, each with its
-- drawn outcome, revealing its seed in the same transaction. Each market is locked with
-- `for no key update skip locked` (one that another transaction holds waits for the next tick)
-- and settled in a subtransaction: a market that fails is rolled back alone, reported in
-- `failed` and raised as a warning, and tried again next tick; the others go on.
-- Callers: the scheduler (through scheduler_tick), never a client role.
-- Returns {drawn (ids settled), failed ([{market_id, sqlstate, error, detail}])}.
create or replace function app.settle_virtual_draws()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_outcome bigint;
    v_draw app.virtual_draws;
    v_drawn bigint[] := '{}';
    v_failed jsonb := '[]';
    v_state text;
    v_error text;
    v_detail text;
begin
    for v_id, v_outcome in
        select d.market_id, d.winning_outcome_id
        from app.virtual_draws as d
        inner join app.markets as m on d.market_id = m.id
        where d.revealed_at is null and d.client_seed is not null and m.status = 'closed'
        order by d.market_id
        for no key update of m skip locked
    loop
        begin
            v_draw := app._reveal_draw(v_id, 'settled');
            perform app._settle_market(v_id, v_outcome, null, 'scheduler');
            perform app._notify_revealed(v_draw);
            v_drawn := v_drawn || v_id;
        exception when others then
            get stacked diagnostics
                v_state = returned_sqlstate, v_error = message_text, v_detail = pg_exception_detail;
            v_failed := v_failed || pg_catalog.jsonb_build_object(
                'market_id', v_id, 'sqlstate', v_state, 'error', v_error, 'detail', v_detail);
            raise warning 'virtual market % was not settled: % %', v_id, v_error, v_detail;
        end;
    end loop;
    return pg_catalog.jsonb_build_object('drawn', to_jsonb(v_drawn), 'failed', v_failed);
end
$$;

-- reveal_void_draws(): reveal the seed of every voided virtual market (no draw will use it).
-- Done by the scheduler rather than by void_market, so that no client ever holds a transaction
-- in which a seed is readable and could still be rolled back.
-- Callers: the scheduler (through scheduler_tick), never a client role. Returns the ids.
create or replace function app.reveal_void_draws()
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_revealed bigint[] := '{}';
begin
    for v_id in
        select d.market_id
        from app.virtual_draws as d
        inner join app.markets as m on d.market_id = m.id
        where d.revealed_at is null and m.status = 'void'
        order by d.market_id
        for update of d skip locked
    loop
        perform app._notify_revealed(app._reveal_draw(v_id, 'void'));
        v_revealed := v_revealed || v_id;
    end loop;
    return v_revealed;
end
$$;

-- Reading -------------------------------------------------------------------------------------

-- _virtual_draw_rows(): every draw of a market the caller may see (drafts: admins only): the
-- commitment always, the client seed once fixed, the seed and what it drew only once revealed.
-- Read by the view public.virtual_draws; no client role reads app.virtual_draws itself.
create or replace function app._virtual_draw_rows()
returns table (
    market_id bigint,
    template text,
    params jsonb,
    status text,
    closes_at timestamptz,
    server_seed_hash text,
    nonce bigint,
    client_seed text,
    revealed boolean,
    server_seed text,
    hmac text,
    result integer,
    winning_outcome_id bigint,
    created_at timestamptz,
    drawn_at timestamptz,
    revealed_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
    select
        d.market_id,
        d.template,
        d.params,
        m.status,
        m.closes_at,
        d.server_seed_hash,
        d.nonce,
        d.client_seed,
        d.revealed_at is not null,
        case when d.revealed_at is not null then d.server_seed end,
        case when d.revealed_at is not null then d.hmac end,
        case when d.revealed_at is not null then d.result end,
        case when d.revealed_at is not null then d.winning_outcome_id end,
        d.created_at,
        d.drawn_at,
        d.revealed_at
    from app.virtual_draws as d
    inner join app.markets as m on d.market_id = m.id
    where m.status <> 'draft' or app._is_admin()
$$;

-- The provably-fair draws, one row per virtual market anyone may see (drafts: admins only).
create view public.virtual_draws with (security_invoker = true) as
select
    d.market_id,
    d.template,
    d.params,
    d.status,
    d.closes_at,
    d.server_seed_hash,
    d.nonce,
    d.client_seed,
    d.revealed,
    d.server_seed,
    d.hmac,
    d.result,
    d.winning_outcome_id,
    d.created_at,
    d.drawn_at,
    d.revealed_at
from app._virtual_draw_rows() as d;
grant select on public.virtual_draws to anon, authenticated, service_role;

-- verify_draw(market_id): everything needed to check a virtual market's draw, and the check done.
-- Always: template, params, server_seed_hash, nonce, status. Once closed: client_seed, the
-- wager_ids it was made of and client_seed_input (the exact text hashed). Once revealed
-- (settled or voided): server_seed, and recomputed here from it (not copied): hmac, result,
-- result_text, outcome (id, position, label), with checks: seed_matches_hash (sha256(seed) =
-- the commitment), client_seed_matches (sha256(client_seed_input) = client_seed), draw_matches
-- (the recomputed hmac and result = those recorded at close), outcome_matches_settlement (the
-- recomputed outcome = the settled winner; null for a void), and `verified`: all of those that
-- apply are true. Before the reveal: `revealed: false`, no seed, no draw.
-- Callers: anyone (anon included); drafts only admins. Changes: nothing.
-- Raises: market_not_found, not_virtual.
create or replace function public.verify_draw(market_id bigint)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(verify_draw.market_id);
    v_draw app.virtual_draws;
    v_input text;
    v_answer jsonb;
    v_recomputed jsonb;
    v_outcome app.outcomes;
    v_seed_ok boolean;
    v_client_ok boolean;
    v_draw_ok boolean;
    v_settled_ok boolean;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = v_market.id;
    if not found then
        perform app._fail('not_virtual', pg_catalog.jsonb_build_object('market_id', v_market.id));
    end if;
    v_answer := pg_catalog.jsonb_build_object(
        'market_id', v_market.id,
        'template', v_draw.template,
        'params', v_draw.params,
        'status', v_market.status,
        'closes_at', v_market.closes_at,
        'server_seed_hash', v_draw.server_seed_hash,
        'nonce', v_draw.nonce,
        'drawn', v_draw.client_seed is not null,
        'revealed', v_draw.revealed_at is not null);
    if v_draw.client_seed is not null then
        v_input := app._client_seed_input(v_draw.market_id, v_draw.wager_ids);
        v_answer := v_answer || pg_catalog.jsonb_build_object(
            'client_seed', v_draw.client_seed,
            'wager_ids', to_jsonb(v_draw.wager_ids),
            'client_seed_input', v_input,
            'hmac_message', v_draw.client_seed || ':' || v_draw.nonce::text,
            'drawn_at', v_draw.drawn_at);
    end if;
    if v_draw.revealed_at is null then
        return v_answer;
    end if;

    v_seed_ok := app._sha256_hex(v_draw.server_seed) = v_draw.server_seed_hash;
    v_answer := v_answer || pg_catalog.jsonb_build_object(
        'server_seed', v_draw.server_seed,
        'revealed_at', v_draw.revealed_at,
        'reveal_reason', v_draw.reveal_reason,
        'seed_matches_hash', v_seed_ok);
    if v_draw.client_seed is null then
        -- voided before it closed: nothing was drawn
        return v_answer || pg_catalog.jsonb_build_object('verified', v_seed_ok);
    end if;

    v_client_ok := app._sha256_hex(v_input) = v_draw.client_seed;
    v_recomputed := app._virtual_draw(
        v_draw.template, v_draw.params, v_draw.server_seed, v_draw.client_seed, v_draw.nonce);
    select * into v_outcome
    from app.outcomes as o
    where o.market_id = v_market.id and o.position = (v_recomputed ->> 'position')::smallint;
    v_draw_ok := v_recomputed ->> 'hmac' = v_draw.hmac
        and (v_recomputed ->> 'result')::integer = v_draw.result
        and v_outcome.id = v_draw.winning_outcome_id;
    if v_market.status = 'settled' then
        v_settled_ok := v_outcome.id = v_market.winning_outcome_id;
    end if;
    return v_answer || pg_catalog.jsonb_build_object(
        'client_seed_matches', v_client_ok,
        'hmac', v_recomputed -> 'hmac',
        'result', v_recomputed -> 'result',
        'result_text', app._result_text(v_draw.template, (v_recomputed ->> 'result')::integer),
        'outcome', pg_catalog.jsonb_build_object(
            'outcome_id', v_outcome.id, 'position', v_outcome.position, 'label', v_outcome.label),
        'draw_matches', v_draw_ok,
        'settled_outcome_id', v_market.winning_outcome_id,
        'outcome_matches_settlement', v_settled_ok,
        'verified', v_seed_ok and v_client_ok and v_draw_ok and coalesce(v_settled_ok, true));
end
$$;
grant execute on function public.verify_draw(bigint) to anon, authenticated, service_role;
