-- Markets: creation and the lifecycle draft -> open -> closed -> settled, or void before settled.
-- Settlement itself is in 40_settlement.sql.

-- _lock_market: the market row, locked for the rest of the transaction. Every function that
-- changes a market or its wagers locks the market first (global order: market, then accounts).
-- `no key update`: as exclusive as `update` among these functions, but it lets the foreign-key
-- checks of rows that merely reference the market (snapshots, telemetry) through, so a busy
-- market never queues work on other markets behind it.
-- Raises: market_not_found.
create or replace function app._lock_market(p_market_id bigint)
returns app.markets
language plpgsql
set search_path = ''
as $$
declare
    v_market app.markets;
begin
    select * into v_market from app.markets as m where m.id = p_market_id for no key update;
    if not found then
        perform app._fail('market_not_found', pg_catalog.jsonb_build_object('market_id', p_market_id));
    end if;
    return v_market;
end
$$;

-- _lock_market_accounts: lock, in id order, every account a settlement or void of the market can
-- touch: its escrow, the house, and the wallet of everyone with an unsettled wager on it. Called
-- right after the market is locked by functions that post more than one ledger transaction, so
-- that their locks are all taken in the one global order (two postings would otherwise each lock
-- in order, but not in order together, and two settlements sharing a bettor could deadlock).
-- The accounts are found as a list of ids (a semi-join the planner can hash or walk by index):
-- `user_id in (wagers) or ...` in one condition was a subplan, hashed only while the market's
-- wagers fit in work_mem, and otherwise read again for every account (13 s for a million
-- wagers from 10,000 bettors).
create or replace function app._lock_market_accounts(p_market_id bigint)
returns void
language sql
set search_path = ''
as $$
    select 1
    from app.accounts as a
    where a.id in (
        select e.id
        from app.accounts as e
        where e.market_id = p_market_id or e.kind = 'house'
        union all
        select u.id
        from app.accounts as u
        where u.user_id in (
            select w.user_id from app.wagers as w
            where w.market_id = p_market_id and w.settlement = 'open'
        )
    )
    order by a.id
    for update
$$;

-- _require_status: refuse `p_action` unless the market's status is one of `p_allowed`.
-- Raises: already_settled (the market is settled), invalid_market_state (any other status).
create or replace function app._require_status(p_market app.markets, p_allowed text[], p_action text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_market.status = any(p_allowed) then
        return;
    end if;
    perform app._fail(
        case when p_market.status = 'settled' then 'already_settled' else 'invalid_market_state' end,
        pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'status', p_market.status,
            'action', p_action, 'allowed', p_allowed));
end
$$;

-- _option_amount: a whole-number market option from `p_min` to `p_max`, or `p_default` if absent.
-- Raises: invalid_option.
create or replace function app._option_amount(
    p_options jsonb,
    p_key text,
    p_default bigint,
    p_min bigint,
    p_max bigint
)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_value jsonb := p_options -> p_key;
begin
    if v_value is null or jsonb_typeof(v_value) = 'null' then
        return p_default;
    end if;
    if jsonb_typeof(v_value) <> 'number'
        or v_value::numeric <> trunc(v_value::numeric)
        or v_value::numeric not between p_min and p_max then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', p_key, 'value', v_value,
            'reason', format('a whole number from %s to %s', p_min, p_max)));
    end if;
    return v_value::numeric::bigint;
end
$$;

-- _option_text: a text market option that must be one of `p_allowed` (any text when null).
-- Raises: invalid_option.
create or replace function app._option_text(
    p_options jsonb,
    p_key text,
    p_default text,
    p_allowed text[]
)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_value jsonb := p_options -> p_key;
begin
    if v_value is null or jsonb_typeof(v_value) = 'null' then
        return p_default;
    end if;
    if jsonb_typeof(v_value) <> 'string'
        or (p_allowed is not null and not (v_value #>> '{}') = any(p_allowed)) then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', p_key, 'value', v_value,
            'reason', coalesce('one of ' || array_to_string(p_allowed, ', '), 'a string')));
    end if;
    return v_value #>> '{}';
end
$$;

