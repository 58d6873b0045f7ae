-- Corrections (issue 5): a settled market back to closed (unsettle_market), settled again with
-- another winner (resettle_market), and one wager voided and refunded (void_wager). Each reversal
-- is a new ledger transaction linked, in app.ledger_reversals, to the one it reverses, and the
-- unique original there makes it happen once only. See docs/corrections.md.

drop function if exists app._correction_reason(text);  -- now app._required_reason

-- _collect_debts: take open debts back from the wallets that owe them, as far as each wallet now
-- holds: wallet -> house, one 'debt_repayment' ledger transaction; each debt is lowered, or
-- deleted once repaid. Called in the same transaction as anything that credits a user who owes
-- a debt from that market after an unsettle (a new settlement's payouts, void_market's and
-- void_wager's refunds), so a debtor never walks away with fresh money while the house carries
-- their debt. The caller holds the locks of the wallets and the house. Filters: the debts of one
-- market's reversals, or of one user on one market. Returns the amount collected.
create or replace function app._collect_debts(p_market_id bigint, p_user uuid default null)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_ids bigint[];
    v_collected bigint[];
    v_accounts bigint[];
    v_amounts bigint[];
    v_total bigint;
begin
    perform 1
    from app.user_debts as d
    inner join app.ledger_reversals as r on d.reversal_id = r.id
    where r.market_id = p_market_id and (p_user is null or d.user_id = p_user)
    order by d.id
    for update of d;

    with owed as (
        select d.id, d.amount, a.id as account_id, a.balance,
               coalesce(sum(d.amount) over (
                   partition by d.user_id order by d.id
                   rows between unbounded preceding and 1 preceding), 0) as owed_before
        from app.user_debts as d
        inner join app.ledger_reversals as r on d.reversal_id = r.id
        inner join app.accounts as a on d.user_id = a.user_id
        where r.market_id = p_market_id and (p_user is null or d.user_id = p_user)
    ),
    taken as (
        select o.id, o.account_id, greatest(0, least(o.amount, o.balance - o.owed_before)) as amount
        from owed as o
    )
    select array_agg(t.id order by t.id) filter (where t.amount > 0),
           array_agg(t.amount order by t.id) filter (where t.amount > 0)
    into v_ids, v_collected
    from taken as t;
    if v_ids is null then
        return 0;
    end if;

    select array_agg(x.account_id order by x.account_id), array_agg(x.amount order by x.account_id),
           sum(x.amount)::bigint
    into v_accounts, v_amounts, v_total
    from (
        select a.id as account_id, sum(c.amount)::bigint as amount
        from unnest(v_ids, v_collected) as c (debt_id, amount)
        inner join app.user_debts as d on c.debt_id = d.id
        inner join app.accounts as a on d.user_id = a.user_id
        group by a.id
    ) as x;

    perform app._post_transaction(
        'debt_repayment',
        array[app._system_account('house')] || v_accounts,
        array[v_total] || (select array_agg(-v order by n) from unnest(v_amounts) with ordinality as u (v, n)),
        p_market_id,
        null,
        pg_catalog.jsonb_build_object('debts', v_ids));

    -- repaid debts go, the others are lowered (deleted first: the update changes the amounts)
    delete from app.user_debts as d
    using unnest(v_ids, v_collected) as c (debt_id, amount)
    where d.id = c.debt_id and d.amount <= c.amount;
    update app.user_debts as d
    set amount = d.amount - c.amount
    from unnest(v_ids, v_collected) as c (debt_id, amount)
    where d.id = c.debt_id;
    return v_total;
end
$$;


-- _record_reversal: the row linking a correction to the ledger transaction it reverses, inserted
-- before any money moves, behind the unique original (ledger_reversals_once).
-- Raises: already_reversed when that transaction was reversed before.
create or replace function app._record_reversal(
    p_kind text,
    p_original bigint,
    p_market_id bigint,
    p_wager_id bigint,
    p_reason text
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
begin
    insert into app.ledger_reversals (
        kind, original_transaction_id, market_id, wager_id, reason, actor, actor_role
    )
    values (p_kind, p_original, p_market_id, p_wager_id, p_reason, auth.uid(), auth.role())
    on conflict (original_transaction_id) do nothing
    returning id into v_id;
    if v_id is null then
        perform app._fail('already_reversed', pg_catalog.jsonb_build_object(
            'original_transaction_id', p_original, 'market_id', p_market_id,
            'wager_id', p_wager_id));
    end if;
    return v_id;
end
$$;

-- _unsettle: the work of unsettle_market on a locked, settled market. Reverses every payout of the
-- settlement in one 'unsettlement' ledger transaction: the escrow gets back the stakes of the
-- reopened wagers, each winner is debited what was paid to them, the house gives back its result.
-- The debt rule: a winner is debited at most what the wallet holds; the house absorbs the rest
-- (in the same transaction, so it balances) and it is recorded in app.user_debts. The settlements
-- row moves to app.settlement_history; the wagers (not those voided by void_wager) are open again.
-- Writes the side-effect jobs that take the reversed wagers out of the statistics.
create or replace function app._unsettle(p_market app.markets, p_reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_before jsonb := app._market_row(p_market.id);
    v_settlement app.settlements;
    v_escrow bigint;
    v_reversal bigint;
    v_stakes bigint;
    v_debited bigint;
    v_debt bigint;
    v_accounts bigint[];
    v_amounts bigint[];
    v_per_user jsonb;
    v_tx bigint;
begin
    select * into v_settlement from app.settlements as s where s.market_id = p_market.id;
    -- global order: the market (locked by the caller), then every account this can touch by id
    perform 1
    from app.accounts as a
    where a.market_id = p_market.id
        or a.kind = 'house'
        or a.user_id in (
            select w.user_id from app.wagers as w
            where w.market_id = p_market.id and w.approval = 'accepted'
        )
    order by a.id
    for update;
    select e.id into v_escrow from app.accounts as e where e.market_id = p_market.id;
    v_reversal := app._record_reversal(
        'unsettle_market', v_settlement.ledger_transaction_id, p_market.id, null, p_reason);

    -- what each user was paid by the settlement, and what their wallet holds now
    with settled as (
        select w.user_id, w.stake, w.payout
        from app.wagers as w
        where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement <> 'open'
            and not exists (
                select 1 from app.ledger_reversals as r
                where r.kind = 'void_wager' and r.wager_id = w.id
            )
    ),
    per_user as (
        select s.user_id, sum(s.payout)::bigint as paid, count(*) as wagers
        from settled as s
        group by s.user_id
    ),
    debits as (
        select a.id as account_id, p.user_id, p.paid, p.wagers,
               least(a.balance, p.paid) as debited
        from per_user as p
        inner join app.accounts as a on a.user_id = p.user_id
    )
    select array_agg(d.account_id order by d.account_id) filter (where d.debited > 0),
           array_agg(-d.debited order by d.account_id) filter (where d.debited > 0),
           coalesce(sum(d.debited), 0)::bigint,
           coalesce(sum(d.paid - d.debited), 0)::bigint,
           coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
               'user_id', d.user_id, 'reversed', d.paid, 'debited', d.debited,
               'debt', d.paid - d.debited, 'wagers', d.wagers)), '[]')
    into v_accounts, v_amounts, v_debited, v_debt, v_per_user
    from debits as d;
    select coalesce(sum(w.stake), 0)::bigint into v_stakes
    from app.wagers as w
    where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement <> 'open'
        and not exists (
            select 1 from app.ledger_reversals as r
            where r.kind = 'void_wager' and r.wager_id = w.id
        );

    -- the result goes out before the money it moves (docs/notifications.md)
    update app.markets as m
    set status = 'closed', winning_outcome_id = null, settled_at = null, version = m.version + 1
    where m.id = p_market.id;
    perform app._notify_market(p_market.id, 'unsettled', pg_catalog.jsonb_build_object(
        'previous_winning_outcome_id', v_settlement.winning_outcome_id, 'reason', p_reason));

    v_tx := app._post_transaction(
        'unsettlement',
        array[v_escrow, app._system_account('house')] || coalesce(v_accounts, '{}'),
        array[v_stakes, v_debited - v_stakes] || coalesce(v_amounts, '{}'),
        p_market.id,
        null,
        pg_catalog.jsonb_build_object(
            'reversal_id', v_reversal, 'reverses', v_settlement.ledger_transaction_id,
            'reason', p_reason, 'debt', v_debt));
    update app.ledger_reversals as r set reversal_transaction_id = v_tx where r.id = v_reversal;

    insert into app.user_debts (user_id, amount, reversal_id)
    select (u ->> 'user_id')::uuid, (u ->> 'debt')::bigint, v_reversal
    from jsonb_array_elements(v_per_user) as u
    where (u ->> 'debt')::bigint > 0;

    insert into app.settlement_history (
        reversal_id, market_id, winning_outcome_id, kind, total_pool, rake, net_pool, winning_pool,
        total_paid, dust, house_result, refunded, winners_count, losers_count, winning_users,
        ledger_transaction_id, settled_by, settled_at
    )
    select v_reversal, s.market_id, s.winning_outcome_id, s.kind, s.total_pool, s.rake, s.net_pool,
           s.winning_pool, s.total_paid, s.dust, s.house_result, s.refunded, s.winners_count,
           s.losers_count, s.winning_users, s.ledger_transaction_id, s.settled_by, s.settled_at
    from app.settlements as s
    where s.market_id = p_market.id;
    delete from app.settlements as s where s.market_id = p_market.id;

    update app.wagers as w
    set settlement = 'open', payout = null, settled_at = null
    where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement <> 'open'
        and not exists (
            select 1 from app.ledger_reversals as r
            where r.kind = 'void_wager' and r.wager_id = w.id
        );

    perform app._enqueue_side_effects(p_market.id, 'unsettled');

    perform app._audit('unsettle_market', p_market.id, null, p_reason, v_before,
        app._market_row(p_market.id) || pg_catalog.jsonb_build_object('reversal_id', v_reversal));
    perform app._notify_each('wagerbase_user', v_per_user, pg_catalog.jsonb_build_object(
        'type', 'wagers_unsettled', 'market_id', p_market.id, 'reason', p_reason));

    return pg_catalog.jsonb_build_object(
        'market_id', p_market.id,
        'reversal_id', v_reversal,
        'reverses_transaction_id', v_settlement.ledger_transaction_id,
        'ledger_transaction_id', v_tx,
        'previous_winning_outcome_id', v_settlement.winning_outcome_id,
        'reversed', v_settlement.total_paid,
        'debited', v_debited,
        'debt', v_debt,
        'users', v_per_user);
