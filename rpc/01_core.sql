-- Private helpers every money function builds on: who is calling, notifications, the audit log,
-- idempotency keys, wallets, and the one function that moves money (_post_transaction).
-- None of these is granted to a client role; they run inside the security definer functions.

-- _require_user: the calling user's id. Refuses anon and service callers.
-- Raises: not_authenticated, unknown_user (a token whose user does not exist or was deleted: see
-- auth.uid in sql/auth.sql).
create or replace function app._require_user()
returns uuid
language plpgsql stable
set search_path = ''
as $$
declare
    v_user uuid := auth.uid();
begin
    if v_user is null then
        perform app._fail('not_authenticated');
    end if;
    return v_user;
end
$$;

-- _require_admin: the calling admin's id (null for the service role, which may act as admin).
-- The token's claim is not enough: auth.is_admin() also asks auth.users, so a demoted or deleted
-- admin loses the rights at once, not when their token expires.
-- Raises: not_admin.
create or replace function app._require_admin()
returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
    if auth.role() = 'service_role' then
        return auth.uid();
    end if;
    if auth.is_admin() then
        return auth.uid();
    end if;
    perform app._fail('not_admin', pg_catalog.jsonb_build_object('role', auth.role()));
    return null;
end
$$;

-- _notify: one live message, delivered to listeners only if the transaction commits.
-- Channels: wagerbase_market (public), wagerbase_user (one user's), wagerbase_admin (admins').
-- docs/notifications.md lists every payload. NOTIFY refuses payloads of 8000 bytes or more, and
-- its error would undo the money call that sent it: a payload that large is replaced by its
-- routing fields and `truncated: true`, so the client reloads instead.
create or replace function app._notify(p_channel text, p_payload jsonb)
returns void
language sql
set search_path = ''
as $$
    select pg_catalog.pg_notify(
        p_channel,
        case
            when pg_catalog.octet_length(p_payload::text) < 7900 then p_payload::text
            else pg_catalog.jsonb_build_object(
                'type', p_payload -> 'type', 'user_id', p_payload -> 'user_id',
                'market_id', p_payload -> 'market_id', 'version', p_payload -> 'version',
                'truncated', true
            )::text
        end
    )
$$;

-- _required_reason: the trimmed reason an admin must give (void, corrections, cancelling).
-- Raises: invalid_argument (missing, or longer than 500 characters).
create or replace function app._required_reason(p_reason text)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_reason text := btrim(p_reason);
begin
    if v_reason is null or length(v_reason) not between 1 and 500 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'reason', 'reason', 'between 1 and 500 characters'));
    end if;
    return v_reason;
end
$$;

-- _audit: one row of the admin actions log, by the caller (auth.uid(), auth.role()). Work with no
-- request behind it (the scheduler) names its role in `p_role`.
drop function if exists app._audit(text, bigint, bigint, text, jsonb, jsonb);
create or replace function app._audit(
    p_action text,
    p_market_id bigint,
    p_wager_id bigint,
    p_reason text,
    p_before jsonb,
    p_after jsonb,
    p_role text default null
)
returns void
language sql
set search_path = ''
as $$
    insert into app.admin_actions (actor, actor_role, action, market_id, wager_id, reason, before, after)
    values (
        auth.uid(), coalesce(p_role, auth.role()), p_action, p_market_id, p_wager_id, p_reason,
        p_before, p_after
    )
$$;

