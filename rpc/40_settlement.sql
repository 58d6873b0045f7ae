-- Settlement: paying a market out, once, in one ledger transaction; and the house's figures.

-- _settle_market(market_id, outcome_id, actor, actor_role): declare the winning outcome and pay out.
--   fixed odds   each winning wager gets the payout it locked; the house keeps the stakes and
--                pays what they do not cover.
--   parimutuel   the rake comes off the pool; the winning wagers share the rest pro rata to their
--                stakes, each rounded down to the minor unit; what rounding leaves (dust) goes to
--                the house with the rake. No stake on the winner: every stake is refunded.
-- Each user is credited once with the sum of all their winning wagers. An open market is closed
-- first; wagers still pending are rejected and refunded, since nobody approved them. One
-- settlements row per market (its primary key) makes a second settlement impossible.
-- Callers: settle_market (an admin) and the scheduler's draw of a virtual market (no actor, role
-- 'scheduler'),
-- never a client role. Changes: the wagers (won, lost, or void), one 'settlement' ledger
-- transaction (escrow -> winners and house), the settlements row, status -> settled, the
-- side-effect jobs (app._enqueue_side_effects), and after an unsettle the debts of the market
-- (app._collect_debts: a 'debt_repayment' transaction; `debts_collected` in the answer); logs;
-- notifies closed (if it was open) and settled, then balance per user (refunds and payouts),
-- profit to admins, and wagers_settled per user: the result before the money it moves.
-- Raises: market_not_found, outcome_not_found, already_settled, invalid_market_state.
drop function if exists app._settle_market(bigint, bigint, uuid);
create or replace function app._settle_market(
    p_market_id bigint, p_outcome_id bigint, p_actor uuid, p_actor_role text
)
returns jsonb
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_actor uuid := p_actor;
    v_market app.markets := app._lock_market(p_market_id);
    v_before jsonb;
    v_winner app.outcomes;
    v_escrow bigint;
    v_refunds jsonb;
    v_total bigint;
    v_winning_pool bigint;
    v_rake bigint := 0;
    v_net bigint;
    v_refund_all boolean := false;
    v_paid bigint;
    v_winners integer;
    v_losers integer;
    v_winning_users integer;
    v_accounts bigint[];
    v_amounts bigint[];
    v_per_user jsonb;
    v_staked bigint;
    v_staked_on_winner bigint;
    v_tx bigint;
    v_settlement app.settlements;
    v_collected bigint;
begin
    perform app._require_status(v_market, array['open', 'closed'], 'settle_market');
    select * into v_winner
    from app.outcomes as o
    where o.id = p_outcome_id and o.market_id = v_market.id;
    if not found then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'outcome_id', p_outcome_id));
    end if;
    v_before := app._market_row(v_market.id);
    perform app._lock_market_accounts(v_market.id);

    if v_market.status = 'open' then
        update app.markets as m
        set status = 'closed', closed_at = now(), version = m.version + 1
        where m.id = v_market.id;
        perform app._notify_market(v_market.id, 'closed');
    end if;
    -- the result goes out before the money it moves (docs/notifications.md): a client shows the
    -- outcome, then each winner's new balance
    update app.markets as m
    set status = 'settled', winning_outcome_id = v_winner.id, settled_at = now(),
        version = m.version + 1
    where m.id = v_market.id;
    perform app._notify_market(v_market.id, 'settled', pg_catalog.jsonb_build_object(
        'winning_outcome_id', v_winner.id, 'winning_position', v_winner.position));
    v_refunds := app._refund_wagers(v_market.id, 'refund', 'market_settled', true);

    -- the pools decide the payouts; the update below checks, on the very wagers it settles, that
    -- their stakes are exactly the pools
    v_total := v_market.total_pool;
    v_winning_pool := v_winner.pool;
    if v_market.kind = 'parimutuel' then
        if v_winning_pool = 0 then
            v_refund_all := true;
        else
            v_rake := div(v_total::numeric * v_market.rake_bps, 10000)::bigint;
        end if;
    end if;
    v_net := v_total - v_rake;

    with settled as (
        update app.wagers as w
        set settlement = case
                when v_refund_all then 'void'
                when w.outcome_id = v_winner.id then 'won'
                else 'lost'
            end,
            payout = case
                when v_refund_all then w.stake
                when w.outcome_id <> v_winner.id then 0
                when v_market.kind = 'fixed_odds' then w.potential_payout
                else div(w.stake::numeric * v_net, v_winning_pool)::bigint
            end,
            settled_at = now()
        where w.market_id = v_market.id and w.approval = 'accepted' and w.settlement = 'open'
        returning w.user_id, w.outcome_id, w.stake, w.settlement, w.payout
    ),
    per_user as (
        select s.user_id,
               sum(s.payout)::bigint as payout,
               count(*) filter (where s.settlement = 'won') as won,
               count(*) filter (where s.settlement = 'lost') as lost,
               count(*) filter (where s.settlement = 'void') as void,
               sum(s.stake) as staked,
               coalesce(sum(s.stake) filter (where s.outcome_id = v_winner.id), 0) as staked_on_winner
        from settled as s
        group by s.user_id
    )
    select array_agg(a.id order by a.id) filter (where p.payout > 0),
           array_agg(p.payout order by a.id) filter (where p.payout > 0),
           coalesce(sum(p.payout), 0)::bigint,
           coalesce(sum(p.won), 0)::integer,
           coalesce(sum(p.lost), 0)::integer,
           (count(*) filter (where p.won > 0))::integer,
           coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
               'user_id', p.user_id, 'payout', p.payout,
               'won', p.won, 'lost', p.lost, 'void', p.void)), '[]'),
           coalesce(sum(p.staked), 0)::bigint,
           coalesce(sum(p.staked_on_winner), 0)::bigint
    into v_accounts, v_amounts, v_paid, v_winners, v_losers, v_winning_users, v_per_user,
         v_staked, v_staked_on_winner
    from per_user as p
    inner join app.accounts as a on a.user_id = p.user_id;
    -- the accepted, unsettled wagers are exactly the pools; anything else is a bug, and undoes
    -- the settlement
    if v_staked <> v_total or v_staked_on_winner <> v_winning_pool then
        perform app._fail('ledger_unbalanced', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'reason', 'pools differ from wagers',
            'total_pool', v_total, 'wagers_total', v_staked));
    end if;

    select e.id into v_escrow from app.accounts as e where e.market_id = v_market.id;
    v_tx := app._post_transaction(
        'settlement',
        array[v_escrow, app._system_account('house')] || coalesce(v_accounts, '{}'),
        array[-v_total, v_total - v_paid] || coalesce(v_amounts, '{}'),
        v_market.id,
        null,
        pg_catalog.jsonb_build_object('winning_outcome_id', v_winner.id));

    insert into app.settlements (
        market_id, winning_outcome_id, kind, total_pool, rake, net_pool, winning_pool,
        total_paid, dust, house_result, refunded, winners_count, losers_count, winning_users,
        ledger_transaction_id, settled_by
    )
    values (
        v_market.id, v_winner.id, v_market.kind, v_total, v_rake, v_net, v_winning_pool,
        v_paid, case when v_market.kind = 'parimutuel' then v_net - v_paid else 0 end,
        v_total - v_paid, v_refund_all, v_winners, v_losers, v_winning_users,
        v_tx, v_actor
    )
    returning * into v_settlement;

    perform app._enqueue_side_effects(v_market.id, 'settled');
    -- the debt rule (docs/corrections.md): after an unsettle, what this settlement paid a debtor
    -- of the market goes to their debt first, whichever path settles it
    v_collected := app._collect_debts(v_market.id);

    perform app._audit('settle_market', v_market.id, null, null, v_before,
        app._market_row(v_market.id) || pg_catalog.jsonb_build_object('settlement', to_jsonb(v_settlement)),
        p_actor_role);
    perform app._notify_each('wagerbase_user', v_per_user, pg_catalog.jsonb_build_object(
        'type', 'wagers_settled', 'market_id', v_market.id, 'winning_outcome_id', v_winner.id));

    return to_jsonb(v_settlement) || pg_catalog.jsonb_build_object(
        'pending_refunded', v_refunds, 'debts_collected', v_collected);