end
$$;

-- _lock_settled_market: lock the market and refuse unless it is settled.
-- Raises: market_not_found, not_settled.
create or replace function app._lock_settled_market(p_market_id bigint)
returns app.markets
language plpgsql
set search_path = ''
as $$
declare
    v_market app.markets := app._lock_market(p_market_id);
begin
    if v_market.status <> 'settled' then
        perform app._fail('not_settled', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'status', v_market.status));
    end if;
    return v_market;
end
$$;

-- unsettle_market(market_id, reason): a settled market back to closed, its payouts reversed.
-- Callers: admins. Changes: one 'unsettlement' ledger transaction (winners debited, escrow and
-- house credited; a winner's shortfall carried by the house as a row of app.user_debts), a
-- ledger_reversals row, the settlements row moved to settlement_history, the wagers open again,
-- status settled -> closed, version; logs; notifies unsettled, wagers_unsettled and balance per user.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, invalid_argument (no reason), market_not_found, not_settled, already_reversed.
create or replace function public.unsettle_market(market_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_actor uuid := app._require_admin();
    v_reason text := app._required_reason(unsettle_market.reason);
    v_market app.markets := app._lock_settled_market(unsettle_market.market_id);
begin
    return app._unsettle(v_market, v_reason);
end
$$;
grant execute on function public.unsettle_market(bigint, text) to authenticated, service_role;

-- resettle_market(market_id, outcome_id, reason): correct a mistaken result in one transaction:
-- unsettle, then settle_market with the right winner, so every balance ends as if that winner had
-- been declared first (unless the debt rule applied). A market that requires a confirmed
-- settlement is refused by settle_market's gate: unsettle it, then propose and confirm.
-- Callers: admins. Changes: everything unsettle_market and settle_market change; logs
-- resettle_market too.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, invalid_argument (no reason; the same winner), market_not_found,
-- outcome_not_found, not_settled, already_reversed, settlement_needs_confirmation.
create or replace function public.resettle_market(market_id bigint, outcome_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_actor uuid := app._require_admin();
    v_reason text := app._required_reason(resettle_market.reason);
    v_market app.markets := app._lock_settled_market(resettle_market.market_id);
    v_unsettled jsonb;
    v_settled jsonb;
begin
    if not exists (
        select 1 from app.outcomes as o
        where o.id = resettle_market.outcome_id and o.market_id = v_market.id
    ) then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'outcome_id', resettle_market.outcome_id));
    end if;
    if v_market.winning_outcome_id = resettle_market.outcome_id then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'outcome_id', 'reason', 'it is the winner already',
            'outcome_id', resettle_market.outcome_id));
    end if;
    v_unsettled := app._unsettle(v_market, v_reason);
    -- settle_market applies the debt rule: what it pays a debtor goes to their debt first
    v_settled := public.settle_market(v_market.id, resettle_market.outcome_id);
    perform app._audit('resettle_market', v_market.id, null, v_reason,
        pg_catalog.jsonb_build_object('winning_outcome_id', v_market.winning_outcome_id),
        pg_catalog.jsonb_build_object('winning_outcome_id', resettle_market.outcome_id,
            'reversal_id', v_unsettled -> 'reversal_id'));
    return pg_catalog.jsonb_build_object('unsettled', v_unsettled, 'settled', v_settled);
