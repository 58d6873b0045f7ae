-- What a market is and whether it takes wagers now: the facts every surface reads instead of
-- deciding them again. The markets view publishes them as columns (accepting_wagers,
-- betmarket_game), the market messages carry betmarket_game, and the engine refuses a wager by
-- the same function that the view shows (app._open_refusal).
--
-- Both are security invoker and run on every placement, so they carry no `set search_path`: a SET
-- stops the planner from inlining a function into the query or expression that calls it. Every
-- name and operator in them is schema-qualified instead, so no search_path can change them.

-- _accepting_wagers: whether a market with this status and closing time takes wagers now: it is
-- open, and its closes_at (if any) is still ahead. Callers: the markets view, app._open_refusal.
-- Changes: nothing. Raises: nothing.
create or replace function app._accepting_wagers(p_status text, p_closes_at timestamptz)
returns boolean
language sql stable
as $$
    select p_status operator(pg_catalog.=) 'open'
        and (p_closes_at is null or p_closes_at operator(pg_catalog.>) pg_catalog.now())
$$;

-- _betmarket_game: whether a market of this kind and number of outcomes is what BetMarket's
-- surfaces (/api, /ws) call a game: a fixed-odds market of two outcomes. Callers: the markets
-- view, app._market_message_at. Changes: nothing. Raises: nothing.
create or replace function app._betmarket_game(p_kind text, p_outcome_count integer)
returns boolean
language sql immutable
as $$
    select p_kind operator(pg_catalog.=) 'fixed_odds' and p_outcome_count operator(pg_catalog.=) 2
$$;
