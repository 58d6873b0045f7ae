-- Batched placement: many wagers on one market decided in one transaction (server.place_wagers,
-- which the API uses to gather the placements that arrive for a hot market while its previous
-- batch runs: docs/engine.md, "Batched placement"). A wager alone goes through public.place_wager
-- (rpc/30_wagers.sql), which decides it on the rows statement by statement: half the CPU of a
-- batch of one, which has arrays to build and a plan per set-based statement.
--
-- A market's row is locked by every placement, so placements on one market run one after another,
-- each paying a whole commit. A batch pays one commit for all of its wagers and decides each of
-- them exactly as a call of place_wager made in the same order would have: the same answer (the
-- wager, its quote, the balance and its version, the market's numbers after it) or the same
-- refusal (SQLSTATE, key, detail, hint), and the same rows written.

-- gone: a batch names a new wallet's actor to app._ensure_wallet instead
drop function if exists app._ensure_wallet_as(uuid, jsonb);

-- gone: app._is_admin takes the claims to ask about (each wager's own, in a batch)
drop function if exists app._is_admin_as(jsonb);

-- _place_wagers(market_id, wagers): decide wagers on one market in one transaction, one after
-- another in the order given, each as public.place_wager would have decided it had it been called
-- alone at that point, and write them all at once. `p_wagers` is a JSON array; each element:
--   user_id          the caller (null: not_authenticated)
--   claims           the caller's token claims (read for a draft market, and for a new wallet)
--   outcome_id, stake, expected_odds, idempotency_key   place_wager's arguments
-- Returns a JSON array, one answer per wager in the same order: {"result": <what place_wager
-- returns>} or {"refusal": {sqlstate, message, detail, hint}} (what place_wager raises). One
-- refused wager never stops the others.
--
-- How (docs/engine.md, "Batched placement"):
-- 1. The keys first: each wager's idempotency key is inserted behind the table's primary key, in
--    one statement, before anything else (a key another transaction holds is waited for, as in
--    app._idempotency_begin). A key stored before replays its answer (counted on its row) or is
--    idempotency_conflict; a key used twice in the batch is, for the later wager, a replay of the
--    earlier one's answer, a conflict, or (when the earlier one was refused, so that its key was
--    never kept) the later wager's own key.
-- 2. One market lock (`for no key update`), then every wallet of the batch and the market's
--    escrow, locked once in id order (the global order: market, then accounts by id); balances,
--    limits and stakes of the last 24 hours read under those locks.
-- 3. Each wager decided in memory, in order, with the checks of a single placement in the same
--    order (self-exclusion, market, wallet, open, stake, outcome, odds tolerance, cap, payout
--    ceiling, daily stake limit, funds), at the odds, caps and pools the wagers before it left
--    (app._quote_at, app._market_message_at: the functions the views use).
-- 4. Then written: the outcomes' pools, the market's version and the wagers set-based; per wager,
--    in order, its 'stake' ledger transaction (app._post_transaction, the posting of every money
--    movement) and its live messages in the order a single call sends them (odds, balance,
--    wager_pending, wager_placed); the keys' answers.
-- A user's first wager makes their wallet (app._ensure_wallet, with its grant) when it is
-- accepted; a refused one leaves none, as a refused call rolls its wallet back.
--
-- Callers: server.place_wagers (the API's batches) and the benchmark's loader, never a client
-- role. Changes: app.idempotency_keys, app.wagers, app.outcomes,
-- app.markets, app.accounts, app.ledger_transactions, app.ledger_entries, live messages.
-- Raises: nothing of its own for a wager (each refusal is its answer); what the whole batch may
-- meet (lock_timeout, statement_timeout, a deadlock) rolls it all back.
create or replace function app._place_wagers(p_market_id bigint, p_wagers jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_n integer := coalesce(jsonb_array_length(p_wagers), 0);
    -- each wager, by its place i in the batch
    v_user uuid[];
    v_claims jsonb[];
    v_outcome bigint[];
    v_stake bigint[];
    v_expected numeric[];
    v_key text[];
    v_args jsonb[];
    -- the answer: {"result"} or {"refusal"}, {"accepted": k} until written, {"replay_of": place}
    v_answer jsonb[];
    -- keys: the first place of the batch with the same user and key (itself when none before),
    -- and for a first place whether this batch inserted the key, the place that holds it now,
    -- and the row found when the key was stored before
    v_first integer[];
    v_claimed boolean[];
    v_holder integer[];
    v_stored_row record;
    v_replays integer[];
    -- the market and its outcomes as the wagers decided so far leave them
    v_market app.markets;
    v_market_found boolean := false;
    v_ids bigint[];
    v_positions integer[];
    v_pools bigint[];
    v_liabilities bigint[];
    v_counts integer[];
    v_escrow bigint;
    v_tolerance numeric;
    v_initial bigint;
    -- the users of the batch: wallet, balance, whether they exist, limits and stakes so far
    u_user uuid[];
    u_wallet bigint[];
    u_balance bigint[];
    u_live boolean[];
    u_limited boolean[];
    u_until timestamptz[];
    u_limit bigint[];
    u_used bigint[];
    -- the accepted wagers, k = 1.., in order
    a_place integer[] := '{}';
    a_odds numeric[] := '{}';
    a_payout bigint[] := '{}';
    a_approval text[] := '{}';
    a_version bigint[] := '{}';
    a_wallet bigint[] := '{}';
    a_quote jsonb[] := '{}';
    a_message jsonb[] := '{}';
    a_market jsonb[] := '{}';
    a_row jsonb[];
    a_balance bigint[];
    a_balance_version bigint[];
    a_result jsonb[];
    -- one wager's decision
    i integer;
    f integer;
    h integer;
    k integer := 0;
    o integer;
    p integer;
    v_refusal jsonb;
    v_quote jsonb;
    v_odds numeric;
    v_payout numeric;
    v_message jsonb;
    v_wallet bigint;
    v_balance bigint;
    v_version bigint;
    v_limited boolean;
    v_limit bigint;
    v_used bigint;
begin
    if v_n = 0 then
        return '[]';
    end if;
    select
        array_agg((e.w ->> 'user_id')::uuid order by e.i),
        array_agg(e.w -> 'claims' order by e.i),
        array_agg((e.w ->> 'outcome_id')::bigint order by e.i),
        array_agg((e.w ->> 'stake')::bigint order by e.i),
        array_agg((e.w ->> 'expected_odds')::numeric order by e.i),
        array_agg(e.w ->> 'idempotency_key' order by e.i)
    into v_user, v_claims, v_outcome, v_stake, v_expected, v_key
    from jsonb_array_elements(p_wagers) with ordinality as e (w, i);
    v_answer := array_fill(null::jsonb, array[v_n]);
    v_args := array_fill(null::jsonb, array[v_n]);
    v_claimed := array_fill(false, array[v_n]);
    v_holder := array_fill(null::integer, array[v_n]);
    v_replays := array_fill(0, array[v_n]);

    -- who calls, and the key's shape (app._require_user, app._idempotency_begin)
    for i in 1 .. v_n loop
        v_args[i] := pg_catalog.jsonb_build_object(
            'market_id', p_market_id, 'outcome_id', v_outcome[i],
            'stake', v_stake[i], 'expected_odds', v_expected[i]);
        if v_user[i] is null then
            v_answer[i] := pg_catalog.jsonb_build_object('refusal', app._refusal('not_authenticated'));
        elsif v_key[i] is not null and length(v_key[i]) not between 1 and 200 then
            v_answer[i] := pg_catalog.jsonb_build_object('refusal', app._refusal(
                'invalid_idempotency_key', pg_catalog.jsonb_build_object('length', length(v_key[i]))));
        end if;
    end loop;

    -- 1. the keys, inserted first behind the primary key, in one statement
    select array_agg(coalesce(d.first, d.i) order by d.i)
    into v_first
    from (
        select
            w.i,
            case when w.k is not null and w.answer is null
                then min(w.i) over (partition by w.u, w.k, (w.k is not null and w.answer is null))
            end as first
        from unnest(v_user, v_key, v_answer) with ordinality as w (u, k, answer, i)
    ) as d;
    with claimed as (
        insert into app.idempotency_keys (user_id, key, operation, arguments)
        select w.u, w.k, 'place_wager', v_args[w.i]
        from unnest(v_user, v_key, v_answer, v_first) with ordinality as w (u, k, answer, first, i)
        where w.k is not null and w.answer is null and w.first = w.i
        order by w.i
        on conflict do nothing
        returning user_id, key
    )
    select coalesce(array_agg(w.i order by w.i), '{}')
    into a_place
    from claimed as x
    inner join unnest(v_user, v_key, v_answer, v_first) with ordinality as w (u, k, answer, first, i)
        on x.user_id = w.u and x.key = w.k and w.answer is null and w.first = w.i;
    foreach i in array a_place loop
        v_claimed[i] := true;
        v_holder[i] := i;
    end loop;
    a_place := '{}';
    -- keys stored before the batch: a replay, a conflict, or one still in flight
    -- (app._idempotency_begin), for every wager of the batch that has one
    for v_stored_row in
        select w.i, s.operation, s.arguments, s.result, s.user_id is not null as found
        from unnest(v_user, v_key, v_answer, v_first) with ordinality as w (u, k, answer, first, i)
        left join app.idempotency_keys as s on w.u = s.user_id and w.k = s.key
        where w.k is not null and w.answer is null and not v_claimed[w.first]
        order by w.i
    loop
        i := v_stored_row.i;
        if not v_stored_row.found or v_stored_row.result is null then
            v_answer[i] := pg_catalog.jsonb_build_object('refusal', pg_catalog.jsonb_build_object(
                'sqlstate', '40001', 'message', 'idempotency_key_in_flight',
                'detail', pg_catalog.jsonb_build_object('idempotency_key', v_key[i]),
                'hint', 'Retry the call.'));
        elsif v_stored_row.operation <> 'place_wager' or v_stored_row.arguments <> v_args[i] then
            v_answer[i] := pg_catalog.jsonb_build_object('refusal', app._refusal(
                'idempotency_conflict', pg_catalog.jsonb_build_object(
                    'idempotency_key', v_key[i],
                    'operation', v_stored_row.operation,
                    'arguments', v_stored_row.arguments)));
        else
            v_answer[i] := pg_catalog.jsonb_build_object(
                'result', v_stored_row.result || '{"replayed": true}');
            v_replays[v_first[i]] := v_replays[v_first[i]] + 1;
        end if;
    end loop;

    -- 2. the market, locked (when a wager still needs it); its outcomes; then the wallets and the
    -- escrow, locked in id order
    select array_agg(distinct w.u) into u_user
    from unnest(v_user, v_answer) as w (u, answer)
    where w.u is not null and w.answer is null;
    if u_user is not null then
        select * into v_market from app.markets as m where m.id = p_market_id for no key update;
        v_market_found := found;
    end if;
    if v_market_found then
        select
            array_agg(o.id order by o.position), array_agg(o.position::integer order by o.position),
            array_agg(o.pool order by o.position), array_agg(o.liability order by o.position),
            array_agg(o.wager_count order by o.position)
        into v_ids, v_positions, v_pools, v_liabilities, v_counts
        from app.outcomes as o
        where o.market_id = v_market.id;
        select e.id into v_escrow from app.accounts as e where e.market_id = v_market.id;
        select c.odds_tolerance, c.initial_balance into v_tolerance, v_initial from app.config as c;

        perform 1
        from app.accounts as a
        where a.user_id = any(u_user) or a.id = v_escrow
        order by a.id
        for update;
        select
            array_agg(a.id order by x.n), array_agg(a.balance order by x.n),
            array_agg(a.id is not null or exists (
                select 1 from auth.users as l where l.id = x.u and l.deleted_at is null
            ) order by x.n),
            array_agg(f.user_id is not null order by x.n),
            array_agg(f.self_excluded_until order by x.n),
            array_agg(f.daily_stake_limit order by x.n),
            array_agg(f.stake_used order by x.n)
        into u_wallet, u_balance, u_live, u_limited, u_until, u_limit, u_used
        from unnest(u_user) with ordinality as x (u, n)
        left join app.accounts as a on x.u = a.user_id
        left join app.play_limits_in_force as f on x.u = f.user_id;
    else
        -- self-exclusion comes before the market: read it all the same
        select
            array_agg(f.user_id is not null order by x.n),
            array_agg(f.self_excluded_until order by x.n)
        into u_limited, u_until
        from unnest(u_user) with ordinality as x (u, n)
        left join app.play_limits as f on x.u = f.user_id;
    end if;

    -- 3. each wager in turn, with the checks of a single placement in the same order
    for i in 1 .. v_n loop
        continue when v_answer[i] is not null;
        f := v_first[i];
        if f <> i then
            -- the key of an earlier wager of this batch
            h := v_holder[f];
            if v_answer[h] ? 'refusal' then
                -- refused, so its key was never kept: this wager takes it
                v_holder[f] := i;
            elsif v_args[h] <> v_args[i] then
                v_answer[i] := pg_catalog.jsonb_build_object('refusal', app._refusal(
                    'idempotency_conflict', pg_catalog.jsonb_build_object(
                        'idempotency_key', v_key[i], 'operation', 'place_wager',
                        'arguments', v_args[h])));
                continue;
            else
                v_answer[i] := pg_catalog.jsonb_build_object('replay_of', h);
                v_replays[f] := v_replays[f] + 1;
                continue;
            end if;
        end if;

        p := array_position(u_user, v_user[i]);
        v_refusal := null;
        if u_until[p] > now() then
            v_refusal := app._refusal('self_excluded', pg_catalog.jsonb_build_object('until', u_until[p]));
        elsif not v_market_found
            or (v_market.status = 'draft' and not app._is_admin(v_claims[i])) then
            v_refusal := app._refusal('market_not_found',
                pg_catalog.jsonb_build_object('market_id', p_market_id));
        elsif u_wallet[p] is null and not u_live[p] then
            v_refusal := app._refusal('unknown_user', pg_catalog.jsonb_build_object('user_id', v_user[i]));
        else
            v_refusal := coalesce(app._open_refusal(v_market), app._stake_refusal(v_stake[i]));
        end if;
        if v_refusal is null then
            o := array_position(v_ids, v_outcome[i]);
            if o is null then
                v_refusal := app._refusal('outcome_not_found', pg_catalog.jsonb_build_object(
                    'market_id', v_market.id, 'outcome_id', v_outcome[i]));
            end if;
        end if;
        if v_refusal is null then
            v_quote := app._quote_at(
                v_market, v_ids[o], v_positions[o], v_pools[o], v_liabilities[o], v_stake[i]);
            v_odds := (v_quote ->> 'effective_odds')::numeric;
            v_payout := (v_quote ->> 'estimated_payout')::numeric;
            v_refusal := app._quote_refusal(
                v_market, v_outcome[i], v_stake[i], v_expected[i], v_tolerance, v_quote);
        end if;
        if v_refusal is null and u_wallet[p] is not null then
            v_refusal := app._funds_refusal(
                u_limited[p], u_limit[p], u_used[p], u_balance[p], v_stake[i]);
        elsif v_refusal is null then
            -- the user's first wager: their wallet made (app._ensure_wallet, with its grant) and
            -- locked, then the limit and the funds read under that lock, as a single placement
            -- does; refused, the wallet is rolled back with this block, as with a refused call
            begin
                v_wallet := app._ensure_wallet(v_user[i], p_actor => v_user[i]);
                select a.balance into v_balance
                from app.accounts as a where a.id = v_wallet for update;
                select f.user_id is not null, f.daily_stake_limit, f.stake_used
                into v_limited, v_limit, v_used
                from (select 1) as one
                left join app.play_limits_in_force as f on f.user_id = v_user[i];
                v_refusal := app._funds_refusal(v_limited, v_limit, v_used, v_balance, v_stake[i]);
                if v_refusal is not null then
                    perform app._raise(v_refusal);
                end if;
                u_wallet[p] := v_wallet;
                u_balance[p] := v_balance;
                u_limited[p] := v_limited;
                u_limit[p] := v_limit;
                u_used[p] := v_used;
            exception
                when sqlstate 'PT402' or sqlstate 'PT422' then
                    null;  -- v_refusal says which
                when sqlstate 'PT401' then
                    -- deleted since the batch began
                    v_refusal := app._refusal('unknown_user',
                        pg_catalog.jsonb_build_object('user_id', v_user[i]));
            end;
        end if;
        if v_refusal is not null then
            v_answer[i] := pg_catalog.jsonb_build_object('refusal', v_refusal);
            continue;
        end if;

        -- accepted
        u_balance[p] := u_balance[p] - v_stake[i];
        u_used[p] := u_used[p] + v_stake[i];
        v_message := null;
        if not v_market.requires_approval then
            v_pools[o] := v_pools[o] + v_stake[i];
            if v_market.kind = 'fixed_odds' then
                v_liabilities[o] := v_liabilities[o] + v_payout::bigint;
            end if;
            v_counts[o] := v_counts[o] + 1;
            v_market.total_pool := v_market.total_pool + v_stake[i];
            v_market.version := v_market.version + 1;
            v_message := pg_catalog.jsonb_build_object('type', 'odds') || app._market_message_at(
                v_market, v_ids, v_positions, v_pools, v_liabilities, v_counts);
        end if;
        k := k + 1;
        a_place[k] := i;
        a_odds[k] := v_odds;
        a_payout[k] := case when v_market.kind = 'fixed_odds' then v_payout::bigint end;
        a_approval[k] := case when v_market.requires_approval then 'pending' else 'accepted' end;
        a_version[k] := (v_message ->> 'version')::bigint;
        a_wallet[k] := u_wallet[p];
        a_quote[k] := v_quote;
        a_message[k] := v_message;
        a_market[k] := coalesce(v_message - 'type', app._market_message_at(
            v_market, v_ids, v_positions, v_pools, v_liabilities, v_counts));
        v_answer[i] := pg_catalog.jsonb_build_object('accepted', k);
    end loop;

    -- 4. written: pools, market and wagers set-based, then wager by wager
    if k > 0 then
        if not v_market.requires_approval then
            update app.outcomes as o
            set pool = x.pool, liability = x.liability, wager_count = x.wager_count
            from unnest(v_ids, v_pools, v_liabilities, v_counts) as x (id, pool, liability, wager_count)
            where o.id = x.id and o.wager_count <> x.wager_count;
            update app.markets as m
            set total_pool = v_market.total_pool, version = v_market.version
            where m.id = v_market.id;
        end if;

        -- in order: the wagers' ids are given in that order
        with written as (
            insert into app.wagers (
                user_id, market_id, outcome_id, stake, odds, potential_payout, expected_odds,
                approval, accepted_version, idempotency_key
            )
            select
                v_user[a.i], v_market.id, v_outcome[a.i], v_stake[a.i], a.odds, a.payout,
                v_expected[a.i], a.approval, a.version, v_key[a.i]
            from unnest(a_place, a_odds, a_payout, a_approval, a_version)
                with ordinality as a (i, odds, payout, approval, version, k)
            order by a.k
            returning *
        )
        select array_agg(to_jsonb(w) order by w.id) into a_row from written as w;
        assert not exists (
            select 1
            from unnest(a_row, a_place) as r (w, i)
            where (r.w ->> 'user_id')::uuid <> v_user[r.i]
                or (r.w ->> 'outcome_id')::bigint <> v_outcome[r.i]
                or (r.w ->> 'stake')::bigint <> v_stake[r.i]
                or (r.w ->> 'idempotency_key') is distinct from v_key[r.i]
        ), 'the wagers of a batch were not numbered in order';

        -- per wager, in order, what a single placement does after its insert: the market's odds
        -- message, the 'stake' transaction (wallet -> escrow) through app._post_transaction (the
        -- code that moves money, which sends the balance message), the wallet's balance and
        -- version as that leaves them, then wager_pending and wager_placed
        a_balance := array_fill(null::bigint, array[k]);
        a_balance_version := array_fill(null::bigint, array[k]);
        for p in 1 .. k loop
            if a_message[p] is not null then
                perform app._notify('wagerbase_market', a_message[p]);
            end if;
            perform app._post_transaction('stake', array[a_wallet[p], v_escrow],
                array[-v_stake[a_place[p]], v_stake[a_place[p]]], v_market.id,
                (a_row[p] ->> 'id')::bigint, p_actor => v_user[a_place[p]]);
            select a.balance, a.version into v_balance, v_version
            from app.accounts as a
            where a.id = a_wallet[p];
            a_balance[p] := v_balance;
            a_balance_version[p] := v_version;
            v_message := a_row[p] || pg_catalog.jsonb_build_object('position', a_quote[p] -> 'position');
            if a_approval[p] = 'pending' then
                perform app._notify('wagerbase_admin',
                    pg_catalog.jsonb_build_object('type', 'wager_pending') || v_message);
            end if;
            perform app._notify('wagerbase_user',
                pg_catalog.jsonb_build_object('type', 'wager_placed') || v_message);
        end loop;

        -- the answers, as place_wager builds them
        select array_agg(
            (r.w || pg_catalog.jsonb_build_object('position', a_quote[r.k] -> 'position'))
            || pg_catalog.jsonb_build_object(
                'wager_id', r.w -> 'id',
                'quote', a_quote[r.k],
                'balance', a_balance[r.k],
                'balance_version', a_balance_version[r.k],
                'market', a_market[r.k])
            order by r.k)
        into a_result
        from unnest(a_row) with ordinality as r (w, k);
    end if;

    -- the answers of accepted wagers and of replays of them
    for i in 1 .. v_n loop
        if v_answer[i] ? 'accepted' then
            v_answer[i] := pg_catalog.jsonb_build_object(
                'result', a_result[(v_answer[i] ->> 'accepted')::integer] || '{"replayed": false}');
        end if;
    end loop;
    for i in 1 .. v_n loop
        if v_answer[i] ? 'replay_of' then
            v_answer[i] := pg_catalog.jsonb_build_object('result',
                (v_answer[(v_answer[i] ->> 'replay_of')::integer] -> 'result')
                || '{"replayed": true}');
        end if;
    end loop;

    -- the keys: the answer each keeps (app._idempotency_finish), none where its last holder was
    -- refused (as a refused call rolls its key back), and the replays counted
    update app.idempotency_keys as s
    set result = (v_answer[x.holder] -> 'result') - 'replayed',
        arguments = v_args[x.holder],
        replays = s.replays + v_replays[x.first],
        last_replayed_at = case when v_replays[x.first] > 0 then now() else s.last_replayed_at end
    from unnest(v_claimed, v_holder) with ordinality as x (claimed, holder, first)
    where x.claimed and v_answer[x.holder] ? 'result'
        and s.user_id = v_user[x.first] and s.key = v_key[x.first];
    delete from app.idempotency_keys as s
    using unnest(v_claimed, v_holder) with ordinality as x (claimed, holder, first)
    where x.claimed and v_answer[x.holder] ? 'refusal'
        and s.user_id = v_user[x.first] and s.key = v_key[x.first];
    update app.idempotency_keys as s
    set replays = s.replays + x.replays, last_replayed_at = now()
    from unnest(v_claimed, v_replays) with ordinality as x (claimed, replays, first)
    where not x.claimed and x.replays > 0
        and s.user_id = v_user[x.first] and s.key = v_key[x.first];

    return to_jsonb(v_answer);
end
$$;

-- server.place_wagers(market_id, wagers): the API's batch of placements on one market, decided in
-- one transaction by app._place_wagers, each wager answered as its own call of public.place_wager
-- would have been. `p_wagers` is a JSON array; each element is one caller's placement:
--   claims            the caller's verified access-token claims (role, sub, session_id, ...)
--   outcome_id        place_wager's outcome_id, or instead
--   position          BetMarket's choice: the outcome at this position of a two-outcome
--                     fixed-odds market (none otherwise, as /api/bet resolves it)
--   stake, expected_odds, idempotency_key   place_wager's arguments
-- Returns one row per wager, `place` its 1-based place in the array: the result place_wager
-- returns, or its refusal (sqlstate, message, detail, hint: what place_wager would raise).
--
-- Who may call it, and why a caller cannot place a wager as someone else: only the API node, as
-- its login role `authenticator`, to which alone policies/05_server.sql grants schema `server`.
-- Every client role (anon, authenticated, service_role) lacks usage on the schema, and a request
-- runs as the caller's role from server.begin_request on, so nothing a client can reach (a
-- public function, a view, a request of any surface) can call it; no function of `public` does.
-- The identities in `claims` are therefore asserted by the node, exactly as the node asserts
-- them for every request today: `request.jwt.claims`, which auth.uid() reads, is set by the node
-- (server.begin_request) after it verified the token's signature and expiry, and the database
-- trusts it. The node puts in each element the claims of the token that came with that
-- placement's own request (never an id from a body), so one caller's placement carries only that
-- caller's identity. What the database can still check, it checks here, per wager, as each
-- request's first statement does: the role is `authenticated` (the only role place_wager is
-- granted to; any other is refused as PostgreSQL refuses it, 42501), and the token's session is
-- live and its user exists (server.check_session: session_ended, unknown_user). A refusal there
-- is that wager's answer; the others go on.
-- Changes: what app._place_wagers changes. Raises: nothing of its own for a wager (each refusal is
-- its row); invalid_argument when `p_wagers` is not a JSON array.
create or replace function server.place_wagers(p_market_id bigint, p_wagers jsonb)
returns table (place integer, result jsonb, sqlstate text, message text, detail text, hint text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_refusals jsonb[];
    v_places integer[] := '{}';
    v_live jsonb[] := '{}';
    v_positions bigint[];
    v_wager jsonb;
    v_claims jsonb;
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_answers jsonb;
    i integer;
begin
    if pg_catalog.jsonb_typeof(p_wagers) is distinct from 'array' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'p_wagers', 'reason', 'a JSON array'));
    end if;
    v_refusals := array_fill(null::jsonb, array[greatest(jsonb_array_length(p_wagers), 1)]);
    -- BetMarket's outcomes by position (surfaces/betmarket/games.sql, outcome_id)
    select array_agg(o.id order by o.position) into v_positions
    from app.outcomes as o
    inner join app.markets as m on o.market_id = m.id
    where o.market_id = p_market_id and m.kind = 'fixed_odds' and m.outcome_count = 2;

    for v_wager, i in select e.w, e.i from jsonb_array_elements(p_wagers) with ordinality as e (w, i) loop
        v_claims := v_wager -> 'claims';
        if v_claims ->> 'role' is distinct from 'authenticated' then
            v_refusals[i] := pg_catalog.jsonb_build_object(
                'sqlstate', '42501', 'message', 'permission denied for function place_wager');
            continue;
        end if;
        begin
            perform server.check_session(v_claims);
        exception
            when sqlstate 'PT401' then
                get stacked diagnostics
                    v_state = returned_sqlstate, v_message = message_text,
                    v_detail = pg_exception_detail, v_hint = pg_exception_hint;
                v_refusals[i] := pg_catalog.jsonb_build_object(
                    'sqlstate', v_state, 'message', v_message,
                    'detail', v_detail::jsonb, 'hint', v_hint);
                continue;
        end;
        v_places := v_places || i::integer;
        v_live := v_live || pg_catalog.jsonb_build_object(
            'user_id', v_claims ->> 'sub',
            'claims', v_claims,
            'outcome_id', case when v_wager ? 'position'
                then v_positions[(v_wager ->> 'position')::integer]
                else (v_wager ->> 'outcome_id')::bigint end,
            'stake', v_wager -> 'stake',
            'expected_odds', v_wager -> 'expected_odds',
            'idempotency_key', v_wager -> 'idempotency_key'
        );
    end loop;

    v_answers := app._place_wagers(p_market_id, to_jsonb(v_live));
    for i in 1 .. cardinality(v_places) loop
        v_refusals[v_places[i]] := v_answers -> (i - 1);
    end loop;
    return query
    select
        a.i::integer,
        a.answer -> 'result',
        coalesce(a.answer -> 'refusal', a.answer) ->> 'sqlstate',
        coalesce(a.answer -> 'refusal', a.answer) ->> 'message',
        (coalesce(a.answer -> 'refusal', a.answer) -> 'detail')::text,
        coalesce(a.answer -> 'refusal', a.answer) ->> 'hint'
    from unnest(v_refusals) with ordinality as a (answer, i)
    where a.i <= jsonb_array_length(p_wagers)
    order by a.i;
end
$$;
