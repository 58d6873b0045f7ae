-- Private helpers every money function builds on: who is calling, notifications, the audit log,
-- idempotency keys, wallets, and the function that moves money (_post_transaction).
-- None of these is granted to a client role; they run inside the security definer functions.
-- The exception is public.acts_as_admin(), the rule _require_admin enforces, which tells any
-- caller whether they act as an admin now.

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

-- _is_admin(claims): whether the claims (by default the caller's, auth.jwt()) are an admin's: they
-- carry app_metadata.role = 'admin' AND name a user who still exists and is still an admin in
-- auth.users. app_metadata is written only by the server (sign-up never sets it), so a user cannot
-- make themselves admin; and a demoted or deleted admin loses every admin read and call at once,
-- not when their token expires (false for them, never an error, so a deleted admin's token reads
-- public rows as anyone does). It asks only what hosted Supabase's auth schema has too
-- (auth.jwt(), auth.users), so it lives in `app`, not in Supabase's `auth`. Security definer:
-- clients cannot read auth.users. Granted to the client roles: the policies call it as
-- `(select app._is_admin())`, once per statement. A batch of wagers asks it for each wager's own
-- claims. Changes: nothing. Raises: nothing.
create or replace function app._is_admin(p_claims jsonb default auth.jwt())
returns boolean
language sql stable
security definer
set search_path = ''
as $$
    select coalesce(p_claims -> 'app_metadata' ->> 'role' = 'admin', false)
        and exists (
            select 1 from auth.users as u
            where u.id = nullif(p_claims ->> 'sub', '')::uuid and u.deleted_at is null
                and u.raw_app_meta_data ->> 'role' = 'admin'
        )
$$;

-- acts_as_admin(): whether the caller acts as an admin now: the service role, or a token that
-- claims admin for a user who still is one (app._is_admin). The one statement of the rule:
-- app._require_admin enforces it, and the API nodes ask it before an admin message goes to a
-- socket. Callers: anyone (it says only who they are).
-- Changes: nothing.
-- Raises: nothing
create or replace function public.acts_as_admin()
returns boolean
language sql stable
set search_path = ''
as $$
    select coalesce(auth.role() = 'service_role', false) or app._is_admin()
$$;
grant execute on function public.acts_as_admin() to anon, authenticated, service_role;

-- _require_admin: the calling admin's id (null for the service role, which may act as admin),
-- when public.acts_as_admin().
-- Raises: not_admin.
create or replace function app._require_admin()
returns uuid
language plpgsql stable
set search_path = ''
as $$
begin
    if public.acts_as_admin() then
        return auth.uid();
    end if;
    perform app._fail('not_admin', pg_catalog.jsonb_build_object('role', auth.role()));
    return null;
end
$$;

-- _notify: one live message, an event of the stream (app.events, migrations/0017): it exists only
-- if the transaction commits, and every API node's hub delivers it to its sockets once it has
-- (server.read_events). Channels: wagerbase_market (public), wagerbase_user (one user's),
-- wagerbase_admin (admins'). docs/notifications.md lists every payload; there is no size limit.
-- Events of one market are inserted while the market's row is locked, and a user's balance
-- messages while the wallet is (by _post_transaction), so their ids follow the versions.
-- Callers: the engine's functions, never a client role. Changes: app.events. Raises: nothing
-- (an unknown channel violates events_channel_known: a bug).
create or replace function app._notify(p_channel text, p_payload jsonb)
returns void
language sql
set search_path = ''
as $$
    insert into app.events (channel, payload) values (p_channel, p_payload)
$$;

-- _notify_each: _notify for each element of the JSON array `p_payloads`, merged with `p_extra`
-- (whose keys win), in the array's order and in one statement: a settlement tells thousands of
-- users at once.
-- Callers: the engine's functions, never a client role. Changes: app.events. Raises: nothing.
create or replace function app._notify_each(
    p_channel text, p_payloads jsonb, p_extra jsonb default '{}'
)
returns void
language sql
set search_path = ''
as $$
    insert into app.events (channel, payload)
    select p_channel, e.payload || p_extra
    from jsonb_array_elements(coalesce(p_payloads, '[]')) with ordinality as e (payload, position)
    order by e.position
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

-- _post_transaction: the code that moves money. Posts one ledger transaction: for each
-- account, its amount (positive credits it, negative debits it). Amounts for the same account are
-- added up first; accounts whose amounts cancel out get no entry. Locks the accounts in id order,
-- updates each cached balance and version, writes one entry per account with the balance before
-- and after, and notifies every user whose balance changed (and admins when the house's did).
-- `p_actor` is who the transaction records as acting (default: auth.uid()).
-- Three statements whatever the posting (a batch's stakes, a settlement, a deposit post here): the
-- amounts summed by account (none for the common two accounts, one amount each way), the lock,
-- and one statement that writes the transaction, the balances, the entries and the messages.
-- The one other posting is a single placement's stake (public.place_wager): the same rows for
-- two accounts, written in the statement that writes its wager; tests/db/test_batched_placement.py
-- compares its books with a batch's, whose stakes post here.
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
    v_ids bigint[];
    v_deltas bigint[];
    v_total numeric;
    v_tx bigint;
begin
    if cardinality(p_accounts) = 2 and cardinality(p_amounts) = 2
        and p_accounts[1] <> p_accounts[2] and p_amounts[1] <> 0
        and p_amounts[1]::numeric + p_amounts[2] = 0 then
        -- two accounts, one amount each way: already summed and balanced
        if p_accounts[1] < p_accounts[2] then
            v_ids := p_accounts;
            v_deltas := p_amounts;
        else
            v_ids := array[p_accounts[2], p_accounts[1]];
            v_deltas := array[p_amounts[2], p_amounts[1]];
        end if;
    else
        select coalesce(array_agg(d.account_id order by d.account_id), '{}'),
               coalesce(array_agg(d.delta order by d.account_id), '{}'),
               coalesce(sum(d.delta), 0)
        into v_ids, v_deltas, v_total
        from (
            select u.account_id, sum(u.amount)::bigint as delta
            from unnest(p_accounts, p_amounts) as u (account_id, amount)
            group by u.account_id
            having sum(u.amount) <> 0
        ) as d;

        if v_total <> 0 then
            perform app._fail('ledger_unbalanced', pg_catalog.jsonb_build_object(
                'kind', p_kind, 'accounts', p_accounts, 'amounts', p_amounts));
        end if;
        if cardinality(v_ids) = 0 then
            return null;
        end if;
    end if;

    perform 1 from app.accounts as a where a.id = any(v_ids) order by a.id for update;

    -- the transaction, the balances and their entries, then the messages in the order a reader
    -- is told them: each user's balance by account id, then the house's figures to admins
    with tx as (
        insert into app.ledger_transactions (kind, market_id, wager_id, actor, memo)
        values (p_kind, p_market_id, p_wager_id, coalesce(p_actor, auth.uid()), coalesce(p_memo, '{}'))
        returning id
    ),
    moved as (
        -- by `= any`, which finds the accounts by their primary key whatever the plan's guess
        update app.accounts as a
        set balance = a.balance + v_deltas[array_position(v_ids, a.id)], version = a.version + 1
        where a.id = any(v_ids)
        returning a.id, a.kind, a.user_id, a.balance, a.version,
            v_deltas[array_position(v_ids, a.id)] as delta
    ),
    written as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, market_id,
            amount, balance_before, balance_after, account_version
        )
        select t.id, m.id, m.user_id, p_kind, p_market_id,
               m.delta, m.balance - m.delta, m.balance, m.version
        from moved as m
        cross join tx as t
        returning transaction_id, account_id, user_id, amount, balance_after, account_version
    ),
    told as (
        insert into app.events (channel, payload)
        select e.channel, e.payload
        from (
            select 'wagerbase_user' as channel, 1 as rank, w.account_id,
                   pg_catalog.jsonb_build_object(
                       'user_id', w.user_id, 'balance', w.balance_after,
                       'version', w.account_version, 'delta', w.amount,
                       'type', 'balance', 'reason', p_kind, 'transaction_id', w.transaction_id,
                       'market_id', p_market_id, 'wager_id', p_wager_id) as payload
            from written as w
            where w.user_id is not null
            union all
            select 'wagerbase_admin', 2, m.id,
                   pg_catalog.jsonb_build_object('type', 'profit')
                   || app._house_figures_at(m.balance, m.version)
            from moved as m
            where m.kind = 'house'
        ) as e
        order by e.rank, e.account_id
    )
    select t.id into v_tx from tx as t;
    return v_tx;
end
$$;

-- _house_figures_at: the bookmaker's figures (_house_figures) for the house account at this
-- balance and version (what _post_transaction has just written). Changes nothing; raises nothing.
create or replace function app._house_figures_at(p_balance bigint, p_version bigint)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object('balance', p_balance, 'profit', p_balance, 'version', p_version)
$$;

-- _house_figures: the bookmaker's balance and profit, for house_summary and profit messages.
-- Profit is the house account's balance: only settlements (stakes kept minus winnings paid, plus
-- rake and dust) and house games' bets (stakes kept minus payouts) move it, so it is exactly the
-- bookmaker's result, and it is already current when _post_transaction announces it, before the
-- settlement or bet row is written.
create or replace function app._house_figures()
returns jsonb
language sql stable
set search_path = ''
as $$
    select app._house_figures_at(a.balance, a.version)
    from app.accounts as a
    where a.kind = 'house'
$$;

-- _ensure_wallet: the user's wallet account id, created on first touch and funded with the
-- configured initial balance from the grants account, the grant recording `p_actor` as acting
-- (default: auth.uid(); a batch of wagers names each wager's user). Checked on every call: a
-- deleted user's token no longer moves their money.
-- Raises: unknown_user when the user does not exist or was deleted.
drop function if exists app._ensure_wallet(uuid);
create or replace function app._ensure_wallet(p_user uuid, p_actor uuid default null)
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
            p_memo => '{"reason": "initial balance"}',
            p_actor => p_actor
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
