-- Wallets: the caller's balance, deposits, withdrawals, and credits from the outside world.
-- Deposits and withdrawals move money between the user's wallet and the outside world account.
-- Under the real-money profile (app.config, migration 0016; docs/operations.md) bettors cannot
-- deposit: an admin or a payment integration credits the wallet (credit_wallet), and a withdrawal
-- waits in the pending-withdrawals account for an admin (rpc/11_withdrawals.sql).

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

-- _wallet_transfer: the money of a deposit or credit ('deposit': world -> wallet), a withdrawal
-- ('withdrawal': wallet -> world) or a withdrawal request ('withdrawal_request': wallet -> the
-- pending-withdrawals account, and its app.withdrawals row), for user `p_user`, after the caller
-- claimed its idempotency key. Locks the wallet and the other account in id order. A deposit is
-- refused during a self-exclusion and above the daily deposit limit (rpc/15_limits.sql), checked
-- under the wallet lock; withdrawals are never limited.
-- Returns {transaction_id, user_id, amount, balance, version}; a request adds withdrawal_id and
-- status, and notifies withdrawal_requested to the user and withdrawal_pending to admins.
-- Raises: unknown_user, invalid_amount, amount_above_maximum, insufficient_funds, self_excluded,
-- daily_deposit_limit_reached.
drop function if exists app._wallet_transfer(text, bigint, text);
create or replace function app._wallet_transfer(
    p_user uuid,
    p_kind text,
    p_amount bigint,
    p_key text default null,
    p_memo jsonb default '{}'
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_account bigint;
    v_other bigint := app._system_account(
        case p_kind when 'withdrawal_request' then 'withdrawals_pending' else 'world' end);
    v_maximum bigint;
    v_balance bigint;
    v_tx bigint;
    v_withdrawal jsonb;
    v_result jsonb;
begin
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

    v_account := app._ensure_wallet(p_user);
    -- both accounts of the posting, in id order
    perform 1 from app.accounts as a where a.id in (v_other, v_account) order by a.id for update;
    select a.balance into v_balance from app.accounts as a where a.id = v_account;
    if p_kind = 'deposit' then
        perform app._require_deposit_allowed(p_user, p_amount);
        v_tx := app._post_transaction(
            p_kind, array[v_other, v_account], array[-p_amount, p_amount], p_memo => p_memo);
    else
        if v_balance < p_amount then
            perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
                'balance', v_balance, 'amount', p_amount));
        end if;
        v_tx := app._post_transaction(
            p_kind, array[v_account, v_other], array[-p_amount, p_amount], p_memo => p_memo);
    end if;

    select pg_catalog.jsonb_build_object(
        'transaction_id', v_tx, 'user_id', a.user_id, 'amount', p_amount,
        'balance', a.balance, 'version', a.version)
    into v_result
    from app.accounts as a
    where a.id = v_account;
    if p_kind = 'withdrawal_request' then
        v_withdrawal := app._open_withdrawal(p_user, p_amount, p_key, v_tx);
        v_result := v_result || pg_catalog.jsonb_build_object(
            'withdrawal_id', v_withdrawal -> 'withdrawal_id', 'status', 'pending');
    end if;
    return v_result;
end
$$;

