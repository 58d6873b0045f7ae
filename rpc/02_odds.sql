-- Market math: odds, caps and shares, as pure functions, and the live quote of every outcome.
--
-- Fixed odds (BetMarket, generalised to N outcomes), with T the accepted stakes per outcome:
--   odd_i = 1 + (sum over j != i of (T_j + V)) / (T_i + V) * (1 - c)        rounded to 4 decimals
--   cap_i = max(min_cap, (sum T + M - L_i) / (odd_i - 1))                   floored to a minor unit
-- Parimutuel (DBGP): net_pool = total * (1 - rake), odds_i = net_pool / pool_i (none while empty).
-- Share of an outcome: pool_i / total (0 while the market is empty).

-- The functions of this file run for every quote, placement and market message, several times
-- each, so they carry no `set search_path`: a SET stops the planner from inlining a function into
-- the expression that calls it, and a call that is not inlined costs a small query of its own
-- (docs/performance.md, "A leaner placement, second round"). Every function and operator in them
-- is schema-qualified instead, so no search_path can change them (as rpc/02_market_facts.sql). A
-- qualified operator, `operator(pg_catalog.+)`, has one precedence whatever the operator, lower
-- than `*` and `/` and left to right: hence the brackets around every step. Each formula is
-- written plainly in the comment above its function.

-- The fixed odds of an outcome with `p_pool` of `p_total` staked, in a market of `p_outcomes`:
--   round(1 + ((p_total - p_pool) + (p_outcomes - 1) * p_virtual_stake)::numeric
--       / (p_pool + p_virtual_stake) * (10000 - p_commission_bps) / 10000, 4)
create or replace function app._fixed_odds(
    p_pool bigint,
    p_total bigint,
    p_outcomes integer,
    p_virtual_stake bigint,
    p_commission_bps integer
)
returns numeric
language sql immutable parallel safe
as $$
    select pg_catalog.round(
        1 operator(pg_catalog.+) (
            (
                (
                    (p_total operator(pg_catalog.-) p_pool)
                    operator(pg_catalog.+)
                    ((p_outcomes operator(pg_catalog.-) 1) operator(pg_catalog.*) p_virtual_stake)
                )::numeric
                operator(pg_catalog./) (p_pool operator(pg_catalog.+) p_virtual_stake)
            )
            operator(pg_catalog.*) (10000 operator(pg_catalog.-) p_commission_bps)
            operator(pg_catalog./) 10000
        ),
        4)
$$;

-- The cap of an outcome: the largest stake whose promised payout keeps the book within margin M.
-- Odds of exactly 1 promise no winnings, so nothing limits the stake but the minimum cap rule.
-- A cap above 10^15 (the largest stake place_wager takes) says no more, and is held there so that
-- odds barely above 1 cannot push it past bigint:
--   greatest(p_min_cap,
--       case when p_odds > 1 then least(div(p_total + p_margin - p_liability, p_odds - 1), 1e15) end)
create or replace function app._fixed_cap(
    p_total bigint,
    p_margin bigint,
    p_liability bigint,
    p_odds numeric,
    p_min_cap bigint
)
returns bigint
language sql immutable parallel safe
as $$
    select greatest(
        p_min_cap,
        case
            when p_odds operator(pg_catalog.>) 1
                then least(
                    pg_catalog.div(
                        (p_total operator(pg_catalog.+) p_margin) operator(pg_catalog.-) p_liability,
                        p_odds operator(pg_catalog.-) 1),
                    1e15)::bigint
        end
    )
$$;

-- The parimutuel odds of an outcome: the net pool shared by its pool; null while nothing is on it:
--   case when p_pool > 0 then round(p_total::numeric * (10000 - p_rake_bps) / 10000 / p_pool, 4) end
create or replace function app._pari_odds(p_pool bigint, p_total bigint, p_rake_bps integer)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_pool operator(pg_catalog.>) 0
        then pg_catalog.round(
            p_total::numeric operator(pg_catalog.*) (10000 operator(pg_catalog.-) p_rake_bps)
            operator(pg_catalog./) 10000
            operator(pg_catalog./) p_pool,
            4)
    end
$$;

-- An outcome's share of the pool, 0 to 1:
--   case when p_total > 0 then round(p_pool::numeric / p_total, 6) else 0 end
create or replace function app._share(p_pool bigint, p_total bigint)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_total operator(pg_catalog.>) 0
        then pg_catalog.round(p_pool::numeric operator(pg_catalog./) p_total, 6)
        else 0
    end
$$;

-- The odds of an outcome in a market of kind `p_kind`: fixed odds (_fixed_odds) or parimutuel
-- (_pari_odds). One composition for the views, the quotes and the market messages.
create or replace function app._odds(
    p_kind text,
    p_pool bigint,
    p_total bigint,
    p_outcomes integer,
    p_virtual_stake bigint,
    p_commission_bps integer,
    p_rake_bps integer
)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_kind operator(pg_catalog.=) 'fixed_odds'
        then app._fixed_odds(p_pool, p_total, p_outcomes, p_virtual_stake, p_commission_bps)
        else app._pari_odds(p_pool, p_total, p_rake_bps)
    end