-- _market_row: a market and its outcomes as one JSON object, for answers and the audit log.
create or replace function app._market_row(p_market_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(m) || pg_catalog.jsonb_build_object('outcomes', (
        select jsonb_agg(pg_catalog.jsonb_build_object(
            'outcome_id', o.id, 'position', o.position, 'label', o.label,
            'color', o.color, 'abbreviation', o.abbreviation
        ) order by o.position)
        from app.outcomes as o
        where o.market_id = m.id
    ))
    from app.markets as m
    where m.id = p_market_id
$$;

-- create_market(title, outcomes, kind, options): a new market with its outcomes and escrow.
-- outcomes: a JSON array of 2 to 32 labels, or objects {label, color, abbreviation}.
-- kind: 'fixed_odds' (default) or 'parimutuel'.
-- options (all optional): description, category ('real' | 'virtual'), status ('open', the default,
-- or 'draft'), closes_at (a future timestamp), requires_approval (boolean), virtual_stake,
-- commission_bps, margin, min_cap, rake_bps (0 to 2500), max_payout; defaults in app.config.
-- Callers: admins. Changes: the market, its outcomes, its escrow account; logs the action;
-- notifies `created` when it opens at once.
-- Raises: not_admin, invalid_argument, invalid_option.
create or replace function public.create_market(
    title text,
    outcomes jsonb,
    kind text default 'fixed_odds',
    options jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_actor uuid := app._require_admin();
    v_options jsonb := coalesce(create_market.options, '{}');
    v_config app.config;
    v_title text := btrim(create_market.title);
    v_status text;
    v_closes_at timestamptz;
    v_requires_approval boolean;
    v_unknown text;
    v_market_id bigint;
    v_labels text[];
    v_outcome_count integer;
begin
    select * into v_config from app.config;

    if v_title is null or length(v_title) not between 1 and 200 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'title', 'reason', 'between 1 and 200 characters'));
    end if;
    if create_market.kind is null or create_market.kind not in ('fixed_odds', 'parimutuel') then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'kind', 'value', create_market.kind,
            'reason', 'fixed_odds or parimutuel'));
    end if;

    -- outcomes: 2 to 32 distinct labels
    if jsonb_typeof(create_market.outcomes) is distinct from 'array'
        or jsonb_array_length(create_market.outcomes) not between 2 and 32 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'outcomes', 'reason', 'an array of 2 to 32 outcomes'));
    end if;
    select array_agg(btrim(case jsonb_typeof(e.value)
            when 'string' then e.value #>> '{}'
            when 'object' then e.value ->> 'label'
        end) order by e.ordinality)
    into v_labels
    from jsonb_array_elements(create_market.outcomes) with ordinality as e (value, ordinality);
    v_outcome_count := cardinality(v_labels);
    if exists (select 1 from unnest(v_labels) as l where l is null or length(l) not between 1 and 100)
        or (select count(distinct lower(l)) from unnest(v_labels) as l) <> v_outcome_count then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'outcomes',
            'reason', 'each outcome needs a distinct label of 1 to 100 characters'));
    end if;

    -- options
    if jsonb_typeof(v_options) <> 'object' then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', null, 'reason', 'options must be a JSON object'));
    end if;
    select k into v_unknown
    from jsonb_object_keys(v_options) as k
    where k not in (
        'description', 'category', 'status', 'closes_at', 'requires_approval', 'virtual_stake',
        'commission_bps', 'margin', 'min_cap', 'rake_bps', 'max_payout'
    )
    limit 1;
    if v_unknown is not null then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', v_unknown, 'reason', 'unknown option'));
    end if;

    v_status := app._option_text(v_options, 'status', 'open', array['open', 'draft']);
    if v_options ? 'requires_approval' and jsonb_typeof(v_options -> 'requires_approval') <> 'null' then
        if jsonb_typeof(v_options -> 'requires_approval') <> 'boolean' then
            perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
                'option', 'requires_approval', 'reason', 'true or false'));
        end if;
        v_requires_approval := (v_options ->> 'requires_approval')::boolean;
    end if;
    if v_options ? 'closes_at' and jsonb_typeof(v_options -> 'closes_at') <> 'null' then
        begin
            v_closes_at := (app._option_text(v_options, 'closes_at', null, null))::timestamptz;
        exception when invalid_datetime_format or datetime_field_overflow then
            v_closes_at := null;
        end;
        if v_closes_at is null or v_closes_at <= now() then
            perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
                'option', 'closes_at', 'value', v_options -> 'closes_at',
                'reason', 'a timestamp in the future'));
        end if;
    end if;

    insert into app.markets (
        title, description, kind, category, status, virtual_stake, commission_bps, margin,
        min_cap, rake_bps, requires_approval, closes_at, max_payout, outcome_count,
        created_by, opened_at
    )
    values (
        v_title,
        coalesce(app._option_text(v_options, 'description', '', null), ''),
        create_market.kind,
        app._option_text(v_options, 'category', 'real', array['real', 'virtual']),
        v_status,
        app._option_amount(v_options, 'virtual_stake', v_config.default_virtual_stake, 1, 1e15::bigint),
        app._option_amount(v_options, 'commission_bps', v_config.default_commission_bps, 0, 9999)::integer,
        app._option_amount(v_options, 'margin', v_config.default_margin, 0, 1e15::bigint),
        app._option_amount(v_options, 'min_cap', v_config.default_min_cap, 1, 1e15::bigint),
        app._option_amount(v_options, 'rake_bps', v_config.default_rake_bps, 0, 2500)::integer,
        coalesce(v_requires_approval, false),
        v_closes_at,
        app._option_amount(v_options, 'max_payout', v_config.default_max_payout, 1, 1e15::bigint),
        v_outcome_count,
        v_actor,
        case when v_status = 'open' then now() end
    )
    returning id into v_market_id;

    insert into app.outcomes (market_id, position, label, color, abbreviation)
    select v_market_id, e.ordinality, l.label,
           nullif(left(e.value ->> 'color', 32), ''), nullif(left(e.value ->> 'abbreviation', 8), '')
    from jsonb_array_elements(create_market.outcomes) with ordinality as e (value, ordinality)
    inner join unnest(v_labels) with ordinality as l (label, ordinality)
        on e.ordinality = l.ordinality;

    insert into app.accounts (kind, market_id) values ('escrow', v_market_id);

    perform app._audit('create_market', v_market_id, null, null, null, app._market_row(v_market_id));
    if v_status = 'open' then
        perform app._notify_market(v_market_id, 'created');
    end if;
    return app._market_row(v_market_id);
