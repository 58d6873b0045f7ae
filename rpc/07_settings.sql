-- Settings an admin may change through the API: the ones that make a deployment play money or real
-- money (migration 0016; docs/operations.md, "Play money or real money"), and who may sign in
-- without an email (migration 0021). Every other setting of app.config is changed by the database
-- owner, as before. Everyone reads them all in the `settings` view (rpc/90_views.sql).
--
--   initial_balance               the grant that funds a new wallet (0: none)
--   max_deposit, max_withdrawal   the most one deposit (or credit) and one withdrawal move
--   self_service_deposits         may a bettor call deposit
--   withdrawals_require_approval  does a withdrawal wait for an admin
--   anonymous_sign_ins            may a client sign in anonymously (GoTrue's anonymous sign-in;
--                                 off by default)

-- _money_settings: the settings update_settings changes, as they are now.
create or replace function app._money_settings()
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'initial_balance', c.initial_balance,
        'max_deposit', c.max_deposit,
        'max_withdrawal', c.max_withdrawal,
        'self_service_deposits', c.self_service_deposits,
        'withdrawals_require_approval', c.withdrawals_require_approval,
        'anonymous_sign_ins', c.anonymous_sign_ins)
    from app.config as c
$$;

-- settings_profile(name): the settings of a named profile, for update_settings. `real-money`: no
-- sign-up grant, no self-service deposits, withdrawals approved by an admin; `play-money`: the
-- defaults (a 100.00 grant, deposits open, withdrawals at once). The amounts' maximums are left
-- as they are in both. Called by `wagerbase settings profile` (as the database owner).
-- Raises: invalid_argument (another name).
create or replace function app.settings_profile(p_name text)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
begin
    if p_name = 'real-money' then
        return '{"initial_balance": 0, "self_service_deposits": false,
                 "withdrawals_require_approval": true}'::jsonb;
    elsif p_name = 'play-money' then
        return '{"initial_balance": 10000, "self_service_deposits": true,
                 "withdrawals_require_approval": false}'::jsonb;
    end if;
    perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
        'argument', 'profile', 'reason', 'real-money or play-money', 'value', p_name));
    return null;
end
$$;

-- _setting_value: the setting `p_key` read from `p_value`, refused unless it is of the setting's
-- type and range: the booleans a JSON true or false, the amounts a JSON whole number of minor
-- units (initial_balance from 0, the maximums from 1, up to 10^15). A string ("100", "0x10") is
-- refused, never converted. Raises: invalid_argument.
create or replace function app._setting_value(p_key text, p_value jsonb)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
    v_minimum numeric := case p_key when 'initial_balance' then 0 else 1 end;
    v_number numeric;
begin
    if p_key in ('self_service_deposits', 'withdrawals_require_approval', 'anonymous_sign_ins') then
        if pg_catalog.jsonb_typeof(p_value) = 'boolean' then
            return p_value;
        end if;
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', p_key, 'reason', 'true or false', 'value', p_value));
    end if;
    if p_key not in ('initial_balance', 'max_deposit', 'max_withdrawal') then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', p_key, 'reason', 'unknown setting',
            'known', pg_catalog.jsonb_build_array('initial_balance', 'max_deposit',
                'max_withdrawal', 'self_service_deposits', 'withdrawals_require_approval',
                'anonymous_sign_ins')));
    end if;
    if pg_catalog.jsonb_typeof(p_value) = 'number' then
        v_number := (p_value #>> '{}')::numeric;
    end if;
    if v_number is null or v_number <> trunc(v_number) or v_number not between v_minimum and 1e15
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', p_key, 'value', p_value, 'reason',
            format('a whole number of minor units from %s to 10^15', v_minimum)));
    end if;
    return pg_catalog.to_jsonb(v_number::bigint);  -- 100.0 is 100
end
$$;

-- update_settings(settings): change some of the settings above, e.g.
-- `{"self_service_deposits": false, "initial_balance": 0}`; the others keep their values.
-- Callers: admins and the service role (the `wagerbase settings` command acts as the latter).
-- Changes: app.config; logs the settings before and after. A change applies to the calls that
-- start after it commits (a new wallet's grant, the next deposit or withdrawal); pending
-- withdrawals stay pending when approval is turned off, and are decided as before.
-- Returns the settings after the change (those above).
-- Raises: not_admin, invalid_argument (not a JSON object or empty; an unknown setting; a value of
-- the wrong type or out of range).
create or replace function public.update_settings(settings jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_before jsonb;
    v_new jsonb := '{}';
    v_key text;
    v_value jsonb;
    v_after jsonb;
begin
    perform app._require_admin();
    if update_settings.settings is null or pg_catalog.jsonb_typeof(update_settings.settings) <> 'object'
        or update_settings.settings = '{}'
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'settings', 'reason', 'a JSON object of one or more settings'));
    end if;
    for v_key, v_value in select e.key, e.value from pg_catalog.jsonb_each(update_settings.settings) as e
    loop
        v_new := v_new || pg_catalog.jsonb_build_object(v_key, app._setting_value(v_key, v_value));
    end loop;

    perform 1 from app.config as c for update;
    v_before := app._money_settings();
    update app.config as c
    set initial_balance = coalesce((v_new ->> 'initial_balance')::bigint, c.initial_balance),
        max_deposit = coalesce((v_new ->> 'max_deposit')::bigint, c.max_deposit),
        max_withdrawal = coalesce((v_new ->> 'max_withdrawal')::bigint, c.max_withdrawal),
        self_service_deposits = coalesce(
            (v_new ->> 'self_service_deposits')::boolean, c.self_service_deposits),
        withdrawals_require_approval = coalesce(
            (v_new ->> 'withdrawals_require_approval')::boolean, c.withdrawals_require_approval),
        anonymous_sign_ins = coalesce(
            (v_new ->> 'anonymous_sign_ins')::boolean, c.anonymous_sign_ins);
    v_after := app._money_settings();
    perform app._audit('update_settings', null, null, null, v_before, v_after);
    return v_after;
end
$$;
grant execute on function public.update_settings(jsonb) to authenticated, service_role;
