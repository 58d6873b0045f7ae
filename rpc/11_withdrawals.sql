-- Withdrawals that wait for an admin (migration 0016; docs/operations.md, "Play money or real
-- money"). With app.config.withdrawals_require_approval on, `withdraw` takes the money out of the
-- wallet at once into the pending-withdrawals account (app._wallet_transfer, rpc/10_wallet.sql)
-- and opens a row here; an admin approves it (the money leaves to the outside world) or rejects
-- it with a reason (the money goes back to the wallet), once. Turning the setting off later leaves
-- the pending ones to be decided the same way.
--
-- Lock order: the withdrawal row, then the accounts by id (app._post_transaction); a request
-- locks only the accounts and inserts a new row.

-- _withdrawal_row: a withdrawal as its messages and answers show it.
create or replace function app._withdrawal_row(p_withdrawal_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'withdrawal_id', w.id, 'user_id', w.user_id, 'amount', w.amount, 'status', w.status,
        'reason', w.reason, 'requested_at', w.requested_at, 'decided_at', w.decided_at,
        'request_transaction_id', w.request_transaction_id,
        'decision_transaction_id', w.decision_transaction_id)
    from app.withdrawals as w
    where w.id = p_withdrawal_id
$$;

-- _open_withdrawal: the pending row of a withdrawal whose money `p_transaction_id` moved into the
-- pending-withdrawals account (called by app._wallet_transfer). Notifies withdrawal_requested to
-- the user and withdrawal_pending to admins. Returns the row (app._withdrawal_row).
create or replace function app._open_withdrawal(
    p_user uuid,
    p_amount bigint,
    p_key text,
    p_transaction_id bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_row jsonb;
begin
    insert into app.withdrawals (user_id, amount, idempotency_key, request_transaction_id)
    values (p_user, p_amount, p_key, p_transaction_id)
    returning id into v_id;
    v_row := app._withdrawal_row(v_id);
    perform app._notify('wagerbase_user',
        pg_catalog.jsonb_build_object('type', 'withdrawal_requested') || v_row);
    perform app._notify('wagerbase_admin',
        pg_catalog.jsonb_build_object('type', 'withdrawal_pending') || v_row);
    return v_row;
end
$$;

-- _lock_pending_withdrawal: lock a withdrawal and return it, if it is still pending.
-- Raises: withdrawal_not_found, withdrawal_not_pending.
create or replace function app._lock_pending_withdrawal(p_withdrawal_id bigint)
returns app.withdrawals
language plpgsql
set search_path = ''
as $$
declare
    v_withdrawal app.withdrawals;
begin
    select * into v_withdrawal from app.withdrawals as w where w.id = p_withdrawal_id for update;
    if not found then
        perform app._fail('withdrawal_not_found',
            pg_catalog.jsonb_build_object('withdrawal_id', p_withdrawal_id));
    end if;
    if v_withdrawal.status <> 'pending' then
        perform app._fail('withdrawal_not_pending', pg_catalog.jsonb_build_object(
            'withdrawal_id', p_withdrawal_id, 'status', v_withdrawal.status));
    end if;
    return v_withdrawal;
end
$$;

-- _decide_withdrawal: approve (pending account -> world, 'withdrawal_approval') or reject
-- (pending account -> the wallet, 'withdrawal_rejection', with `p_reason`) a locked pending
-- withdrawal: one balanced transaction, the row decided, logged, withdrawal_approved or
-- withdrawal_rejected to the user (a rejection also sends the wallet's balance message) and
-- withdrawal_decided to admins. Returns the row after.
create or replace function app._decide_withdrawal(
    p_withdrawal app.withdrawals,
    p_actor uuid,
    p_status text,
    p_reason text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_pending bigint := app._system_account('withdrawals_pending');
    v_to bigint;
    v_tx bigint;
    v_before jsonb := app._withdrawal_row(p_withdrawal.id);
    v_after jsonb;
begin
    if p_status = 'approved' then
        v_to := app._system_account('world');
    else
        select a.id into v_to from app.accounts as a where a.user_id = p_withdrawal.user_id;
    end if;
    v_tx := app._post_transaction(
        case p_status when 'approved' then 'withdrawal_approval' else 'withdrawal_rejection' end,
        array[v_pending, v_to], array[-p_withdrawal.amount, p_withdrawal.amount],
        p_memo => pg_catalog.jsonb_build_object('withdrawal_id', p_withdrawal.id));
    update app.withdrawals as w
    set status = p_status, reason = p_reason, decided_by = p_actor, decided_at = now(),
        decision_transaction_id = v_tx
    where w.id = p_withdrawal.id;

    v_after := app._withdrawal_row(p_withdrawal.id);
    perform app._audit(
        case p_status when 'approved' then 'approve_withdrawal' else 'reject_withdrawal' end,
        null, null, p_reason, v_before, v_after);
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
        'type', case p_status when 'approved' then 'withdrawal_approved' else 'withdrawal_rejected' end)
        || v_after);
    perform app._notify('wagerbase_admin',
        pg_catalog.jsonb_build_object('type', 'withdrawal_decided') || v_after);
    return v_after;
end
$$;

-- approve_withdrawal(withdrawal_id): let a pending withdrawal leave to the outside world (the
-- operator pays it out). Not one's own (four eyes): another admin or the service role approves it.
-- Callers: admins. Changes: status pending -> approved, a 'withdrawal_approval' ledger transaction
-- (pending-withdrawals account -> world); logs; notifies withdrawal_approved to the user,
-- withdrawal_decided to admins.
-- Raises: not_admin, withdrawal_not_found, withdrawal_not_pending, own_withdrawal.
create or replace function public.approve_withdrawal(withdrawal_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_withdrawal app.withdrawals := app._lock_pending_withdrawal(approve_withdrawal.withdrawal_id);
begin
    if v_actor = v_withdrawal.user_id then
        perform app._fail('own_withdrawal', pg_catalog.jsonb_build_object(
            'withdrawal_id', v_withdrawal.id, 'user_id', v_withdrawal.user_id));
    end if;
    return app._decide_withdrawal(v_withdrawal, v_actor, 'approved');
end
$$;
grant execute on function public.approve_withdrawal(bigint) to authenticated, service_role;

-- reject_withdrawal(withdrawal_id, reason): refuse a pending withdrawal and give the money back.
-- Callers: admins. Changes: status pending -> rejected with the reason, a 'withdrawal_rejection'
-- ledger transaction (pending-withdrawals account -> wallet); logs; notifies withdrawal_rejected
-- and balance to the user, withdrawal_decided to admins.
-- Raises: not_admin, withdrawal_not_found, invalid_argument (no reason), withdrawal_not_pending.
create or replace function public.reject_withdrawal(withdrawal_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_withdrawal app.withdrawals := app._lock_pending_withdrawal(reject_withdrawal.withdrawal_id);
begin
    return app._decide_withdrawal(
        v_withdrawal, v_actor, 'rejected', app._required_reason(reject_withdrawal.reason));
end
$$;
grant execute on function public.reject_withdrawal(bigint, text) to authenticated, service_role;

-- Withdrawals waiting for an admin, with who asked and what their wallet holds now. Read through
-- admin_list_pending_withdrawals only.
create or replace view app.pending_withdrawals with (security_invoker = true) as
select
    w.id as withdrawal_id,
    w.user_id,
    p.username,
    u.email,
    w.amount,
    a.balance as wallet_balance,
    w.requested_at
from app.withdrawals as w
left join app.profiles as p on w.user_id = p.user_id
left join auth.users as u on w.user_id = u.id
left join app.accounts as a on w.user_id = a.user_id
where w.status = 'pending';

-- admin_list_pending_withdrawals(): the withdrawals waiting for an admin, oldest first.
-- Callers: admins. Changes: nothing.
-- Raises: not_admin.
create or replace function public.admin_list_pending_withdrawals()
returns setof app.pending_withdrawals
language plpgsql stable
security definer
set search_path = ''
as $$
begin
    perform app._require_admin();
    return query
    select *
    from app.pending_withdrawals as pw
    order by pw.requested_at, pw.withdrawal_id;
end
$$;
grant execute on function public.admin_list_pending_withdrawals() to authenticated, service_role;