end
$$;
grant execute on function public.create_market(text, jsonb, text, jsonb) to authenticated, service_role;

-- _transition: move a market to `p_status` (stamping its time), bump its version, log the action
-- and notify `p_message`. The caller has locked the market and checked the transition.
create or replace function app._transition(
    p_market app.markets,
    p_status text,
    p_action text,
    p_message text,
    p_reason text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_before jsonb := app._market_row(p_market.id);
    v_after jsonb;
begin
    update app.markets as m
    set status = p_status,
        version = m.version + 1,
        opened_at = case when p_status = 'open' then now() else m.opened_at end,
        closed_at = case when p_status = 'closed' then now() else m.closed_at end,
        voided_at = case when p_status = 'void' then now() else m.voided_at end,
        void_reason = case when p_status = 'void' then p_reason else m.void_reason end
    where m.id = p_market.id;
    v_after := app._market_row(p_market.id);
    perform app._audit(p_action, p_market.id, null, p_reason, v_before, v_after);
    perform app._notify_market(p_market.id, p_message);
    return v_after;
end
$$;

-- open_market(market_id): a draft market starts taking wagers.
-- Callers: admins. Changes: status draft -> open; logs; notifies `opened`.
-- Raises: not_admin, market_not_found, invalid_market_state, already_settled.
create or replace function public.open_market(market_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(open_market.market_id);
begin
    perform app._require_status(v_market, array['draft'], 'open_market');
    if v_market.closes_at is not null and v_market.closes_at <= now() then
        perform app._fail('invalid_market_state', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'status', v_market.status, 'action', 'open_market',
            'reason', 'closes_at has passed', 'closes_at', v_market.closes_at));
    end if;
    return app._transition(v_market, 'open', 'open_market', 'opened');
end
$$;
grant execute on function public.open_market(bigint) to authenticated, service_role;

-- close_market(market_id): stop taking wagers. Pending wagers stay pending for an admin to decide.
-- Callers: admins. Changes: status open -> closed; logs; notifies `closed`.
-- Raises: not_admin, market_not_found, invalid_market_state, already_settled.
create or replace function public.close_market(market_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(close_market.market_id);
begin
    perform app._require_status(v_market, array['open'], 'close_market');
    return app._transition(v_market, 'closed', 'close_market', 'closed');
end
$$;
grant execute on function public.close_market(bigint) to authenticated, service_role;

-- _refund_wagers: refund every open wager of a market (or only its pending ones, or one wager)
-- in one ledger transaction from the market's escrow: each refunded wager becomes void with its
-- stake as payout, a pending one also rejected. Each affected user gets one message of type
-- `p_message` (wagers_refunded, or wager_rejected for a single rejection) with the amount, the
-- number of wagers and, up to 100 of them, their ids (so the message stays small however many
-- wagers a user placed). Returns the number of wagers refunded and the amount.
create or replace function app._refund_wagers(
    p_market_id bigint,
    p_kind text,
    p_reason text,
    p_pending_only boolean default false,
    p_wager_id bigint default null,
    p_message text default 'wagers_refunded'
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_accounts bigint[];
    v_amounts bigint[];
    v_total bigint;
    v_count integer;
    v_per_user jsonb;
begin
    with refunded as (
        update app.wagers as w
        set settlement = 'void',
            payout = w.stake,
            settled_at = now(),
            approval = case when w.approval = 'pending' then 'rejected' else w.approval end,
            reject_reason = case when w.approval = 'pending' then p_reason else w.reject_reason end,
            decided_at = case when w.approval = 'pending' then now() else w.decided_at end,
            decided_by = case when w.approval = 'pending' then auth.uid() else w.decided_by end
        where w.market_id = p_market_id
            and w.settlement = 'open'
            and (not p_pending_only or w.approval = 'pending')
            and (p_wager_id is null or w.id = p_wager_id)
        returning w.id, w.user_id, w.stake
    ),
    per_user as (
        select r.user_id, sum(r.stake)::bigint as amount, count(*) as wagers,
               case when count(*) <= 100 then array_agg(r.id order by r.id) end as wager_ids
        from refunded as r
        group by r.user_id
    )
    select array_agg(a.id order by a.id), array_agg(p.amount order by a.id),
           coalesce(sum(p.amount), 0)::bigint, coalesce(sum(p.wagers), 0)::integer,
           coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
               'user_id', p.user_id, 'amount', p.amount, 'wagers', p.wagers,
               'wager_ids', p.wager_ids)), '[]')
    into v_accounts, v_amounts, v_total, v_count, v_per_user
    from per_user as p
    inner join app.accounts as a on a.user_id = p.user_id;

    if v_count > 0 then
        perform app._post_transaction(
            p_kind,
            (select array[e.id] from app.accounts as e where e.market_id = p_market_id) || v_accounts,
            array[-v_total] || v_amounts,
            p_market_id,
            p_wager_id,
            pg_catalog.jsonb_build_object('reason', p_reason));
        perform app._notify_each('wagerbase_user', v_per_user, pg_catalog.jsonb_build_object(
            'type', p_message, 'market_id', p_market_id, 'reason', p_reason));
    end if;
    return pg_catalog.jsonb_build_object('wagers', v_count, 'amount', v_total);