-- _idempotency_begin: claim `p_key` for this user and operation, before anything else happens.
-- Returns null when the caller should go on (the key is new, or there is none); returns the stored
-- result, marked replayed, when the same call was made before. A concurrent call with the same key
-- waits on the primary key until the first one commits or rolls back. A replay counts itself on
-- the key's row (replays, last_replayed_at): that write makes its commit wait for the synchronous
-- standby, so a replayed answer is never given before a second machine holds what it reports
-- (migrations/0012).
-- Raises: invalid_idempotency_key, idempotency_conflict; 40001 under repeatable read, to retry.
create or replace function app._idempotency_begin(
    p_user uuid,
    p_key text,
    p_operation text,
    p_arguments jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_row app.idempotency_keys;
begin
    if p_key is null then
        return null;
    end if;
    if length(p_key) not between 1 and 200 then
        perform app._fail('invalid_idempotency_key',
            pg_catalog.jsonb_build_object('length', length(p_key)));
    end if;

    insert into app.idempotency_keys (user_id, key, operation, arguments)
    values (p_user, p_key, p_operation, p_arguments)
    on conflict do nothing;
    if found then
        return null;
    end if;

    select * into v_row
    from app.idempotency_keys as k
    where k.user_id = p_user and k.key = p_key;
    if not found or v_row.result is null then
        -- only possible when our snapshot predates the other call's commit
        raise exception using
            errcode = '40001',
            message = 'idempotency_key_in_flight',
            detail = pg_catalog.jsonb_build_object('idempotency_key', p_key)::text,
            hint = 'Retry the call.';
    end if;
    if v_row.operation <> p_operation or v_row.arguments <> p_arguments then
        perform app._fail('idempotency_conflict', pg_catalog.jsonb_build_object(
            'idempotency_key', p_key,
            'operation', v_row.operation,
            'arguments', v_row.arguments
        ));
    end if;
    update app.idempotency_keys as k
    set replays = k.replays + 1, last_replayed_at = now()
    where k.user_id = p_user and k.key = p_key;
    return v_row.result || '{"replayed": true}';
end
$$;

-- _idempotency_finish: store the result that a replay of `p_key` will return.
create or replace function app._idempotency_finish(p_user uuid, p_key text, p_result jsonb)
returns jsonb
language sql
set search_path = ''
as $$
    update app.idempotency_keys as k
    set result = p_result
    where k.user_id = p_user and k.key = p_key;
    select p_result || '{"replayed": false}';
$$;

-- _system_account: the id of the house, world or grants account.
create or replace function app._system_account(p_kind text)
returns bigint
language sql stable
set search_path = ''
as $$
    select a.id from app.accounts as a where a.kind = p_kind
$$;

-- _post_transaction: the one way one ledger transaction is posted (app._post_transactions holds
-- the rules): for each account, its amount (positive credits it, negative debits it). Amounts for
-- the same account are added up first; accounts whose amounts cancel out get no entry. Locks the
-- accounts in id order, updates each cached balance and version, writes one entry per account
-- with the balance before and after, and notifies every user whose balance changed (and admins
-- when the house's did). `p_actor` is who the transaction records as acting (default: auth.uid()).
-- Returns the transaction id, or null when nothing moved.
-- Raises: ledger_unbalanced when the amounts do not sum to zero; the named check
-- accounts_balance_non_negative (23514) if a caller let a wallet go below zero.
drop function if exists app._post_transaction(text, bigint[], bigint[], bigint, bigint, jsonb);
create or replace function app._post_transaction(
    p_kind text,
    p_accounts bigint[],
    p_amounts bigint[],
    p_market_id bigint default null,
    p_wager_id bigint default null,
    p_memo jsonb default '{}',
    p_actor uuid default null
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_posted record;
begin
    select * into v_posted
    from app._post_transactions(
        p_kind,
        array_fill(1, array[cardinality(p_accounts)]),
        p_accounts,
        p_amounts,
        array[p_market_id],
        array[p_wager_id],
        array[coalesce(p_actor, auth.uid())],
        array[p_memo]
    );
    if not found then
        return null;
    end if;
    perform app._notify(
        case when m.message ? 'user_id' then 'wagerbase_user' else 'wagerbase_admin' end, m.message)
    from jsonb_array_elements(v_posted.messages) as m (message);
    return v_posted.transaction_id;
end
$$;

-- _post_transactions: the only code that moves money. Posts ledger transactions of kind `p_kind`,
-- numbered 1..n, one after another, as if each were posted on its own: line i puts `p_amounts[i]`
-- on account `p_accounts[i]` in transaction `p_lines[i]`; transaction t records `p_market_ids[t]`,
-- `p_wager_ids[t]`, `p_actors[t]` and `p_memos[t]`. In each transaction the amounts for the same
-- account are added up first, and accounts whose amounts cancel out get no entry; a transaction
-- where nothing moves is not written. Locks every account that moves in id order (once), then in
-- a handful of statements whatever n is: the transactions in order, one entry per account and
-- transaction with the balance before and after and the account's version, each account's
-- balance and version updated once. Notifies nobody: it returns, per transaction that was written,
-- its ordinal, its id and its live messages in order (one `balance` per user whose balance moved,
-- and a `profit` for admins when the house's did), for the caller to send when it sends its own
-- (_post_transaction at once; a batch of wagers in the order single calls would have).
-- Callers: engine functions only. Changes: app.ledger_transactions, app.ledger_entries,
-- app.accounts.
-- Raises: ledger_unbalanced when a transaction's amounts do not sum to zero (nothing is written);
-- the named check accounts_balance_non_negative (23514) if a caller let a wallet or an escrow go
-- below zero, after any of the transactions.
create or replace function app._post_transactions(
    p_kind text,
    p_lines integer[],
    p_accounts bigint[],
    p_amounts bigint[],
    p_market_ids bigint[],
    p_wager_ids bigint[],
    p_actors uuid[],
    p_memos jsonb[]
)
returns table (ordinal integer, transaction_id bigint, messages jsonb)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_unbalanced integer;
    v_negative bigint;
begin
    select l.n into v_unbalanced
    from unnest(p_lines, p_amounts) as l (n, amount)
    group by l.n
    having sum(l.amount) <> 0
    order by l.n
    limit 1;
    if v_unbalanced is not null then
        perform app._fail('ledger_unbalanced', pg_catalog.jsonb_build_object(
            'kind', p_kind,
            'accounts', (select array_agg(l.account_id order by l.i)
                from unnest(p_lines, p_accounts) with ordinality as l (n, account_id, i)
                where l.n = v_unbalanced),
            'amounts', (select array_agg(l.amount order by l.i)
                from unnest(p_lines, p_amounts) with ordinality as l (n, amount, i)
                where l.n = v_unbalanced)));
    end if;

    perform 1
    from app.accounts as a
    where a.id in (
        select l.account_id
        from unnest(p_lines, p_accounts, p_amounts) as l (n, account_id, amount)
        group by l.n, l.account_id
        having sum(l.amount) <> 0
    )
    order by a.id
    for update;

    -- each account's balance after every step, checked before anything is written: the table's
    -- check sees the last balance only
    select d.account_id into v_negative
    from (
        select
            l.account_id,
            a.kind,
            a.balance + sum(sum(l.amount)) over (partition by l.account_id order by l.n) as balance
        from unnest(p_lines, p_accounts, p_amounts) as l (n, account_id, amount)
        inner join app.accounts as a on l.account_id = a.id
        group by l.n, l.account_id, a.kind, a.balance
    ) as d
    where d.balance < 0 and d.kind in ('user', 'escrow')
    limit 1;
    if v_negative is not null then
        raise exception using
            errcode = '23514',
            message = 'new row for relation "accounts" violates check constraint '
                || '"accounts_balance_non_negative"',
            constraint = 'accounts_balance_non_negative',
            detail = pg_catalog.jsonb_build_object('account_id', v_negative)::text;
    end if;

    return query
    with deltas as (
        select l.n, l.account_id, sum(l.amount)::bigint as delta
        from unnest(p_lines, p_accounts, p_amounts) as l (n, account_id, amount)
        group by l.n, l.account_id
        having sum(l.amount) <> 0
    ),
    moving as (
        select d.n, row_number() over (order by d.n) as k
        from deltas as d
        group by d.n
    ),
    inserted as (
        -- in ordinal order: the ids are given in that order (ranked below)
        insert into app.ledger_transactions (kind, market_id, wager_id, actor, memo)
        select p_kind, p_market_ids[t.n], p_wager_ids[t.n], p_actors[t.n],
               coalesce(p_memos[t.n], '{}')
        from moving as t
        order by t.n
        returning id
    ),
    ids as (
        select t.n, i.id
        from (select x.id, row_number() over (order by x.id) as k from inserted as x) as i
        inner join moving as t on i.k = t.k
    ),
    before as (
        select a.id, a.kind, a.user_id, a.balance, a.version
        from app.accounts as a
        where a.id in (select d.account_id from deltas as d)
    ),
    moves as (
        select
            d.n, d.account_id, d.delta, b.kind, b.user_id,
            (b.balance + sum(d.delta) over w)::bigint as balance_after,
            b.version + row_number() over w as version_after
        from deltas as d
        inner join before as b on d.account_id = b.id
        window w as (partition by d.account_id order by d.n)
    ),
    moved as (
        update app.accounts as a
        set balance = a.balance + t.total, version = a.version + t.steps
        from (
            select d.account_id, sum(d.delta)::bigint as total, count(*) as steps
            from deltas as d
            group by d.account_id
        ) as t
        where a.id = t.account_id
        returning a.id
    ),
    written as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, market_id,
            amount, balance_before, balance_after, account_version
        )
        select x.id, m.account_id, m.user_id, p_kind, p_market_ids[m.n],
               m.delta, m.balance_after - m.delta, m.balance_after, m.version_after
        from moves as m
        inner join ids as x on m.n = x.n
        order by m.n, m.account_id
        returning transaction_id
    )
    select
        x.n::integer,
        x.id,
        coalesce(
            jsonb_agg(pg_catalog.jsonb_build_object(
                'user_id', m.user_id, 'balance', m.balance_after,
                'version', m.version_after, 'delta', m.delta
            ) || pg_catalog.jsonb_build_object(
                'type', 'balance', 'reason', p_kind, 'transaction_id', x.id,
                'market_id', p_market_ids[x.n], 'wager_id', p_wager_ids[x.n]
            ) order by m.account_id) filter (where m.user_id is not null),
            '[]'::jsonb
        ) || coalesce(
            jsonb_agg(pg_catalog.jsonb_build_object('type', 'profit')
                || app._house_figures_of(m.balance_after, m.version_after))
            filter (where m.kind = 'house'),
            '[]'::jsonb
        )
    from ids as x
    inner join moves as m on x.n = m.n
    group by x.n, x.id
    order by x.n;
end
$$;

-- _house_figures_of: the house's figures (_house_figures) for a balance and version of its account.
create or replace function app._house_figures_of(p_balance bigint, p_version bigint)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object('balance', p_balance, 'profit', p_balance, 'version', p_version)
$$;

-- _house_figures: the bookmaker's balance and profit, for house_summary and profit messages.
-- Profit is the house account's balance: only settlements move it (stakes kept minus winnings
-- paid, plus rake and dust), so it is exactly the bookmaker's result, and it is already current
-- when _post_transaction announces it, before the settlement row is written.
create or replace function app._house_figures()
returns jsonb
language sql stable
set search_path = ''
as $$
    select app._house_figures_of(a.balance, a.version)
    from app.accounts as a
    where a.kind = 'house'
$$;

-- _ensure_wallet: the user's wallet account id, created on first touch and funded with the
-- configured initial balance from the grants account. Checked on every call: a deleted user's
-- token no longer moves their money.
-- Raises: unknown_user when the user does not exist or was deleted.
create or replace function app._ensure_wallet(p_user uuid)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_account bigint;
    v_initial bigint;
begin
    if not exists (
        select 1 from auth.users as u where u.id = p_user and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    select a.id into v_account from app.accounts as a where a.user_id = p_user;
    if found then
        return v_account;
    end if;

    insert into app.accounts (kind, user_id) values ('user', p_user)
    on conflict (user_id) do nothing
    returning id into v_account;
    if v_account is null then
        -- a concurrent first touch created it and has committed
        select a.id into v_account from app.accounts as a where a.user_id = p_user;
        return v_account;
    end if;

    select c.initial_balance into v_initial from app.config as c;
    if v_initial > 0 then
        perform app._post_transaction(
            'grant',
            array[app._system_account('grants'), v_account],
            array[-v_initial, v_initial],
            p_memo => '{"reason": "initial balance"}'
        );
    end if;
    return v_account;
end
$$;

-- _wallet_balance_locked: lock the user's wallet and return its balance. Callers that also lock
-- a market lock the market first (global order: market, then accounts by id).
create or replace function app._wallet_balance_locked(p_account bigint)
returns bigint
language sql
set search_path = ''
as $$
    select a.balance from app.accounts as a where a.id = p_account for update
$$;
