-- Wallets: the caller's balance, deposits and withdrawals.
-- Deposits and withdrawals move money between the user's wallet and the outside world account;
-- in a real deployment a payment provider's confirmation would call deposit.

-- get_wallet(): the caller's wallet, created with the initial balance on first call.
-- Callers: authenticated. Changes: may create the wallet (a 'grant' transaction).
-- Raises: not_authenticated, unknown_user.
create or replace function public.get_wallet()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_account bigint := app._ensure_wallet(v_user);
begin
    return (
        select pg_catalog.jsonb_build_object(
            'user_id', a.user_id, 'balance', a.balance, 'version', a.version)
        from app.accounts as a
        where a.id = v_account
    );
end
$$;
grant execute on function public.get_wallet() to authenticated, service_role;

-- _wallet_transfer: deposit (world -> wallet) or withdrawal (wallet -> world) for the caller.
-- Raises: not_authenticated, unknown_user, invalid_amount, amount_above_maximum,
-- insufficient_funds, invalid_idempotency_key, idempotency_conflict; for a deposit also
-- self_excluded, daily_deposit_limit_reached (responsible play, rpc/15_limits.sql).
create or replace function app._wallet_transfer(p_kind text, p_amount bigint, p_key text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_account bigint;
    v_world bigint := app._system_account('world');
    v_maximum bigint;
    v_balance bigint;
    v_tx bigint;
    v_result jsonb;
begin
    v_replay := app._idempotency_begin(
        v_user, p_key, p_kind, pg_catalog.jsonb_build_object('amount', p_amount));
    if v_replay is not null then
        return v_replay;
    end if;

    if p_amount is null or p_amount <= 0 then
        perform app._fail('invalid_amount', pg_catalog.jsonb_build_object('amount', p_amount));
    end if;
    select case p_kind when 'deposit' then c.max_deposit else c.max_withdrawal end
    into v_maximum
    from app.config as c;
    if p_amount > v_maximum then
        perform app._fail('amount_above_maximum', pg_catalog.jsonb_build_object(
            'amount', p_amount, 'maximum', v_maximum));
    end if;

    v_account := app._ensure_wallet(v_user);
    -- both accounts of the posting, in id order (the world's id is lower than any wallet's)
    perform 1 from app.accounts as a where a.id in (v_world, v_account) order by a.id for update;
    select a.balance into v_balance from app.accounts as a where a.id = v_account;
    -- responsible play (rpc/15_limits.sql): a deposit is refused during a self-exclusion or above
    -- the daily deposit limit, checked under the wallet lock; withdrawals are never limited.
    if p_kind = 'deposit' then
        perform app._require_deposit_allowed(v_user, p_amount);
    end if;
    if p_kind = 'withdrawal' and v_balance < p_amount then
        perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', v_balance, 'amount', p_amount));
    end if;

    if p_kind = 'deposit' then
        v_tx := app._post_transaction(p_kind, array[v_world, v_account], array[-p_amount, p_amount]);
    else
        v_tx := app._post_transaction(p_kind, array[v_account, v_world], array[-p_amount, p_amount]);
    end if;

    select pg_catalog.jsonb_build_object(
        'transaction_id', v_tx, 'user_id', a.user_id, 'amount', p_amount,
        'balance', a.balance, 'version', a.version)
    into v_result
    from app.accounts as a
    where a.id = v_account;
    return app._idempotency_finish(v_user, p_key, v_result);
end
$$;

-- deposit(amount, idempotency_key): add `amount` minor units to the caller's wallet.
-- Callers: authenticated. Changes: one 'deposit' ledger transaction (world -> wallet).
-- Refused during a self-exclusion and above the daily deposit limit (rpc/15_limits.sql).
-- Returns {transaction_id, user_id, amount, balance, version, replayed}.
-- Raises: not_authenticated, unknown_user, invalid_amount, amount_above_maximum,
-- invalid_idempotency_key, idempotency_conflict, self_excluded, daily_deposit_limit_reached.
create or replace function public.deposit(amount bigint, idempotency_key text default null)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._wallet_transfer('deposit', deposit.amount, deposit.idempotency_key)
$$;
grant execute on function public.deposit(bigint, text) to authenticated;

-- withdraw(amount, idempotency_key): take `amount` minor units out of the caller's wallet.
-- Callers: authenticated. Changes: one 'withdrawal' ledger transaction (wallet -> world).
-- Returns {transaction_id, user_id, amount, balance, version, replayed}.
-- Raises: not_authenticated, unknown_user, invalid_amount, amount_above_maximum,
-- insufficient_funds, invalid_idempotency_key, idempotency_conflict.
create or replace function public.withdraw(amount bigint, idempotency_key text default null)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._wallet_transfer('withdrawal', withdraw.amount, withdraw.idempotency_key)
$$;
grant execute on function public.withdraw(bigint, text) to authenticated;