end
$$;
grant execute on function public.resettle_market(bigint, bigint, text) to authenticated, service_role;

-- void_wager(wager_id, reason): call one accepted wager off before its market is settled: its
-- stake goes back from the escrow and it leaves the pools (and, for fixed odds, the liability), so
-- the odds move back. A settled market is corrected with unsettle_market first; a pending wager
-- is rejected with reject_wager.
-- Callers: admins. Changes: the wager (settlement void, payout = stake), the outcome's pool,
-- liability and count, the market's total_pool and version, one 'wager_void' ledger transaction
-- linked in ledger_reversals to the wager's stake transaction; logs; notifies odds, wager_voided
-- and balance to its owner.
-- Raises: not_admin, invalid_argument (no reason), wager_not_found, wager_not_voidable,
-- already_reversed.
create or replace function public.void_wager(wager_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_voided_version bigint;
    v_actor uuid := app._require_admin();
    v_reason text := app._required_reason(void_wager.reason);
    v_market_id bigint;
    v_market app.markets;
    v_wager app.wagers;
    v_before jsonb;
    v_stake_tx bigint;
    v_reversal bigint;
    v_tx bigint;
begin
    select w.market_id into v_market_id from app.wagers as w where w.id = void_wager.wager_id;
    if not found then
        perform app._fail('wager_not_found', pg_catalog.jsonb_build_object(
            'wager_id', void_wager.wager_id));
    end if;
    v_market := app._lock_market(v_market_id);
    select * into v_wager from app.wagers as w where w.id = void_wager.wager_id for update;
    if v_wager.approval <> 'accepted' or v_wager.settlement <> 'open'
        or v_market.status not in ('open', 'closed') then
        perform app._fail('wager_not_voidable', pg_catalog.jsonb_build_object(
            'wager_id', v_wager.id, 'approval', v_wager.approval,
            'settlement', v_wager.settlement, 'market_status', v_market.status));
    end if;
    v_before := pg_catalog.to_jsonb(v_wager);
    perform 1
    from app.accounts as a
    where a.market_id = v_market.id or a.user_id = v_wager.user_id or a.kind = 'house'
    order by a.id
    for update;

    select t.id into v_stake_tx
    from app.ledger_transactions as t
    where t.kind = 'stake' and t.wager_id = v_wager.id;
    v_reversal := app._record_reversal('void_wager', v_stake_tx, v_market.id, v_wager.id, v_reason);

    update app.outcomes as o
    set pool = o.pool - v_wager.stake,
        liability = o.liability - coalesce(v_wager.potential_payout, 0),
        wager_count = o.wager_count - 1
    where o.id = v_wager.outcome_id;
    update app.markets as m
    set total_pool = m.total_pool - v_wager.stake, version = m.version + 1
    where m.id = v_market.id
    returning m.version into v_voided_version;
    update app.wagers as w
    set settlement = 'void', payout = w.stake, settled_at = now(),
        voided_version = v_voided_version
    where w.id = v_wager.id
    returning * into v_wager;

    v_tx := app._post_transaction(
        'wager_void',
        array[(select e.id from app.accounts as e where e.market_id = v_market.id),
              (select a.id from app.accounts as a where a.user_id = v_wager.user_id)],
        array[-v_wager.stake, v_wager.stake],
        v_market.id,
        v_wager.id,
        pg_catalog.jsonb_build_object(
            'reversal_id', v_reversal, 'reverses', v_stake_tx, 'reason', v_reason));
    update app.ledger_reversals as r set reversal_transaction_id = v_tx where r.id = v_reversal;
    -- the debt rule: a refund to someone who owes a debt from this market repays it first
    perform app._collect_debts(v_market.id, v_wager.user_id);

    perform app._audit('void_wager', v_market.id, v_wager.id, v_reason, v_before,
        pg_catalog.to_jsonb(v_wager));
    perform app._notify_market(v_market.id, 'odds');
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
        'type', 'wager_voided', 'user_id', v_wager.user_id, 'market_id', v_market.id,
        'wager_id', v_wager.id, 'amount', v_wager.stake, 'reason', v_reason));

    return pg_catalog.jsonb_build_object(
        'wager_id', v_wager.id, 'market_id', v_market.id, 'refunded', v_wager.stake,
        'reversal_id', v_reversal, 'reverses_transaction_id', v_stake_tx,
        'ledger_transaction_id', v_tx)
        || pg_catalog.jsonb_build_object('market', app._market_message(v_market.id));
end
$$;
grant execute on function public.void_wager(bigint, text) to authenticated, service_role;

-- user_debts: what reversals left users owing the house (the debt rule), one row per user and
-- reversal. Admins only: the policy on app.user_debts (policies/50_corrections.sql).
drop view if exists public.user_debts;
create view public.user_debts with (security_invoker = true) as
select
    d.id,
    d.user_id,
    d.amount,
    d.reversal_id,
    r.market_id,
    r.original_transaction_id,
    r.reversal_transaction_id,
    d.created_at
from app.user_debts as d
inner join app.ledger_reversals as r on d.reversal_id = r.id;
grant select on public.user_debts to authenticated, service_role;
