-- Auto-bet (issue 18 item 5; docs/house-games.md, "Auto-bet"; migration 0028): up to
-- app.config.auto_bet_max_count bets of one one-shot house game in one call, decided in a batch,
-- each bet exactly the bet a play_<game> call would have made at its nonce.
--
-- Generic over the one-shot games: the terms and the draws are a play's (_house_bet_terms,
-- rpc/80_house_games.sql; _house_draw, rpc/79_house_rules.sql), so every game those know is
-- auto-bet as it is played.
--
-- Lock order: as a play's (rpc/80_house_games.sql): the player's seed pair, then the accounts
-- (the house's and the wallet) in id order, all held to the end of the call.

-- _auto_bet_stop: how many bets of an auto-bet of `p_count` are made, and why it stopped there,
-- given where each reason would stop it (null: never): `p_allowed` the bets the daily stake limit
-- allows, `p_broke_at` the first bet (0-based) the wallet could not pay, `p_profit_at` and
-- `p_loss_at` the first bet after which stop_on_profit or stop_on_loss was met (never both after
-- one bet: a run's profit and loss are not both positive). A stop condition met after a bet ends
-- the run before the next bet is checked; the stake limit is checked before the funds, as a play
-- checks them.
-- Returns {placed, reason: count | stop_on_profit | stop_on_loss | daily_stake_limit_reached |
-- insufficient_funds}.
create or replace function app._auto_bet_stop(
    p_count integer,
    p_allowed integer,
    p_broke_at integer,
    p_profit_at integer,
    p_loss_at integer
)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'placed', least(p_allowed, p_broke_at, p_profit_at + 1, p_loss_at + 1),
        'reason', case
            when least(p_profit_at, p_loss_at) < coalesce(p_broke_at, p_count) then
                case when p_profit_at < coalesce(p_loss_at, p_count)
                    then 'stop_on_profit' else 'stop_on_loss' end
            when p_broke_at is not null then 'insufficient_funds'
            when p_allowed < p_count then 'daily_stake_limit_reached'
            else 'count'
        end)
$$;

-- auto_bet(game, stake, params, count, idempotency_key, stop_on_profit, stop_on_loss): up to
-- `count` bets of `stake` on one-shot game `game` with the same choices `params` (as house_bets
-- stores them: dice {target, over}, limbo {target}, roulette {bet}, plinko {rows, risk}, keno
-- {picks, risk}), what an auto-bet screen
-- runs, in one call and one transaction:
--   1. the idempotency key is claimed first (a replay answers the stored result, replayed: true);
--      `count` is 1 to app.config.auto_bet_max_count, each stop 1 or more (or null: none);
--   2. the checks and terms of a play, once (app._house_bet_terms: self-exclusion, the game
--      enabled, the stake, the choices, the win above the stake and within max_profit): the
--      stake and choices are the same for every bet, so are the terms;
--   3. the seed pair is locked (made on first use), and `count` bets drawn at its next nonces,
--      one each, consecutive (_house_draw); then the wallet and the house account are locked,
--      once, in id order, as a play locks them (the draws are made before, so that the house
--      account, which every house bet updates, is held for the writes alone);
--   4. the run is cut at the first bet that would be refused, the bets before it standing: the
--      daily stake limit (house bets count with wagers), then the funds (the balance after the
--      bets before it); or after the first bet past a stop condition: stop_on_profit (the run's
--      profit, payouts less stakes, reaches it) or stop_on_loss (its loss reaches it); else
--      after `count` bets. When the first bet itself is refused the call is refused as the play
--      would be, and nothing happens;
--   5. the bets are written set-based, each as a play writes it: its payout and multiplier by
--      the play's rule (app._house_outcome), its own 'house_bet' ledger transaction (the stake
--      and payout between the wallet and the house, the entries' balances and versions one bet
--      after another; none for a bet that paid back exactly its stake, as a play), its own
--      house_bets row (id derived from its round, the call's idempotency key); the accounts'
--      balances and versions and the pair's next_nonce move once, by the run's totals.
-- One balance message for the player (reason house_bet, delta the run's profit, bets: how many,
-- transaction_id the last bet's) and one profit message for admins, at the end (none when no bet
-- moved money). Refusals roll the whole call back. Bounded by the count setting and the caller's
-- statement_timeout (8 s for authenticated): a call that runs past it rolls back whole.
-- Callers: authenticated. Changes: house bets, 'house_bet' ledger transactions, the wallet's and
-- the house's balances, the seed pair's nonce (may create the wallet and the pair).
-- Returns {game, stake, params, multiplier, chance (dice), house_edge_bps, count (asked), placed,
-- stopped (why: count, stop_on_profit, stop_on_loss, daily_stake_limit_reached or
-- insufficient_funds), seed_pair_id, server_seed_hash, client_seed, first_nonce, wagered,
-- paid, profit, balance, balance_version, bets: [{id, nonce, result, multiplier, payout, won,
-- balance, transaction_id}]}.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- invalid_argument, self_excluded, game_disabled, invalid_amount, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds (the last two only for the first bet).
create or replace function public.auto_bet(
    game text,
    stake bigint,
    params jsonb,
    count integer,
    idempotency_key text default null,
    stop_on_profit bigint default null,
    stop_on_loss bigint default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_stake bigint := auto_bet.stake;
    v_replay jsonb;
    v_maximum integer;
    v_terms jsonb;
    v_edge integer;
    v_pair app.seed_pairs;
    v_wallet bigint;
    v_house bigint := app._system_account('house');
    v_balance bigint;
    v_version bigint;
    v_house_balance bigint;
    v_house_version bigint;
    v_limit bigint;
    v_used bigint;
    v_allowed integer;
    v_results jsonb[];
    v_payouts bigint[];
    v_multipliers numeric[];
    v_stopped jsonb;
    v_placed integer;
    v_moved integer;
    v_net bigint;
    v_paid bigint;
    v_bets jsonb;
    v_last_tx bigint;
    v_result jsonb;
begin
    v_replay := app._idempotency_begin(v_user, auto_bet.idempotency_key, 'auto_bet',
        pg_catalog.jsonb_build_object(
            'game', auto_bet.game, 'stake', v_stake, 'params', auto_bet.params,
            'count', auto_bet.count, 'stop_on_profit', auto_bet.stop_on_profit,
            'stop_on_loss', auto_bet.stop_on_loss));
    if v_replay is not null then
        return v_replay;
    end if;
    select c.auto_bet_max_count into v_maximum from app.config as c;
    if auto_bet.count is null or auto_bet.count not between 1 and v_maximum then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'count', 'value', auto_bet.count, 'maximum', v_maximum,
            'reason', 'the number of bets, 1 to the setting auto_bet_max_count'));
    end if;
    if auto_bet.stop_on_profit <= 0 or auto_bet.stop_on_loss <= 0 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', case when auto_bet.stop_on_profit <= 0
                then 'stop_on_profit' else 'stop_on_loss' end,
            'reason', 'minor units, 1 or more (or null: no such stop)'));
    end if;
    v_terms := app._house_bet_terms(v_user, auto_bet.game, v_stake, auto_bet.params);
    v_edge := (v_terms ->> 'house_edge_bps')::integer;

    -- the lock order: the seed pair, then the accounts by id. The draws need only the pair's
    -- lock (its nonces are this call's from now on), so they are made before the accounts are
    -- locked: the house account, which every house bet updates, is held for the writes alone.
    v_pair := app._active_seed_pair(v_user, true);
    with drawn as materialized (  -- materialized: each bet drawn once, not once per use
        select
            g.k,
            app._house_outcome(v_stake, v_terms, app._house_draw(auto_bet.game,
                v_terms -> 'params', v_edge, v_pair.server_seed, v_pair.client_seed,
                v_pair.next_nonce + g.k)) as outcome
        from generate_series(0, auto_bet.count - 1) as g (k)
    )
    select
        pg_catalog.array_agg(d.outcome -> 'result' order by d.k),
        pg_catalog.array_agg((d.outcome ->> 'payout')::bigint order by d.k),
        pg_catalog.array_agg((d.outcome ->> 'multiplier')::numeric order by d.k)
    into v_results, v_payouts, v_multipliers
    from drawn as d;

    v_wallet := app._ensure_wallet(v_user);
    select
        max(l.balance) filter (where l.id = v_wallet),
        max(l.version) filter (where l.id = v_wallet),
        max(l.balance) filter (where l.id = v_house),
        max(l.version) filter (where l.id = v_house)
    into v_balance, v_version, v_house_balance, v_house_version
    from (
        select a.id, a.balance, a.version from app.accounts as a
        where a.id in (v_house, v_wallet) order by a.id for update
    ) as l;

    -- the first bet is refused as a play would be; later ones end the run
    select f.daily_stake_limit, f.stake_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = v_user;
    v_allowed := case when v_limit is null then auto_bet.count
        else least(auto_bet.count, greatest(0, (v_limit - v_used) / v_stake)) end;
    if v_allowed = 0 then
        perform app._require_within_stake_limit(v_user, v_stake);
    end if;
    if v_balance < v_stake then
        perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', v_balance, 'stake', v_stake));
    end if;

    -- where the limit, the funds or a stop condition end the run
    select app._auto_bet_stop(auto_bet.count, v_allowed,
        (min(r.k) filter (where v_balance + r.net - (r.payout - v_stake) < v_stake))::integer,
        (min(r.k) filter (where r.net >= auto_bet.stop_on_profit))::integer,
        (min(r.k) filter (where -r.net >= auto_bet.stop_on_loss))::integer)
    into v_stopped
    from (
        select p.k - 1 as k, p.payout, sum(p.payout - v_stake) over (order by p.k) as net
        from unnest(v_payouts[1:v_allowed]) with ordinality as p (payout, k)
    ) as r;
    v_placed := (v_stopped ->> 'placed')::integer;

    -- the bets, each its own ledger transaction (none for a bet that paid back exactly its
    -- stake: nothing moved, as a play writes it) and row, in one statement; `moved` counts the
    -- bets with a transaction so far, which the accounts' versions follow
    with bets as (
        select
            b.k - 1 as k,
            v_pair.next_nonce + b.k - 1 as nonce,
            b.result,
            b.payout,
            b.multiplier,
            app._house_bet_id(v_pair.server_seed_hash, v_pair.client_seed,
                v_pair.next_nonce + b.k - 1) as id,
            sum(b.payout - v_stake) over (order by b.k) as net,
            count(*) filter (where b.payout <> v_stake) over (order by b.k) as moved
        from unnest(v_results[1:v_placed], v_payouts[1:v_placed], v_multipliers[1:v_placed])
            with ordinality as b (result, payout, multiplier, k)
    ),
    transactions as (
        insert into app.ledger_transactions (kind, actor, memo)
        select 'house_bet', v_user, pg_catalog.jsonb_build_object(
            'house_bet_id', b.id, 'game', auto_bet.game, 'stake', v_stake, 'payout', b.payout)
        from bets as b
        where b.payout <> v_stake
        order by b.k
        returning id, memo ->> 'house_bet_id' as bet_id
    ),
    entries as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, amount, balance_before, balance_after,
            account_version
        )
        select t.id, e.account_id, e.user_id, 'house_bet', e.amount, e.after - e.amount,
            e.after, e.version
        from bets as b
        inner join transactions as t on b.id = t.bet_id
        cross join lateral (values
            (v_house, null::uuid, v_stake - b.payout, v_house_balance - b.net,
                v_house_version + b.moved),
            (v_wallet, v_user, b.payout - v_stake, v_balance + b.net, v_version + b.moved)
        ) as e (account_id, user_id, amount, after, version)
        returning transaction_id
    ),
    written as (
        insert into app.house_bets (
            id, user_id, game, seed_pair_id, server_seed_hash, client_seed, nonce, stake,
            params, house_edge_bps, result, multiplier, payout, status, transaction_id,
            idempotency_key, settled_at
        )
        select
            b.id, v_user, auto_bet.game, v_pair.id, v_pair.server_seed_hash,
            v_pair.client_seed, b.nonce, v_stake, v_terms -> 'params', v_edge, b.result,
            b.multiplier, b.payout, 'settled', t.id, auto_bet.idempotency_key, now()
        from bets as b
        left join transactions as t on b.id = t.bet_id
        returning id, nonce, result, multiplier, payout, transaction_id
    )
    select
        pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'id', w.id, 'nonce', w.nonce, 'result', w.result, 'multiplier', w.multiplier,
            'payout', w.payout, 'won', w.payout > v_stake, 'balance', v_balance + b.net,
            'transaction_id', w.transaction_id
        ) order by w.nonce),
        max(w.transaction_id),
        sum(w.payout),
        sum(w.payout - v_stake),
        count(w.transaction_id)
    into v_bets, v_last_tx, v_paid, v_net, v_moved
    from written as w
    inner join bets as b on w.id = b.id;

    update app.accounts as a
    set balance = a.balance + case when a.id = v_wallet then v_net else -v_net end,
        version = a.version + v_moved
    where a.id in (v_wallet, v_house) and v_moved > 0;
    -- the pair's nonce moves over the bets just written (app._seed_pair_changed checks them)
    update app.seed_pairs as s
    set next_nonce = s.next_nonce + v_placed
    where s.id = v_pair.id;

    if v_moved > 0 then  -- as a play: no message when no bet moved money
        perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
            'type', 'balance', 'user_id', v_user, 'balance', v_balance + v_net,
            'version', v_version + v_moved, 'delta', v_net, 'reason', 'house_bet',
            'transaction_id', v_last_tx, 'market_id', null, 'wager_id', null, 'bets', v_placed));
        perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'profit')
            || app._house_figures());
    end if;

    v_result := pg_catalog.jsonb_build_object(
        'game', auto_bet.game,
        'stake', v_stake,
        'params', v_terms -> 'params',
        'multiplier', v_terms -> 'multiplier',
        'house_edge_bps', v_edge,
        'count', auto_bet.count,
        'placed', v_placed,
        'stopped', v_stopped -> 'reason',
        'seed_pair_id', v_pair.id,
        'server_seed_hash', v_pair.server_seed_hash,
        'client_seed', v_pair.client_seed,
        'first_nonce', v_pair.next_nonce,
        'wagered', v_stake * v_placed,
        'paid', v_paid,
        'profit', v_net,
        'balance', v_balance + v_net,
        'balance_version', v_version + v_moved,
        'bets', v_bets
    ) || pg_catalog.jsonb_strip_nulls(
        pg_catalog.jsonb_build_object('chance', v_terms -> 'chance'));
    return app._idempotency_finish(v_user, auto_bet.idempotency_key, v_result);
end
$$;
grant execute on function public.auto_bet(text, bigint, jsonb, integer, text, bigint, bigint)
to authenticated;