end
$$;

-- settle_market(market_id, outcome_id): an admin declares the winner; app._settle_market above
-- says how the market is paid out.
-- Callers: admins. Changes: what app._settle_market changes.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, outcome_not_found, already_settled, invalid_market_state,
-- settlement_needs_confirmation (the review gate of migrations/0003).
create or replace function public.settle_market(market_id bigint, outcome_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
begin
    return app._settle_market(settle_market.market_id, settle_market.outcome_id,
        app._require_admin(), auth.role());
end
$$;
grant execute on function public.settle_market(bigint, bigint) to authenticated, service_role;

-- house_summary(): the bookmaker's balance and profit (settled_result from markets plus
-- house_games_result, the stakes of house games' bets less their payouts), and what is at stake
-- right now: escrows, wallets, money in and out (deposits_net: deposits and credits less
-- withdrawals paid out), grants, and withdrawals waiting for an admin (their amount held and their
-- count).
-- Callers: admins. Changes: nothing.
-- Raises: not_admin.
create or replace function public.house_summary()
returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
begin
    perform app._require_admin();
    return app._house_figures() || pg_catalog.jsonb_build_object(
        'settled_result', (select coalesce(sum(s.house_result), 0) from app.settlements as s),
        'house_games_result', (
            select coalesce(sum(b.stake - b.payout), 0)
            from app.house_bets as b
            where b.status = 'settled'
        )
    ) || (
        select pg_catalog.jsonb_build_object(
            'escrow_held', coalesce(sum(a.balance) filter (where a.kind = 'escrow'), 0),
            'user_balances', coalesce(sum(a.balance) filter (where a.kind = 'user'), 0),
            'wallets', count(*) filter (where a.kind = 'user'),
            'deposits_net', -coalesce(sum(a.balance) filter (where a.kind = 'world'), 0),
            'grants', -coalesce(sum(a.balance) filter (where a.kind = 'grants'), 0),
            'withdrawals_pending',
            coalesce(sum(a.balance) filter (where a.kind = 'withdrawals_pending'), 0)
        )
        from app.accounts as a
    ) || (
        select pg_catalog.jsonb_build_object(
            'markets_open', count(*) filter (where m.status = 'open'),
            'markets_closed', count(*) filter (where m.status = 'closed'),
            'markets_settled', count(*) filter (where m.status = 'settled'),
            'pending_wagers', (select count(*) from app.wagers as w where w.approval = 'pending'),
            'pending_withdrawals',
            (select count(*) from app.withdrawals as w where w.status = 'pending')
        )
        from app.markets as m
    );
end
$$;
grant execute on function public.house_summary() to authenticated, service_role;
