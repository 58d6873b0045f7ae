-- Wagers: quoting, placing, and the approval of held wagers.

-- _quote: what a stake of `p_stake` on outcome `p_outcome_id` would get now (_quote_at, from the
-- outcome's row), for preview_wager. A placement calls _quote_at on the outcome it read under the
-- market's lock: one computation, so a preview and a placement can never disagree.
-- Raises: invalid_amount, outcome_not_found.
create or replace function app._quote(p_market app.markets, p_outcome_id bigint, p_stake bigint)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_refusal jsonb := app._stake_refusal(p_stake);
    v_outcome app.outcomes;
begin
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
    select * into v_outcome
    from app.outcomes as o
    where o.id = p_outcome_id and o.market_id = p_market.id;
    if not found then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id));
    end if;
    return app._quote_at(
        p_market, v_outcome.id, v_outcome.position, v_outcome.pool, v_outcome.liability, p_stake);
end
$$;

-- _stake_refusal: the refusal of a stake no wager may have (missing, zero or negative, or above
-- 10^15), or null for a stake that may be quoted.
create or replace function app._stake_refusal(p_stake bigint)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
    if p_stake is null or p_stake <= 0 then
        return app._refusal('invalid_amount', pg_catalog.jsonb_build_object('stake', p_stake));
    end if;
    if p_stake > 1e15 then
        -- 10 trillion units: far beyond any wallet, and it keeps every pool sum within bigint
        return app._refusal('invalid_amount', pg_catalog.jsonb_build_object(
            'stake', p_stake, 'maximum', 1e15, 'reason', 'too large'));
    end if;
    return null;
end
$$;

-- _quote_at: the quote of a stake of `p_stake` (a valid one: _stake_refusal) on an outcome in the
-- state given: the market's row (its total pool and version as they stand) and the outcome's id,
-- position, pool and liability. Odds, caps and shares come from the functions the views use
-- (rpc/02_odds.sql). Keys:
--   baseline_odds   the outcome's odds before the stake
--   effective_odds  the odds the stake gets: fixed odds lock the baseline; parimutuel includes the
--                   stake itself in the pools
--   odds_after      the outcome's odds once the stake is in (what the next bettor sees)
--   price_impact_pp how far the stake moves the outcome's share of the pool, in points
--   estimated_payout floor(stake * effective_odds); certain for fixed odds
--   max_payout      the most the wager can pay: the locked payout (fixed odds), or the market's
--                   per-wager ceiling (parimutuel, where later wagers still move the payout;
--                   placement checks the ceiling against the estimate)
--   cap             the largest stake allowed now (fixed odds; null for parimutuel)
--   takeout         the part of the stake the rake takes (parimutuel; 0 for fixed odds)
-- Raises: nothing.
create or replace function app._quote_at(
    p_market app.markets,
    p_outcome_id bigint,
    p_position integer,
    p_pool bigint,
    p_liability bigint,
    p_stake bigint
)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
    v_odds numeric := app._odds(p_market.kind, p_pool, p_market.total_pool, p_market.outcome_count,
        p_market.virtual_stake, p_market.commission_bps, p_market.rake_bps);
    v_share numeric := app._share(p_pool, p_market.total_pool);
    v_share_after numeric := app._share(p_pool + p_stake, p_market.total_pool + p_stake);
    v_effective numeric;
    v_odds_after numeric;
    v_payout numeric;
begin
    if p_market.kind = 'fixed_odds' then
        v_effective := v_odds;
        v_odds_after := app._fixed_odds(p_pool + p_stake, p_market.total_pool + p_stake,
            p_market.outcome_count, p_market.virtual_stake, p_market.commission_bps);
    else
        v_effective := app._pari_odds(p_pool + p_stake, p_market.total_pool + p_stake,
            p_market.rake_bps);
        v_odds_after := v_effective;
    end if;
    v_payout := floor(p_stake * v_effective);

    return pg_catalog.jsonb_build_object(
        'market_id', p_market.id,
        'outcome_id', p_outcome_id,
        'position', p_position,
        'kind', p_market.kind,
        'stake', p_stake,
        'baseline_odds', v_odds,
        'effective_odds', v_effective,
        'odds_after', v_odds_after,
        'share_before', v_share,
        'share_after', v_share_after,
        'price_impact_pp', round((v_share_after - v_share) * 100, 4),
        'implied_probability', round(1 / v_effective, 6),
        'estimated_payout', v_payout,
        'max_payout', case when p_market.kind = 'fixed_odds' then v_payout else p_market.max_payout end,
        'payout_ceiling', p_market.max_payout,
        'cap', app._cap(p_market.kind, p_market.total_pool, p_market.margin, p_liability, v_odds,
            p_market.min_cap),
        'takeout', case when p_market.kind = 'parimutuel'
            then floor(p_stake::numeric * p_market.rake_bps / 10000) else 0 end,
        'market_version', p_market.version
    );