-- deposit(amount, idempotency_key): add `amount` minor units to the caller's wallet.
-- Callers: authenticated, while app.config.self_service_deposits is on (the play-money default).
-- Changes: one 'deposit' ledger transaction (world -> wallet).
-- Refused during a self-exclusion and above the daily deposit limit (rpc/15_limits.sql).
-- Returns {transaction_id, user_id, amount, balance, version, replayed}.
-- Raises: not_authenticated, unknown_user, deposits_disabled, invalid_amount,
-- amount_above_maximum, invalid_idempotency_key, idempotency_conflict, self_excluded,
-- daily_deposit_limit_reached.
create or replace function public.deposit(amount bigint, idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb := app._idempotency_begin(
        v_user, deposit.idempotency_key, 'deposit',
        pg_catalog.jsonb_build_object('amount', deposit.amount));
begin
    if v_replay is not null then
        return v_replay;
    end if;
    -- after the claim, like a self-exclusion: a deposit accepted before the switch replays
    if not (select c.self_service_deposits from app.config as c) then
        perform app._fail('deposits_disabled', pg_catalog.jsonb_build_object('amount', deposit.amount));
    end if;
    return app._idempotency_finish(v_user, deposit.idempotency_key,
        app._wallet_transfer(v_user, 'deposit', deposit.amount));
end
$$;
grant execute on function public.deposit(bigint, text) to authenticated;

-- withdraw(amount, idempotency_key): take `amount` minor units out of the caller's wallet.
-- Callers: authenticated. Changes: with app.config.withdrawals_require_approval off (the default),
-- one 'withdrawal' ledger transaction (wallet -> world). With it on, one 'withdrawal_request'
-- transaction (wallet -> the pending-withdrawals account) and a pending withdrawal that an admin
-- approves or rejects (rpc/11_withdrawals.sql); notifies withdrawal_requested and
-- withdrawal_pending.
-- Returns {transaction_id, user_id, amount, balance, version, replayed}, and when it waits for an
-- admin also {withdrawal_id, status: 'pending'}.
-- An anonymous user (supabase-js's signInAnonymously) may not withdraw: money leaves the engine
-- only for a user with an email (docs/api.md, "Anonymous users").
-- Raises: not_authenticated, unknown_user, anonymous_user, invalid_amount, amount_above_maximum,
-- insufficient_funds, invalid_idempotency_key, idempotency_conflict.
create or replace function public.withdraw(amount bigint, idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb := app._idempotency_begin(
        v_user, withdraw.idempotency_key, 'withdrawal',
        pg_catalog.jsonb_build_object('amount', withdraw.amount));
    v_kind text;
begin
    if v_replay is not null then
        return v_replay;
    end if;
    if exists (select 1 from auth.users as u where u.id = v_user and u.is_anonymous) then
        perform app._fail('anonymous_user', pg_catalog.jsonb_build_object(
            'argument', 'amount', 'reason', 'an anonymous user may not withdraw'));
    end if;
    select case when c.withdrawals_require_approval then 'withdrawal_request' else 'withdrawal' end
    into v_kind
    from app.config as c;
    return app._idempotency_finish(v_user, withdraw.idempotency_key,
        app._wallet_transfer(v_user, v_kind, withdraw.amount, withdraw.idempotency_key));
end
$$;
grant execute on function public.withdraw(bigint, text) to authenticated;

-- The owner under which credit_wallet's idempotency keys are kept: one space for every admin and
-- the service role, so a payment's key credits once whoever sends it (no user has this id).
create or replace function app._credit_key_owner()
returns uuid
language sql immutable
set search_path = ''
as $$
    select '00000000-0000-0000-0000-000000000000'::uuid
$$;

-- credit_wallet(user_id, amount, reference, idempotency_key): money that came in from the outside
-- world (a payment the operator received, an admin's manual credit) into a user's wallet.
-- Callers: admins and the service role (a payment integration with the service key); an admin
-- never into their own wallet (four eyes, as approve_withdrawal). Works whatever
-- self_service_deposits says. The user's responsible-play rules apply as to a deposit:
-- refused during their self-exclusion and above their daily deposit limit, and it counts toward
-- that limit (docs/operations.md says why). The idempotency key is required and shared by every
-- caller (the payment's own id, say): a replay returns the first answer, the same key for another
-- user, amount or reference is refused.
-- Changes: one 'deposit' ledger transaction (world -> wallet) whose memo holds the reference;
-- logs; a balance message to the user, as a deposit sends.
-- Returns {transaction_id, user_id, amount, balance, version, reference, replayed}.
-- Raises: not_admin, invalid_argument (no reference or one over 200 characters; no key),
-- user_not_found, own_credit, invalid_amount, amount_above_maximum, invalid_idempotency_key,
-- idempotency_conflict, self_excluded, daily_deposit_limit_reached.
create or replace function public.credit_wallet(
    user_id uuid,
    amount bigint,
    reference text,
    idempotency_key text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_reference text := btrim(credit_wallet.reference);
    v_replay jsonb;
    v_result jsonb;
begin
    if v_reference is null or length(v_reference) not between 1 and 200 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'reference', 'reason', 'between 1 and 200 characters'));
    end if;
    if credit_wallet.idempotency_key is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'idempotency_key', 'reason', 'required: a credit must be sent once'));
    end if;
    v_replay := app._idempotency_begin(
        app._credit_key_owner(), credit_wallet.idempotency_key, 'credit_wallet',
        pg_catalog.jsonb_build_object(
            'user_id', credit_wallet.user_id, 'amount', credit_wallet.amount,
            'reference', v_reference));
    if v_replay is not null then
        return v_replay;
    end if;
    if not exists (
        select 1 from auth.users as u
        where u.id = credit_wallet.user_id and u.deleted_at is null
    ) then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object(
            'user_id', credit_wallet.user_id));
    end if;
    if v_actor = credit_wallet.user_id then
        perform app._fail('own_credit', pg_catalog.jsonb_build_object(
            'user_id', credit_wallet.user_id));
    end if;

    v_result := app._wallet_transfer(
        credit_wallet.user_id, 'deposit', credit_wallet.amount,
        p_memo => pg_catalog.jsonb_build_object(
            'source', 'credit_wallet', 'reference', v_reference,
            'idempotency_key', credit_wallet.idempotency_key, 'credited_by', v_actor))
        || pg_catalog.jsonb_build_object('reference', v_reference);
    perform app._audit('credit_wallet', null, null, v_reference, null,
        v_result || pg_catalog.jsonb_build_object('idempotency_key', credit_wallet.idempotency_key));
    return app._idempotency_finish(
        app._credit_key_owner(), credit_wallet.idempotency_key, v_result);
end
$$;
grant execute on function public.credit_wallet(uuid, bigint, text, text) to authenticated, service_role;