end
$$;

-- void_market(market_id, reason): call the market off; every stake, accepted or pending, goes back.
-- Callers: admins. Changes: refunds every open wager in one 'void' ledger transaction; after an
-- unsettle, collects the market's debts from those refunds (`debts_collected`, the debt rule of
-- docs/corrections.md); status -> void; logs; notifies `voided`. Works on draft, open and closed
-- markets.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, invalid_argument (no reason), already_settled,
-- invalid_market_state.
create or replace function public.void_market(market_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_actor uuid := app._require_admin();
    v_reason text;
    v_market app.markets := app._lock_market(void_market.market_id);
    v_refunds jsonb;
    v_collected bigint;
    v_after jsonb;
begin
    v_reason := app._required_reason(void_market.reason);
    perform app._require_status(v_market, array['draft', 'open', 'closed'], 'void_market');
    perform app._lock_market_accounts(v_market.id);
    -- the result goes out before the refunds it causes (docs/notifications.md)
    v_after := app._transition(v_market, 'void', 'void_market', 'voided', v_reason);
    v_refunds := app._refund_wagers(v_market.id, 'void', 'market_void');
    -- the debt rule: after an unsettle, a debtor's refund goes to their debt first
    v_collected := app._collect_debts(v_market.id);
    return v_after
        || pg_catalog.jsonb_build_object('refunded', v_refunds, 'debts_collected', v_collected);
end
$$;
grant execute on function public.void_market(bigint, text) to authenticated, service_role;