end
$$;

-- _require_open: refuse a wager or a quote unless the market is open and before its closes_at.
-- Raises: market_not_open.
create or replace function app._require_open(p_market app.markets)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_refusal jsonb := app._open_refusal(p_market);
begin
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
end
$$;

-- _open_refusal: market_not_open's refusal unless the market takes wagers now
-- (app._accepting_wagers: open, and before its closes_at); null when it does.
create or replace function app._open_refusal(p_market app.markets)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
    if not app._accepting_wagers(p_market.status, p_market.closes_at) then
        return app._refusal('market_not_open', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'status', p_market.status, 'closes_at', p_market.closes_at));
    end if;
    return null;
end
$$;

-- _visible_market: a market the caller may see (drafts only for admins), not locked.
-- Raises: market_not_found.
create or replace function app._visible_market(p_market_id bigint)
returns app.markets
language plpgsql stable
set search_path = ''
as $$
declare
    v_market app.markets;
begin
    select * into v_market from app.markets as m where m.id = p_market_id;
    if not found or (v_market.status = 'draft' and not app._is_admin()) then
        perform app._fail('market_not_found', pg_catalog.jsonb_build_object('market_id', p_market_id));
    end if;
    return v_market;
end
$$;

-- preview_wager(market_id, outcome_id, stake): the quote a stake would get now (see _quote),
-- plus the caller's balance when signed in. Records a signed-in caller's quote in the telemetry.
-- Callers: anyone (anon included). Changes: one quote_telemetry row (signed-in callers).
-- Raises: market_not_found, market_not_open, outcome_not_found, invalid_amount, unknown_user (a
-- signed-in caller whose user does not exist or was deleted).
create or replace function public.preview_wager(market_id bigint, outcome_id bigint, stake bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(preview_wager.market_id);
    v_quote jsonb;
    v_user uuid := auth.uid();
begin
    perform app._require_open(v_market);
    v_quote := app._quote(v_market, preview_wager.outcome_id, preview_wager.stake);

    -- signed-in callers only: an anonymous caller could otherwise grow the table without end
    if v_user is not null then
        insert into app.quote_telemetry (
            market_id, outcome_id, user_id, stake, baseline_odds, effective_odds,
            price_impact_pp, share_after
        )
        values (
            v_market.id, preview_wager.outcome_id, v_user, preview_wager.stake,
            (v_quote ->> 'baseline_odds')::numeric, (v_quote ->> 'effective_odds')::numeric,
            (v_quote ->> 'price_impact_pp')::numeric, (v_quote ->> 'share_after')::numeric
        );
    end if;

    return v_quote || pg_catalog.jsonb_build_object('balance', (
        select a.balance from app.accounts as a where a.user_id = v_user
    ));
end
$$;
grant execute on function public.preview_wager(bigint, bigint, bigint)
to anon, authenticated, service_role;

-- _wager_row: a wager as JSON, for answers, messages and the audit log.
create or replace function app._wager_row(p_wager_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(w) || pg_catalog.jsonb_build_object('position', o.position)
    from app.wagers as w
    inner join app.outcomes as o on w.outcome_id = o.id
    where w.id = p_wager_id
$$;

-- _accept_into_pool: a wager of `p_stake` on `p_outcome_id` joins the pool (and, for fixed odds,
-- its promised payout `p_payout` joins the outcome's liability); the market's version moves and
-- everyone is told. Returns the `odds` message it sent; its version is the wager's
-- accepted_version.
drop function if exists app._accept_into_pool(app.wagers);
create or replace function app._accept_into_pool(
    p_market_id bigint,
    p_outcome_id bigint,
    p_stake bigint,
    p_payout bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_message jsonb;
begin
    update app.outcomes as o
    set pool = o.pool + p_stake,
        liability = o.liability + coalesce(p_payout, 0),
        wager_count = o.wager_count + 1
    where o.id = p_outcome_id;
    update app.markets as m
    set total_pool = m.total_pool + p_stake, version = m.version + 1
    where m.id = p_market_id;
    v_message := pg_catalog.jsonb_build_object('type', 'odds') || app._market_message(p_market_id);
    perform app._notify('wagerbase_market', v_message);
    return v_message;
end
$$;

-- _quote_refusal: the refusal of a wager of `p_stake` on outcome `p_outcome_id` of `p_market` at
-- the quote it would get (app._quote_at), in the order placement checks them: odds_changed (the
-- quote's odds more than `p_tolerance` from `p_expected_odds`, when given), stake_above_cap
-- (fixed odds), payout_above_maximum (the market's per-wager ceiling); null when none applies.
-- Callers: public.place_wager, app._place_wagers. Changes: nothing. Raises: nothing.
create or replace function app._quote_refusal(
    p_market app.markets,
    p_outcome_id bigint,
    p_stake bigint,
    p_expected_odds numeric,
    p_tolerance numeric,
    p_quote jsonb
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v_odds numeric := (p_quote ->> 'effective_odds')::numeric;
    v_payout numeric := (p_quote ->> 'estimated_payout')::numeric;
begin
    if p_expected_odds is not null and abs(p_expected_odds - v_odds) > p_tolerance then
        return app._refusal('odds_changed', p_quote || pg_catalog.jsonb_build_object(
            'expected_odds', p_expected_odds, 'current_odds', v_odds, 'tolerance', p_tolerance));
    end if;
    if p_market.kind = 'fixed_odds' and p_stake > (p_quote ->> 'cap')::bigint then
        return app._refusal('stake_above_cap', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id,
            'stake', p_stake, 'cap', (p_quote -> 'cap'), 'odds', v_odds));
    end if;
    if v_payout > p_market.max_payout then
        return app._refusal('payout_above_maximum', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'stake', p_stake,
            'payout', v_payout, 'max_payout', p_market.max_payout));
    end if;
    return null;
end
$$;

-- _funds_refusal: the refusal of a stake of `p_stake` by a user whose wallet holds `p_balance`,
-- who has a limits row (`p_limited`) with a daily stake limit `p_limit` of which `p_used` is
-- used (app.play_limits_in_force): daily_stake_limit_reached, then insufficient_funds; null when
-- neither applies (app._require_within_stake_limit's rule, exactly at the limit allowed).
-- Callers: public.place_wager, app._place_wagers. Changes: nothing. Raises: nothing.
create or replace function app._funds_refusal(
    p_limited boolean, p_limit bigint, p_used bigint, p_balance bigint, p_stake bigint
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_limited and p_limit is not null and p_used + p_stake > p_limit then
        return app._refusal('daily_stake_limit_reached', pg_catalog.jsonb_build_object(
            'limit', p_limit, 'used', p_used, 'stake', p_stake));
    end if;
    if p_balance < p_stake then
        return app._refusal('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', p_balance, 'stake', p_stake));
    end if;
    return null;
end
$$;

-- place_wager(market_id, outcome_id, stake, expected_odds, idempotency_key): stake on an outcome.
-- expected_odds: the odds the user was shown; when the live odds differ by more than the
-- tolerance (0.01) the wager is refused with the current quote. Fixed odds compare the locked
-- odds; parimutuel the effective odds. Without it, the wager takes the live odds, which it returns.
-- Fixed odds lock the odds and the payout; the stake must be within the outcome's cap; the payout
-- within the market's ceiling. A market that requires approval holds the stake in escrow with
-- the wager pending, out of the public pool, until an admin approves or rejects it.
-- A wager alone is decided here, statement by statement on the rows; a batch of wagers on one
-- market (server.place_wagers, which the API uses for a hot market) by app._place_wagers
-- (rpc/31_placement.sql), in memory and written set-based, with the same rules in the same order
-- (the refusals of app._open_refusal, app._stake_refusal, app._quote_refusal, app._funds_refusal)
-- and the same answers: tests/db/test_batched_placement.py replays sequences with every refusal
-- both ways and compares every answer and the books. A change to a rule changes both.
-- Three statements (docs/performance.md, "A leaner placement, second round"): the market locked
-- and read with the caller's limits, wallet, the market's escrow and the odds tolerance; the
-- outcomes read and the wallet and the escrow locked; then, the checks made in memory, everything
-- written in one statement: pools, market, wager, its stake posted as app._post_transaction posts
-- two accounts, its messages and its idempotency key's answer.
-- Callers: authenticated. Changes: the wager, a 'stake' ledger transaction (wallet -> escrow), the
-- pools; notifies odds (if accepted), wager_placed, balance, and admins of a pending wager.
-- Returns the wager with the quote it got, the new balance and the market's numbers.
-- Responsible play (rpc/15_limits.sql): refused during a self-exclusion and above the daily
-- stake limit (pending wagers count).
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- market_not_found, market_not_open, outcome_not_found, invalid_amount, odds_changed,
-- stake_above_cap, payout_above_maximum, insufficient_funds, self_excluded,
-- daily_stake_limit_reached.
create or replace function public.place_wager(
    market_id bigint,
    outcome_id bigint,
    stake bigint,
    expected_odds numeric default null,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_user uuid := auth.uid();
    v_replay jsonb;
    v_locked record;
    v_limits app.play_limits;
    v_market app.markets;
    v_wallet bigint;
    v_escrow bigint;
    v_tolerance numeric;
    -- the market's outcomes in position order, and the place of the wager's among them
    v_ids bigint[];
    v_positions integer[];
    v_pools bigint[];
    v_liabilities bigint[];
    v_counts integer[];
    o integer;
    -- the wallet's balance, as locked
    v_balance bigint;
    v_limit bigint;
    v_used bigint;
    v_refusal jsonb;
    v_quote jsonb;
    v_payout numeric;
    v_numbers jsonb;
    v_result jsonb;
begin
    if v_user is null then
        perform app._fail('not_authenticated');
    end if;
    if place_wager.idempotency_key is not null then
        v_replay := app._idempotency_begin(v_user, place_wager.idempotency_key, 'place_wager',
            pg_catalog.jsonb_build_object(
                'market_id', place_wager.market_id, 'outcome_id', place_wager.outcome_id,
                'stake', place_wager.stake, 'expected_odds', place_wager.expected_odds));
        if v_replay is not null then
            return v_replay;
        end if;
    end if;

    -- the market, locked and read in one statement with what does not change under its lock: the
    -- caller's limits row (responsible play, rpc/15_limits.sql), wallet, the escrow, the tolerance
    select m as market, l as limits, w.id as wallet, e.id as escrow, c.odds_tolerance
    into v_locked
    from app.markets as m
    cross join app.config as c
    left join app.play_limits as l on l.user_id = v_user
    left join app.accounts as w on w.user_id = v_user
    left join app.accounts as e on m.id = e.market_id
    where m.id = place_wager.market_id
    for no key update of m;
    if found then
        v_market := v_locked.market;
        v_limits := v_locked.limits;
        v_wallet := v_locked.wallet;
        v_escrow := v_locked.escrow;
        v_tolerance := v_locked.odds_tolerance;
    else
        select * into v_limits from app.play_limits as l where l.user_id = v_user;
    end if;
    -- a self-excluded user places nothing; a draft is none of a bettor's business
    if v_limits.self_excluded_until > now() then
        perform app._fail('self_excluded',
            pg_catalog.jsonb_build_object('until', v_limits.self_excluded_until));
    end if;
    if v_market.id is null or (v_market.status = 'draft' and not app._is_admin()) then
        perform app._fail('market_not_found',
            pg_catalog.jsonb_build_object('market_id', place_wager.market_id));
    end if;
    -- after the market lock (global order: market, then accounts): a first wallet's grant would
    -- otherwise hold the grants account while waiting for a busy market, stalling every sign-up
    if v_wallet is null then
        v_wallet := app._ensure_wallet(v_user);
    end if;

    -- the outcomes as the market's lock keeps them (a statement after the lock, so that it sees
    -- the placements it waited for), and the wallet and the escrow locked in id order, the
    -- wallet's balance read under that lock
    select q.ids, q.positions, q.pools, q.liabilities, q.counts, k.balance
    into v_ids, v_positions, v_pools, v_liabilities, v_counts, v_balance
    from (
        select max(a.balance) filter (where a.id = v_wallet) as balance
        from (
            select a.id, a.balance from app.accounts as a
            where a.id in (v_wallet, v_escrow) order by a.id for update
        ) as a
    ) as k
    cross join (
        select
            array_agg(t.id order by t.position) as ids,
            array_agg(t.position::integer order by t.position) as positions,
            array_agg(t.pool order by t.position) as pools,
            array_agg(t.liability order by t.position) as liabilities,
            array_agg(t.wager_count order by t.position) as counts
        from app.outcomes as t
        where t.market_id = v_market.id
    ) as q;

    v_refusal := coalesce(app._open_refusal(v_market), app._stake_refusal(place_wager.stake));
    if v_refusal is null then
        o := array_position(v_ids, place_wager.outcome_id);
        if o is null then
            v_refusal := app._refusal('outcome_not_found', pg_catalog.jsonb_build_object(
                'market_id', v_market.id, 'outcome_id', place_wager.outcome_id));
        end if;
    end if;
    if v_refusal is null then
        v_quote := app._quote_at(
            v_market, v_ids[o], v_positions[o], v_pools[o], v_liabilities[o], place_wager.stake);
        v_refusal := app._quote_refusal(v_market, place_wager.outcome_id, place_wager.stake,
            place_wager.expected_odds, v_tolerance, v_quote);
    end if;
    if v_refusal is null then
        -- the daily stake limit, summed under the wallet lock so that this user's concurrent
        -- placements are counted one after another; only for a user with a limits row
        if v_limits.user_id is not null then
            select f.daily_stake_limit, f.stake_used into v_limit, v_used
            from app.play_limits_in_force as f
            where f.user_id = v_user;
        end if;
        v_refusal := app._funds_refusal(
            v_limits.user_id is not null, v_limit, v_used, v_balance, place_wager.stake);
    end if;
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;

    -- accepted: the market's numbers after it (app._market_message_at, as a batch tells them)
    v_payout := (v_quote ->> 'estimated_payout')::numeric;
    if not v_market.requires_approval then
        v_pools[o] := v_pools[o] + place_wager.stake;
        if v_market.kind = 'fixed_odds' then
            v_liabilities[o] := v_liabilities[o] + v_payout::bigint;
        end if;
        v_counts[o] := v_counts[o] + 1;
        v_market.total_pool := v_market.total_pool + place_wager.stake;
        v_market.version := v_market.version + 1;
    end if;
    v_numbers := app._market_message_at(
        v_market, v_ids, v_positions, v_pools, v_liabilities, v_counts);

    -- written in one statement: the pools and the market's version; the wager; its stake posted
    -- from the wallet to the escrow, as app._post_transaction posts two accounts (a
    -- 'stake' transaction, each balance and version moved by one, an entry each with the balance
    -- before and after; the accounts are locked above, in id order, and the ledger's trigger
    -- checks the entries balance); the messages in the order a reader is told them (odds,
    -- balance, wager_pending to admins when the wager waits for approval, wager_placed); the
    -- answer, kept for a replay of the idempotency key (app._idempotency_finish)
    with pooled as (
        update app.outcomes as t
        set pool = t.pool + place_wager.stake,
            liability = t.liability
                + case when v_market.kind = 'fixed_odds' then v_payout::bigint else 0 end,
            wager_count = t.wager_count + 1
        where t.id = place_wager.outcome_id and not v_market.requires_approval
    ),
    versioned as (
        update app.markets as m
        set total_pool = m.total_pool + place_wager.stake, version = m.version + 1
        where m.id = v_market.id and not v_market.requires_approval
        returning m.version
    ),
    placed as (
        insert into app.wagers (
            user_id, market_id, outcome_id, stake, odds, potential_payout, expected_odds,
            approval, accepted_version, idempotency_key
        )
        values (
            v_user, v_market.id, place_wager.outcome_id, place_wager.stake,
            (v_quote ->> 'effective_odds')::numeric,
            case when v_market.kind = 'fixed_odds' then v_payout::bigint end,
            place_wager.expected_odds,
            case when v_market.requires_approval then 'pending' else 'accepted' end,
            (select v.version from versioned as v),
            place_wager.idempotency_key
        )
        returning *
    ),
    posted as (
        insert into app.ledger_transactions (kind, market_id, wager_id, actor)
        select 'stake', v_market.id, p.id, v_user
        from placed as p
        returning id, wager_id
    ),
    moved as (
        update app.accounts as a
        set balance = a.balance + d.delta, version = a.version + 1
        from (
            values (v_wallet, -place_wager.stake), (v_escrow, place_wager.stake)
        ) as d (account_id, delta)
        where a.id = d.account_id
        returning a.id, a.user_id, a.balance, a.version, d.delta
    ),
    written as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, market_id,
            amount, balance_before, balance_after, account_version
        )
        select t.id, m.id, m.user_id, 'stake', v_market.id,
               m.delta, m.balance - m.delta, m.balance, m.version
        from moved as m
        cross join posted as t
        returning transaction_id, account_id, user_id, amount, balance_after, account_version
    ),
    shown as (
        -- the wager as app._wager_row shows it, from the row just written
        select
            p.id, p.approval,
            to_jsonb(p) || pg_catalog.jsonb_build_object('position', v_quote -> 'position') as row
        from placed as p
    ),
    told as (
        insert into app.events (channel, payload)
        select e.channel, e.payload
        from (
            select 1 as rank, 'wagerbase_market' as channel,
                   pg_catalog.jsonb_build_object('type', 'odds') || v_numbers as payload
            where not v_market.requires_approval
            union all
            select 2, 'wagerbase_user', pg_catalog.jsonb_build_object(
                'user_id', w.user_id, 'balance', w.balance_after,
                'version', w.account_version, 'delta', w.amount,
                'type', 'balance', 'reason', 'stake', 'transaction_id', w.transaction_id,
                'market_id', v_market.id, 'wager_id', t.wager_id)
            from written as w
            cross join posted as t
            where w.user_id is not null
            union all
            select 3, 'wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_pending') || s.row
            from shown as s
            where s.approval = 'pending'
            union all
            select 4, 'wagerbase_user', pg_catalog.jsonb_build_object('type', 'wager_placed') || s.row
            from shown as s
        ) as e
        order by e.rank
    ),
    answered as (
        select s.row || pg_catalog.jsonb_build_object(
            'wager_id', s.id,
            'quote', v_quote,
            'balance', m.balance,
            'balance_version', m.version,
            'market', v_numbers) as result
        from shown as s
        cross join moved as m
        where m.id = v_wallet
    ),
    kept as (
        update app.idempotency_keys as k
        set result = (select r.result from answered as r)
        where place_wager.idempotency_key is not null
            and k.user_id = v_user and k.key = place_wager.idempotency_key
    )
    select r.result into v_result from answered as r;
    return v_result || '{"replayed": false}';
end
$$;
grant execute on function public.place_wager(bigint, bigint, bigint, numeric, text) to authenticated;

-- Wagers waiting for approval, with who placed them and the price impact they would have if
-- accepted now. Read through admin_list_pending_wagers only.
create or replace view app.pending_wagers with (security_invoker = true) as
select
    w.id as wager_id,
    w.market_id,
    m.title as market_title,
    w.outcome_id,
    q.label as outcome_label,
    w.user_id,
    p.username,
    u.email,
    w.stake,
    w.odds,
    w.potential_payout,
    round((app._share(q.pool + w.stake, q.total_pool + w.stake) - q.share) * 100, 4)
        as price_impact_pp,
    w.created_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcome_quotes as q on w.outcome_id = q.outcome_id
left join app.profiles as p on w.user_id = p.user_id
left join auth.users as u on w.user_id = u.id
where w.approval = 'pending';

-- admin_list_pending_wagers(market_id): the pending wagers of one market, or of all when null,
-- oldest first.
-- Callers: admins. Changes: nothing.
-- Raises: not_admin.
create or replace function public.admin_list_pending_wagers(market_id bigint default null)
returns setof app.pending_wagers
language plpgsql stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
    perform app._require_admin();
    return query
    select *
    from app.pending_wagers as pw
    where admin_list_pending_wagers.market_id is null
        or pw.market_id = admin_list_pending_wagers.market_id
    order by pw.created_at, pw.wager_id;
end
$$;
grant execute on function public.admin_list_pending_wagers(bigint) to authenticated, service_role;

-- _lock_pending_wager: lock a pending wager's market, then the wager; return the wager.
-- Raises: wager_not_found, wager_not_pending.
create or replace function app._lock_pending_wager(p_wager_id bigint)
returns app.wagers
language plpgsql
set search_path = ''
as $$
declare
    v_wager app.wagers;
begin
    select * into v_wager from app.wagers as w where w.id = p_wager_id;
    if not found then
        perform app._fail('wager_not_found', pg_catalog.jsonb_build_object('wager_id', p_wager_id));
    end if;
    perform app._lock_market(v_wager.market_id);
    select * into v_wager from app.wagers as w where w.id = p_wager_id for update;
    if v_wager.approval <> 'pending' then
        perform app._fail('wager_not_pending', pg_catalog.jsonb_build_object(
            'wager_id', p_wager_id, 'approval', v_wager.approval,
            'settlement', v_wager.settlement));
    end if;
    return v_wager;
end
$$;

-- approve_wager(wager_id): accept a held wager into the pool at the odds it locked. The stake was
-- taken at placement, so no money moves. A fixed-odds wager must still fit its outcome's cap now.
-- Callers: admins. Changes: approval pending -> accepted, the pools; logs; notifies odds,
-- wager_approved to the bettor, wager_decided to admins.
-- Raises: not_admin, wager_not_found, wager_not_pending, stake_above_cap.
create or replace function public.approve_wager(wager_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_wager app.wagers := app._lock_pending_wager(approve_wager.wager_id);
    v_market app.markets;
    v_cap bigint;
    v_message jsonb;
    v_after jsonb;
begin
    select * into v_market from app.markets as m where m.id = v_wager.market_id;
    if v_market.kind = 'fixed_odds' then
        -- the wager keeps the odds it locked, so it must fit the cap at those odds (the live cap
        -- assumes today's odds, and can let an older, better-paid wager past the margin)
        select app._fixed_cap(q.total_pool, v_market.margin, q.liability, v_wager.odds, v_market.min_cap)
        into v_cap
        from app.outcome_quotes as q
        where q.outcome_id = v_wager.outcome_id;
        if v_wager.stake > v_cap then
            perform app._fail('stake_above_cap', pg_catalog.jsonb_build_object(
                'wager_id', v_wager.id, 'stake', v_wager.stake, 'cap', v_cap));
        end if;
    end if;

    v_message := app._accept_into_pool(
        v_wager.market_id, v_wager.outcome_id, v_wager.stake, v_wager.potential_payout);
    update app.wagers as w
    set approval = 'accepted', decided_by = v_actor, decided_at = now(),
        accepted_version = (v_message ->> 'version')::bigint
    where w.id = v_wager.id;

    v_after := app._wager_row(v_wager.id);
    perform app._audit('approve_wager', v_wager.market_id, v_wager.id, null, to_jsonb(v_wager), v_after);
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object('type', 'wager_approved') || v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_decided') || v_after);
    return v_after;
end
$$;
grant execute on function public.approve_wager(bigint) to authenticated, service_role;

-- reject_wager(wager_id, reason): refuse a held wager and give its stake back.
-- Callers: admins. Changes: approval pending -> rejected, settlement -> void, a 'refund' ledger
-- transaction (escrow -> wallet); logs; notifies wager_rejected and balance to the bettor,
-- wager_decided to admins.
-- Raises: not_admin, wager_not_found, wager_not_pending.
create or replace function public.reject_wager(wager_id bigint, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_wager app.wagers := app._lock_pending_wager(reject_wager.wager_id);
    v_reason text := coalesce(nullif(btrim(reject_wager.reason), ''), 'rejected');
    v_after jsonb;
begin
    perform app._refund_wagers(v_wager.market_id, 'refund', left(v_reason, 500), true, v_wager.id,
        'wager_rejected');
    v_after := app._wager_row(v_wager.id);
    perform app._audit('reject_wager', v_wager.market_id, v_wager.id, v_reason, to_jsonb(v_wager), v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_decided') || v_after);
    return v_after;
end
$$;
grant execute on function public.reject_wager(bigint, text) to authenticated, service_role;