$$;

-- The cap of an outcome in a market of kind `p_kind`: _fixed_cap for fixed odds, none (null) for
-- parimutuel.
create or replace function app._cap(
    p_kind text,
    p_total bigint,
    p_margin bigint,
    p_liability bigint,
    p_odds numeric,
    p_min_cap bigint
)
returns bigint
language sql immutable parallel safe
as $$
    select case when p_kind operator(pg_catalog.=) 'fixed_odds'
        then app._fixed_cap(p_total, p_margin, p_liability, p_odds, p_min_cap)
    end
$$;

-- Every outcome's live quote. Read by the public views (as the caller, so RLS applies), by
-- place_wager and preview_wager, and by the market messages.
create or replace view app.outcome_quotes with (security_invoker = true) as
with priced as (
    select
        o.id as outcome_id,
        o.market_id,
        o.position,
        o.label,
        o.color,
        o.abbreviation,
        o.pool,
        o.liability,
        o.wager_count,
        m.kind,
        m.status,
        m.total_pool,
        m.version as market_version,
        m.margin,
        m.min_cap,
        app._odds(
            m.kind, o.pool, m.total_pool, m.outcome_count, m.virtual_stake, m.commission_bps,
            m.rake_bps
        ) as odds
    from app.outcomes as o
    inner join app.markets as m on o.market_id = m.id
)

select
    p.outcome_id,
    p.market_id,
    p.position,
    p.label,
    p.color,
    p.abbreviation,
    p.pool,
    p.liability,
    p.wager_count,
    p.kind,
    p.status,
    p.total_pool,
    p.market_version,
    app._share(p.pool, p.total_pool) as share,
    p.odds,
    app._cap(p.kind, p.total_pool, p.margin, p.liability, p.odds, p.min_cap) as cap
from priced as p;

-- _market_message_at: _market_message for a market in the state given: the market's row (its
-- version, status and total pool) and its outcomes' ids, positions, pools, liabilities and wager
-- counts, in position order. A batch of wagers (app._place_wagers) tells each wager's market
-- numbers from the state it left before anything is written. Odds, caps and shares come from the
-- functions the views use (_odds, _cap, _share).
create or replace function app._market_message_at(
    p_market app.markets,
    p_ids bigint[],
    p_positions integer[],
    p_pools bigint[],
    p_liabilities bigint[],
    p_counts integer[]
)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'market_id', p_market.id,
        'version', p_market.version,
        'status', p_market.status,
        'kind', p_market.kind,
        'betmarket_game', app._betmarket_game(p_market.kind, p_market.outcome_count),
        'total_pool', p_market.total_pool,
        'outcomes', (
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', q.id,
                'position', q.position,
                'pool', q.pool,
                'share', app._share(q.pool, p_market.total_pool),
                'odds', q.odds,
                'cap', app._cap(
                    p_market.kind, p_market.total_pool, p_market.margin, q.liability, q.odds,
                    p_market.min_cap
                ),
                'wager_count', q.wager_count
            ) order by q.position)
            from (
                select
                    o.id, o.position, o.pool, o.liability, o.wager_count,
                    app._odds(
                        p_market.kind, o.pool, p_market.total_pool, p_market.outcome_count,
                        p_market.virtual_stake, p_market.commission_bps, p_market.rake_bps
                    ) as odds
                from unnest(p_ids, p_positions, p_pools, p_liabilities, p_counts)
                    as o (id, position, pool, liability, wager_count)
            ) as q
        )
    )
$$;

-- _market_message: the numbers of a market for live messages and answers: version, status, pool,
-- and per outcome its pool, share, odds and cap. No titles or labels, so that a message stays
-- small (every socket of the market is sent it); clients read those once from the views.
create or replace function app._market_message(p_market_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select app._market_message_at(
        m,
        array_agg(o.id order by o.position),
        array_agg(o.position::integer order by o.position),
        array_agg(o.pool order by o.position),
        array_agg(o.liability order by o.position),
        array_agg(o.wager_count order by o.position)
    )
    from app.markets as m
    inner join app.outcomes as o on m.id = o.market_id
    where m.id = p_market_id
    group by m.id
$$;

-- _notify_market: tell everyone that market `p_market_id` changed (`p_type`: created, opened,
-- odds, closed, settled, unsettled, voided, draw_revealed, settlement_confirmation), with its
-- current numbers.
create or replace function app._notify_market(p_market_id bigint, p_type text, p_extra jsonb default '{}')
returns void
language sql
set search_path = ''
as $$
    select app._notify('wagerbase_market',
        pg_catalog.jsonb_build_object('type', p_type) || app._market_message(p_market_id) || p_extra)
$$;
