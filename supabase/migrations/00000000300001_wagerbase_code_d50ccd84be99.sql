-- Written by `wagerbase supabase` from the code layers: sql/roles.sql, sql/supabase.sql, rpc/00_errors.sql, rpc/01_core.sql, rpc/02_market_facts.sql, rpc/02_odds.sql, rpc/03_events.sql, rpc/04_requests.sql, rpc/05_users.sql, rpc/06_oidc.sql, rpc/06_sessions.sql, rpc/07_settings.sql, rpc/08_email_tokens.sql, rpc/10_wallet.sql, rpc/11_withdrawals.sql, rpc/15_limits.sql, rpc/20_markets.sql, rpc/30_wagers.sql, rpc/31_placement.sql, rpc/40_settlement.sql, rpc/45_settlement_review.sql, rpc/50_corrections.sql, rpc/60_depth.sql, rpc/70_side_effects.sql, rpc/75_virtual.sql, rpc/78_house_fairness.sql, rpc/79_house_rules.sql, rpc/80_house_games.sql, rpc/81_house_rounds.sql, rpc/82_house_autobet.sql, rpc/83_house_effects.sql, rpc/84_ggr_and_affiliates.sql, rpc/85_house_game_results.sql, rpc/90_views.sql, rpc/95_server.sql, rpc/96_realtime.sql, policies/05_server.sql, policies/10_tables.sql, policies/20_settlement_review.sql, policies/30_limits.sql, policies/40_depth.sql, policies/50_corrections.sql, policies/55_side_effects.sql, policies/60_virtual.sql, policies/65_withdrawals.sql, policies/70_house_games.sql, policies/75_house_effects.sql, sql/console.sql: edit that, not this.

-- ==== sql/roles.sql
reset all;

-- Roles: the first layer the migrator applies, before any migration.
--
-- The same four roles as Supabase and PostgREST, so the engine behaves the same behind a real
-- PostgREST or on a hosted Supabase project (where they already exist and this file changes nothing):
--   anon           a caller without a user token
--   authenticated  a signed-in user; who exactly is in request.jwt.claims
--   service_role   the server's own key; bypasses RLS, still cannot write a table
--   authenticator  the login role every API node connects as: it owns nothing, inherits nothing
--                  (noinherit) and can switch to one of the three above with `set local role`, as
--                  PostgREST's does; of its own it may only execute the functions of schema
--                  `server` (policies/05_server.sql), what a node does as itself (sign-up,
--                  sessions, the scheduler). It cannot read or write a table, call a private
--                  function, or become the owner. `wagerbase serve` sets its password when it
--                  cannot log in with the configured one (docs/operations.md, "The API's login");
--                  DATABASE_URL's role, which owns the schema, is used only to migrate and by
--                  the `wagerbase` commands that administer.
-- Idempotent: every statement checks before it creates, and nothing here changes the attributes
-- or the password of a role that exists (on hosted Supabase all four exist already, and
-- authenticator's password is Supabase's).
--
-- Every statement of a client role is bounded (docs/operations.md, "Limits"): a
-- `statement_timeout` (Supabase's values: anon 3 s, authenticated 8 s) and a `lock_timeout`, set on
-- the role with ALTER ROLE. PostgreSQL applies a role's settings at login only, never on `set
-- role`, so server.begin_request (rpc/04_requests.sql) applies them to each request, as PostgREST
-- does; console.act_as does the same at a psql prompt. They are set here only where the role has no
-- value of its own yet: an operator's `alter role anon set statement_timeout = '5s'` stays, and on a
-- hosted Supabase project (where anon and authenticated have them already) nothing changes.

do $roles$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
    grant anon, authenticated, service_role to authenticator;
end
$roles$;

-- Functions are not executable by everyone unless granted one by one (STYLE.md, SQL rule 2).
alter default privileges revoke execute on functions from public;
revoke create on schema public from public;
grant usage on schema public to anon, authenticated, service_role;

-- The limits, where the role has none of its own (see the heading; the values are explained in
-- docs/operations.md, "Limits"):
--   anon           3 s a statement, 1 s for a lock: reads only; a read waits on a lock only while a
--                  migration holds one, and then a quick 429 (retry) beats a queue of callers.
--   authenticated  8 s a statement, 2 s for a lock: a wager holds its market's row for
--                  milliseconds, so 2 s of waiting is a queue far longer than any real one; past it
--                  the call is refused (nothing happened, retry with the same idempotency key)
--                  instead of holding a connection behind, say, a long settlement.
--   service_role   60 s a statement, 5 s for a lock: the back office's key (scripts, reports).
-- Admin calls that may run long on a large market (settle_market, void_market, ...) declare their
-- own `set statement_timeout`, which the API applies before calling them (PostgREST 12's hoisting).
do $limits$
declare
    v_limit record;
begin
    for v_limit in
        select l.role_name, l.setting, l.value
        from (values
            ('anon', 'statement_timeout', '3s'),
            ('anon', 'lock_timeout', '1s'),
            ('authenticated', 'statement_timeout', '8s'),
            ('authenticated', 'lock_timeout', '2s'),
            ('service_role', 'statement_timeout', '60s'),
            ('service_role', 'lock_timeout', '5s')
        ) as l (role_name, setting, value)
        where not exists (
            select 1
            from pg_catalog.pg_db_role_setting as s
            inner join pg_catalog.pg_roles as r on s.setrole = r.oid
            cross join lateral pg_catalog.unnest(s.setconfig) as c (entry)
            where
                r.rolname = l.role_name
                and s.setdatabase = 0
                and pg_catalog.split_part(c.entry, '=', 1) = l.setting
        )
    loop
        execute pg_catalog.format(
            'alter role %I set %I = %L', v_limit.role_name, v_limit.setting, v_limit.value
        );
    end loop;
end
$limits$;

-- ==== sql/supabase.sql
reset all;

-- What a Supabase project needs before the engine's code, and a plain PostgreSQL does not: applied
-- only there, at the top of every code snapshot of supabase/migrations (`wagerbase supabase`).
--
-- Supabase grants every new table, view, sequence and function of `public` to anon, authenticated
-- and service_role by default (its `alter default privileges for role postgres in schema public
-- grant all ...`). The engine grants each one what it may do, explicitly (rpc/, policies/), and
-- nothing else: a view writable by anon, or an admin function callable by anyone, is exactly what
-- the attack matrix forbids. So the project's own defaults are revoked first; grants that exist
-- already are revoked by the code that follows (policies/10_tables.sql, rpc/90_views.sql).

alter default privileges in schema public
revoke all on tables from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on sequences from anon, authenticated, service_role;
alter default privileges in schema public
revoke all on functions from anon, authenticated, service_role;

-- ==== rpc/00_errors.sql
reset all;

-- The error catalog: every refusal the engine can raise, in one place.
--
-- A refusal is `raise exception` with a SQLSTATE from PostgREST's PTxxx convention (PT402 becomes
-- HTTP 402 behind PostgREST or Wagerbase's API), a stable key in `message`, the values in `detail`
-- (always a JSON object) and what to do in `hint`. docs/errors.md shows this table; a test keeps
-- the two equal. Callers and tests match on the key, never on wording.

create or replace function app.error_catalog()
returns table (key text, sqlstate text, http_status integer, meaning text, hint text)
language sql immutable
set search_path = ''
as $$
    select c.key, c.sqlstate, substr(c.sqlstate, 3)::integer, c.meaning, c.hint
    from (values
        ('not_authenticated', 'PT401',
            'The call needs a signed-in user.',
            'Sign in and send the access token.'),
        ('unknown_user', 'PT401',
            'The token names a user that does not exist or was deleted.',
            'Sign in again.'),
        ('session_ended', 'PT401',
            'The token''s session ended: signed out, revoked by an admin, its refresh token used twice, or its user deleted.',
            'Sign in again; detail.reason says why it ended.'),
        ('user_exists', 'PT409',
            'A user with this email or username exists already.',
            'Sign in instead, or pick another name.'),
        ('user_not_found', 'PT404',
            'No user with this username, email or id.',
            'Check the name.'),
        ('anonymous_sign_ins_disabled', 'PT422',
            'Anonymous sign-ins are off here.',
            'Sign up with an email (or a username) and a password; an admin may turn them on (update_settings, anonymous_sign_ins).'),
        ('anonymous_user', 'PT403',
            'An anonymous user may not do this (withdraw money, or set a password without an email).',
            'Add an email and a password first (supabase-js updateUser), then try again.'),
        ('not_admin', 'PT403',
            'Only an admin may do this.',
            'Ask an admin, or sign in as one.'),
        ('invalid_argument', 'PT400',
            'An argument is missing or malformed.',
            'See detail.argument and detail.reason.'),
        ('invalid_option', 'PT400',
            'A market option is unknown or out of range.',
            'See detail.option and detail.reason.'),
        ('invalid_amount', 'PT400',
            'An amount or stake is missing, zero, negative, or absurdly large.',
            'Send a positive whole number of minor units (at most 10^15 for a stake).'),
        ('amount_above_maximum', 'PT400',
            'A deposit or withdrawal is above the per-call maximum.',
            'Split it, or send at most detail.maximum.'),
        ('invalid_idempotency_key', 'PT400',
            'An idempotency key is empty or longer than 200 characters.',
            'Send 1 to 200 characters, unique per operation.'),
        ('insufficient_funds', 'PT402',
            'The wallet holds less than the amount.',
            'Deposit, or lower the amount to at most detail.balance.'),
        ('market_not_found', 'PT404',
            'No such market (or it is a draft you cannot see).',
            'Check the market id.'),
        ('outcome_not_found', 'PT404',
            'No such outcome in this market.',
            'Pick an outcome id of this market.'),
        ('wager_not_found', 'PT404',
            'No such wager.',
            'Check the wager id.'),
        ('market_not_open', 'PT409',
            'The market is not taking wagers: not open, or past closes_at.',
            'Pick an open market.'),
        ('invalid_market_state', 'PT409',
            'The market''s status does not allow this action.',
            'See detail.status and detail.allowed.'),
        ('already_settled', 'PT409',
            'The market was settled already; it is settled once.',
            'Nothing to do; a correction is a separate action.'),
        ('odds_changed', 'PT409',
            'The live odds moved by more than the tolerance since the quote.',
            'Show detail.current_odds and ask again.'),
        ('wager_not_pending', 'PT409',
            'The wager was approved or rejected already.',
            'Reload the pending list.'),
        ('idempotency_conflict', 'PT409',
            'The idempotency key was used before with other arguments.',
            'Use a new key for a new operation.'),
        ('stake_above_cap', 'PT422',
            'The stake is above the outcome''s current cap.',
            'Stake at most detail.cap.'),
        ('payout_above_maximum', 'PT422',
            'The wager could pay more than the market''s per-wager ceiling.',
            'Lower the stake; detail.max_payout is the ceiling.'),
        -- responsible play (rpc/15_limits.sql)
        ('self_excluded', 'PT403',
            'The user excluded themselves from wagering and depositing until detail.until.',
            'Wait until detail.until; withdrawals stay open.'),
        ('self_exclusion_locked', 'PT409',
            'A self-exclusion cannot be shortened or lifted before it ends.',
            'Keep detail.until, or extend it.'),
        ('daily_stake_limit_reached', 'PT422',
            'The stake would take the last 24 hours of stakes above the daily stake limit.',
            'Stake at most detail.limit - detail.used, or wait.'),
        ('daily_deposit_limit_reached', 'PT422',
            'The deposit would take the last 24 hours of deposits above the daily deposit limit.',
            'Deposit at most detail.limit - detail.used, or wait.'),
        -- real money (rpc/10_wallet.sql, rpc/11_withdrawals.sql; docs/operations.md)
        ('deposits_disabled', 'PT403',
            'Self-service deposits are off here: money comes in through the operator.',
            'Pay in the way the operator offers; it credits the wallet (credit_wallet).'),
        ('withdrawal_not_found', 'PT404',
            'No such withdrawal.',
            'Check the withdrawal id.'),
        ('withdrawal_not_pending', 'PT409',
            'The withdrawal was approved or rejected already; it is decided once.',
            'Reload the pending list; detail.status is its status.'),
        ('own_withdrawal', 'PT403',
            'An admin cannot approve their own withdrawal (four eyes).',
            'Ask another admin, or the service role, to approve it.'),
        ('own_credit', 'PT403',
            'An admin cannot credit their own wallet (four eyes).',
            'Ask another admin, or the payment integration (the service role), to credit it.'),
        -- settlement review (rpc/45_settlement_review.sql)
        ('settlement_needs_confirmation', 'PT409',
            'Only a confirmed proposal can settle this market: it requires one, or one is pending.',
            'Call propose_settlement, then another admin calls confirm_settlement.'),
        ('proposal_exists', 'PT409',
            'The market has a pending settlement proposal already; it has one at most.',
            'Confirm or cancel detail.proposal_id first.'),
        ('no_pending_proposal', 'PT409',
            'The market has no pending settlement proposal, or not the one named.',
            'Propose first, or reload: detail.pending_proposal_id is the pending one.'),
        ('same_admin', 'PT403',
            'The admin who proposed a settlement cannot confirm it (four eyes).',
            'Ask another admin, or the service role, to confirm.'),
        -- corrections (rpc/50_corrections.sql)
        ('not_settled', 'PT409',
            'The market is not settled, so there is no settlement to correct.',
            'Settle it with settle_market instead; detail.status is its status.'),
        ('wager_not_voidable', 'PT409',
            'Only an accepted, open wager of an open or closed market can be voided.',
            'Unsettle its market first, or reject a pending wager with reject_wager.'),
        ('already_reversed', 'PT409',
            'That ledger transaction was reversed already; a reversal happens once only.',
            'Nothing to do; see detail.original_transaction_id.'),
        -- side effects after settlement (rpc/70_side_effects.sql)
        ('job_not_found', 'PT404',
            'No side-effect job with this id.',
            'Check the id in side_effect_jobs.'),
        ('job_not_failed', 'PT409',
            'Only a failed side-effect job can be retried; this one is pending or done.',
            'Nothing to do: a pending job runs by itself; detail.status is its status.'),
        -- provably-fair virtual markets (rpc/75_virtual.sql)
        ('virtual_market', 'PT409',
            'A virtual market closes on schedule and settles from its provably-fair draw; nobody picks its result.',
            'Wait for closes_at; void_market is the only way to call it off.'),
        ('not_virtual', 'PT409',
            'The market is not a virtual market, so it has no draw.',
            'Pick a virtual market; detail.market_id is the one asked for.'),
        -- house games (rpc/80_house_games.sql)
        ('game_disabled', 'PT409',
            'The house game is switched off: it takes no bets.',
            'Play another game, or later; detail.game is the one asked for.'),
        ('max_profit_exceeded', 'PT422',
            'A win would pay more above the stake than the game''s max profit allows.',
            'Lower the stake or the multiplier; detail.max_profit is the most one bet may win.'),
        ('round_in_progress', 'PT409',
            'A multi-step round of yours is still open, so the seed pair it draws from cannot be rotated.',
            'Finish the round (detail.bet_id) first, then rotate.'),
        -- multi-step rounds (rpc/81_house_rounds.sql)
        ('round_not_found', 'PT404',
            'No round of yours has this id (another player''s round is not found either).',
            'Check the id; get_mines_round without one answers your open round.'),
        ('round_closed', 'PT409',
            'The round has settled already: it was cashed out, lost, or settled by an admin or its expiry.',
            'Open a new round; detail.ended says how this one ended and detail.payout what it paid.'),
        ('cell_already_revealed', 'PT409',
            'That cell of the round is revealed already.',
            'Reveal another cell; detail.revealed lists the revealed ones.'),
        ('nothing_to_cash_out', 'PT409',
            'The round has no safe cell revealed yet, so there is nothing to cash out.',
            'Reveal a cell first.'),
        ('seed_not_found', 'PT404',
            'No revealed seed pair has this hash: it is unknown, or still active (a pair is revealed when its owner rotates it).',
            'Check the hash; rotate_seed reveals your active pair.'),
        -- affiliates (rpc/84_ggr_and_affiliates.sql)
        ('referral_code_not_found', 'PT404',
            'No player has this referral code.',
            'Check the code; get_affiliate shows a player their own.'),
        ('referrer_refused', 'PT409',
            'The referrer cannot be set: it is yourself, a player you referred, another than the one set already (it is set once), or you have bet already.',
            'detail.reason says which: self, mutual, already_set or after_first_bet.'),
        ('house_history_final', 'PT500',
            'Internal: something tried to delete or rewrite house game history (a seed pair''s commitment, reveal or nonce, or a settled bet).',
            'Report it; seed pairs and settled bets are never changed.'),
        ('ledger_unbalanced', 'PT500',
            'Internal: a ledger transaction did not sum to zero. Nothing was written.',
            'Report it; this is a bug.'),
        ('ledger_append_only', 'PT500',
            'Internal: something tried to edit or delete ledger history.',
            'Post a correcting transaction instead.'),
        ('realtime_messages_not_kept', 'PT500',
            'Internal: a transaction tried to commit a row of realtime.messages, which only answers Realtime''s authorization checks (they roll back).',
            'Roll back: realtime.messages only answers authorization checks.')
    ) as c (key, sqlstate, meaning, hint)
$$;

-- _catalog_entry: the SQLSTATE and hint the catalog gives refusal `p_key`; what _refusal and
-- _fail make a refusal of.
-- Raises: PT500 `unknown_error_key` when the key is not in the catalog (a bug).
create or replace function app._catalog_entry(
    p_key text, out catalog_sqlstate text, out catalog_hint text
)
language plpgsql
stable
set search_path = ''
as $$
begin
    select c.sqlstate, c.hint into catalog_sqlstate, catalog_hint
    from app.error_catalog() as c
    where c.key = p_key;
    if catalog_sqlstate is null then
        raise exception using
            errcode = 'PT500', message = 'unknown_error_key', detail = p_key;
    end if;
end
$$;

-- _refusal: the catalog's refusal `p_key` with `p_detail` as its detail, as a value instead of an
-- error: {sqlstate, message, detail, hint}, exactly what _fail raises. A batch of wagers
-- (app._place_wagers) answers each refused wager with one, and goes on with the others.
-- Raises: PT500 `unknown_error_key` when the key is not in the catalog (a bug).
create or replace function app._refusal(p_key text, p_detail jsonb default '{}')
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'sqlstate', c.catalog_sqlstate,
        'message', p_key,
        'detail', coalesce(p_detail, '{}'),
        'hint', c.catalog_hint
    )
    from app._catalog_entry(p_key) as c
$$;

-- _raise: raise a refusal made by _refusal (or one of the same shape). Never returns.
-- Raises: the refusal itself.
create or replace function app._raise(p_refusal jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
    raise exception using
        errcode = p_refusal ->> 'sqlstate',
        message = p_refusal ->> 'message',
        detail = (p_refusal -> 'detail')::text,
        hint = p_refusal ->> 'hint';
end
$$;

-- _fail: raise the catalog's refusal `p_key` with `p_detail` as its detail. Never returns.
-- Raises: the refusal itself; PT500 `unknown_error_key` when the key is not in the catalog.
create or replace function app._fail(p_key text, p_detail jsonb default '{}')
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_entry record;
begin
    select * into v_entry from app._catalog_entry(p_key);
    raise exception using
        errcode = v_entry.catalog_sqlstate,
        message = p_key,
        detail = coalesce(p_detail, '{}')::text,
        hint = v_entry.catalog_hint;
end
$$;

-- ==== rpc/01_core.sql
reset all;

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

-- ==== rpc/02_market_facts.sql
reset all;

-- What a market is and whether it takes wagers now: the facts every surface reads instead of
-- deciding them again. The markets view publishes them as columns (accepting_wagers,
-- betmarket_game), the market messages carry betmarket_game, and the engine refuses a wager by
-- the same function that the view shows (app._open_refusal).
--
-- Both are security invoker and run on every placement, so they carry no `set search_path`: a SET
-- stops the planner from inlining a function into the query or expression that calls it. Every
-- name and operator in them is schema-qualified instead, so no search_path can change them.

-- _accepting_wagers: whether a market with this status and closing time takes wagers now: it is
-- open, and its closes_at (if any) is still ahead. Callers: the markets view, app._open_refusal.
-- Changes: nothing. Raises: nothing.
create or replace function app._accepting_wagers(p_status text, p_closes_at timestamptz)
returns boolean
language sql stable
as $$
    select p_status operator(pg_catalog.=) 'open'
        and (p_closes_at is null or p_closes_at operator(pg_catalog.>) pg_catalog.now())
$$;

-- _betmarket_game: whether a market of this kind and number of outcomes is what BetMarket's
-- surfaces (/api, /ws) call a game: a fixed-odds market of two outcomes. Callers: the markets
-- view, app._market_message_at. Changes: nothing. Raises: nothing.
create or replace function app._betmarket_game(p_kind text, p_outcome_count integer)
returns boolean
language sql immutable
as $$
    select p_kind operator(pg_catalog.=) 'fixed_odds' and p_outcome_count operator(pg_catalog.=) 2
$$;

-- ==== rpc/02_odds.sql
reset all;

-- Market math: odds, caps and shares, as pure functions, and the live quote of every outcome.
--
-- Fixed odds (BetMarket, generalised to N outcomes), with T the accepted stakes per outcome:
--   odd_i = 1 + (sum over j != i of (T_j + V)) / (T_i + V) * (1 - c)        rounded to 4 decimals
--   cap_i = max(min_cap, (sum T + M - L_i) / (odd_i - 1))                   floored to a minor unit
-- Parimutuel (DBGP): net_pool = total * (1 - rake), odds_i = net_pool / pool_i (none while empty).
-- Share of an outcome: pool_i / total (0 while the market is empty).

-- The functions of this file run for every quote, placement and market message, several times
-- each, so they carry no `set search_path`: a SET stops the planner from inlining a function into
-- the expression that calls it, and a call that is not inlined costs a small query of its own
-- (docs/performance.md, "A leaner placement, second round"). Every function and operator in them
-- is schema-qualified instead, so no search_path can change them (as rpc/02_market_facts.sql). A
-- qualified operator, `operator(pg_catalog.+)`, has one precedence whatever the operator, lower
-- than `*` and `/` and left to right: hence the brackets around every step. Each formula is
-- written plainly in the comment above its function.

-- The fixed odds of an outcome with `p_pool` of `p_total` staked, in a market of `p_outcomes`:
--   round(1 + ((p_total - p_pool) + (p_outcomes - 1) * p_virtual_stake)::numeric
--       / (p_pool + p_virtual_stake) * (10000 - p_commission_bps) / 10000, 4)
create or replace function app._fixed_odds(
    p_pool bigint,
    p_total bigint,
    p_outcomes integer,
    p_virtual_stake bigint,
    p_commission_bps integer
)
returns numeric
language sql immutable parallel safe
as $$
    select pg_catalog.round(
        1 operator(pg_catalog.+) (
            (
                (
                    (p_total operator(pg_catalog.-) p_pool)
                    operator(pg_catalog.+)
                    ((p_outcomes operator(pg_catalog.-) 1) operator(pg_catalog.*) p_virtual_stake)
                )::numeric
                operator(pg_catalog./) (p_pool operator(pg_catalog.+) p_virtual_stake)
            )
            operator(pg_catalog.*) (10000 operator(pg_catalog.-) p_commission_bps)
            operator(pg_catalog./) 10000
        ),
        4)
$$;

-- The cap of an outcome: the largest stake whose promised payout keeps the book within margin M.
-- Odds of exactly 1 promise no winnings, so nothing limits the stake but the minimum cap rule.
-- A cap above 10^15 (the largest stake place_wager takes) says no more, and is held there so that
-- odds barely above 1 cannot push it past bigint:
--   greatest(p_min_cap,
--       case when p_odds > 1 then least(div(p_total + p_margin - p_liability, p_odds - 1), 1e15) end)
create or replace function app._fixed_cap(
    p_total bigint,
    p_margin bigint,
    p_liability bigint,
    p_odds numeric,
    p_min_cap bigint
)
returns bigint
language sql immutable parallel safe
as $$
    select greatest(
        p_min_cap,
        case
            when p_odds operator(pg_catalog.>) 1
                then least(
                    pg_catalog.div(
                        (p_total operator(pg_catalog.+) p_margin) operator(pg_catalog.-) p_liability,
                        p_odds operator(pg_catalog.-) 1),
                    1e15)::bigint
        end
    )
$$;

-- The parimutuel odds of an outcome: the net pool shared by its pool; null while nothing is on it:
--   case when p_pool > 0 then round(p_total::numeric * (10000 - p_rake_bps) / 10000 / p_pool, 4) end
create or replace function app._pari_odds(p_pool bigint, p_total bigint, p_rake_bps integer)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_pool operator(pg_catalog.>) 0
        then pg_catalog.round(
            p_total::numeric operator(pg_catalog.*) (10000 operator(pg_catalog.-) p_rake_bps)
            operator(pg_catalog./) 10000
            operator(pg_catalog./) p_pool,
            4)
    end
$$;

-- An outcome's share of the pool, 0 to 1:
--   case when p_total > 0 then round(p_pool::numeric / p_total, 6) else 0 end
create or replace function app._share(p_pool bigint, p_total bigint)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_total operator(pg_catalog.>) 0
        then pg_catalog.round(p_pool::numeric operator(pg_catalog./) p_total, 6)
        else 0
    end
$$;

-- The odds of an outcome in a market of kind `p_kind`: fixed odds (_fixed_odds) or parimutuel
-- (_pari_odds). One composition for the views, the quotes and the market messages.
create or replace function app._odds(
    p_kind text,
    p_pool bigint,
    p_total bigint,
    p_outcomes integer,
    p_virtual_stake bigint,
    p_commission_bps integer,
    p_rake_bps integer
)
returns numeric
language sql immutable parallel safe
as $$
    select case when p_kind operator(pg_catalog.=) 'fixed_odds'
        then app._fixed_odds(p_pool, p_total, p_outcomes, p_virtual_stake, p_commission_bps)
        else app._pari_odds(p_pool, p_total, p_rake_bps)
    end
$$;

-- The cap of an outcome in a market of kind `p_kind`: _fixed_cap for fixed odds, none (null) for
-- parimutuel.
create or replace function app._cap(
    p_kind text,
    p_total bigint,
    p_margin bigint,
    p_liability bigint,
    p_odds numeric,
    p_min_cap bigint
)
returns bigint
language sql immutable parallel safe
as $$
    select case when p_kind operator(pg_catalog.=) 'fixed_odds'
        then app._fixed_cap(p_total, p_margin, p_liability, p_odds, p_min_cap)
    end
$$;

-- Every outcome's live quote. Read by the public views (as the caller, so RLS applies), by
-- place_wager and preview_wager, and by the market messages.
create or replace view app.outcome_quotes with (security_invoker = true) as
with priced as (
    select
        o.id as outcome_id,
        o.market_id,
        o.position,
        o.label,
        o.color,
        o.abbreviation,
        o.pool,
        o.liability,
        o.wager_count,
        m.kind,
        m.status,
        m.total_pool,
        m.version as market_version,
        m.margin,
        m.min_cap,
        app._odds(
            m.kind, o.pool, m.total_pool, m.outcome_count, m.virtual_stake, m.commission_bps,
            m.rake_bps
        ) as odds
    from app.outcomes as o
    inner join app.markets as m on o.market_id = m.id
)

select
    p.outcome_id,
    p.market_id,
    p.position,
    p.label,
    p.color,
    p.abbreviation,
    p.pool,
    p.liability,
    p.wager_count,
    p.kind,
    p.status,
    p.total_pool,
    p.market_version,
    app._share(p.pool, p.total_pool) as share,
    p.odds,
    app._cap(p.kind, p.total_pool, p.margin, p.liability, p.odds, p.min_cap) as cap
from priced as p;

-- _market_message_at: _market_message for a market in the state given: the market's row (its
-- version, status and total pool) and its outcomes' ids, positions, pools, liabilities and wager
-- counts, in position order. A batch of wagers (app._place_wagers) tells each wager's market
-- numbers from the state it left before anything is written. Odds, caps and shares come from the
-- functions the views use (_odds, _cap, _share).
create or replace function app._market_message_at(
    p_market app.markets,
    p_ids bigint[],
    p_positions integer[],
    p_pools bigint[],
    p_liabilities bigint[],
    p_counts integer[]
)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'market_id', p_market.id,
        'version', p_market.version,
        'status', p_market.status,
        'kind', p_market.kind,
        'betmarket_game', app._betmarket_game(p_market.kind, p_market.outcome_count),
        'total_pool', p_market.total_pool,
        'outcomes', (
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', q.id,
                'position', q.position,
                'pool', q.pool,
                'share', app._share(q.pool, p_market.total_pool),
                'odds', q.odds,
                'cap', app._cap(
                    p_market.kind, p_market.total_pool, p_market.margin, q.liability, q.odds,
                    p_market.min_cap
                ),
                'wager_count', q.wager_count
            ) order by q.position)
            from (
                select
                    o.id, o.position, o.pool, o.liability, o.wager_count,
                    app._odds(
                        p_market.kind, o.pool, p_market.total_pool, p_market.outcome_count,
                        p_market.virtual_stake, p_market.commission_bps, p_market.rake_bps
                    ) as odds
                from unnest(p_ids, p_positions, p_pools, p_liabilities, p_counts)
                    as o (id, position, pool, liability, wager_count)
            ) as q
        )
    )
$$;

-- _market_message: the numbers of a market for live messages and answers: version, status, pool,
-- and per outcome its pool, share, odds and cap. No titles or labels, so that a message stays
-- small (every socket of the market is sent it); clients read those once from the views.
create or replace function app._market_message(p_market_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select app._market_message_at(
        m,
        array_agg(o.id order by o.position),
        array_agg(o.position::integer order by o.position),
        array_agg(o.pool order by o.position),
        array_agg(o.liability order by o.position),
        array_agg(o.wager_count order by o.position)
    )
    from app.markets as m
    inner join app.outcomes as o on m.id = o.market_id
    where m.id = p_market_id
    group by m.id
$$;

-- _notify_market: tell everyone that market `p_market_id` changed (`p_type`: created, opened,
-- odds, closed, settled, unsettled, voided, draw_revealed, settlement_confirmation), with its
-- current numbers.
create or replace function app._notify_market(p_market_id bigint, p_type text, p_extra jsonb default '{}')
returns void
language sql
set search_path = ''
as $$
    select app._notify('wagerbase_market',
        pg_catalog.jsonb_build_object('type', p_type) || app._market_message(p_market_id) || p_extra)
$$;

-- ==== rpc/03_events.sql
reset all;

-- The event stream (migrations/0017): app._notify (rpc/01_core.sql) writes an event into
-- app.events inside the money transaction; every API node's hub reads what became visible since
-- its last read (_read_events, through server.read_events); the scheduler prunes what is older
-- than the retention (_prune_events). docs/live.md ("The event stream") explains the rule.

-- _event_server: which running server this is, for a reader's cursor: its start time. A reader
-- whose cursor was made on another server (the database restarted, or failed over to a standby)
-- cannot trust it (a commit that was not flushed, or not yet replicated, may be gone, and its
-- transaction id used again), so it resyncs. Changes nothing; raises nothing.
create or replace function app._event_server()
returns text
language sql stable
set search_path = ''
as $$
    select pg_catalog.pg_postmaster_start_time()::text
$$;

-- _event_cursor: a cursor at the current end of the stream: every event committed after this
-- snapshot comes after it, whatever its id. Changes nothing; raises nothing.
create or replace function app._event_cursor()
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'snapshot', pg_catalog.pg_current_snapshot()::text, 'server', app._event_server())
$$;

-- _read_events(cursor, limit): the events that became visible after the cursor, in id order, at
-- most `limit` of them, and the cursor to read from next.
--   cursor null            a reader starting fresh: no events, a cursor at the current end.
--   {snapshot, server}     the events whose transaction was still running (or not yet begun) in
--                          `snapshot` and has committed in the current one: an event is in
--                          exactly one such window, so it is delivered once, and a transaction
--                          that rolled back or is still running holds no other event back.
--   + {until, after}       the same window (up to the snapshot `until`), after event id `after`:
--                          the next page of a window that held more than `limit` events.
-- In one window the events are in id order. Events of one market (or one wallet) are inserted
-- while its row is locked, so a later transaction's events have higher ids and become visible no
-- earlier: per market and per user, the order is the version order.
-- When the cursor cannot be trusted the answer is `resync: true` with a `reason` and a fresh
-- cursor at the end: `server` (the database restarted or failed over since the cursor was made),
-- `pruned` (events the cursor had not reached were pruned: it fell behind the retention) or
-- `behind` (more than 250,000 events to catch up on: each page reads the whole window, so a reader
-- that far behind starts again at the end rather than page through them).
-- Callers: the API nodes' hubs (server.read_events), never a client role. Changes nothing.
-- Returns {cursor, events: [{id, channel, payload}], resync, reason}.
-- Raises: invalid_argument (limit not between 1 and 10000, a malformed cursor).
create or replace function app._read_events(p_cursor jsonb, p_limit integer)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_since pg_catalog.pg_snapshot;
    v_until pg_catalog.pg_snapshot;
    v_after bigint;
    v_events jsonb;
    v_count integer;
    v_last bigint;
    v_pruned xid8;
    v_reason text;
    v_ahead bigint;
begin
    if p_limit is null or p_limit not between 1 and 10000 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'limit', 'reason', 'between 1 and 10000'));
    end if;
    if p_cursor is null then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', false);
    end if;
    -- checked by shape rather than by catching a failed cast (a subtransaction on every read)
    if jsonb_typeof(p_cursor) is distinct from 'object'
        or coalesce(p_cursor ->> 'snapshot', '') !~ '^\d{1,19}:\d{1,19}:(\d{1,19}(,\d{1,19})*)?$'
        or coalesce(p_cursor ->> 'until', '0:0:') !~ '^\d{1,19}:\d{1,19}:(\d{1,19}(,\d{1,19})*)?$'
        or coalesce(p_cursor ->> 'after', '0') !~ '^\d{1,18}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'cursor', 'reason', 'a cursor this function returned'));
    end if;
    v_since := (p_cursor ->> 'snapshot')::pg_catalog.pg_snapshot;
    v_until := (p_cursor ->> 'until')::pg_catalog.pg_snapshot;
    v_after := (p_cursor ->> 'after')::bigint;

    select s.pruned_xid into v_pruned from app.event_stream as s;
    if p_cursor ->> 'server' is distinct from app._event_server() then
        v_reason := 'server';
    elsif v_pruned >= pg_catalog.pg_snapshot_xmin(v_since)
        and not pg_catalog.pg_visible_in_snapshot(v_pruned, v_since) then
        v_reason := 'pruned';
    end if;
    if v_reason is not null then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', true,
            'reason', v_reason);
    end if;

    v_until := coalesce(v_until, pg_catalog.pg_current_snapshot());
    -- the window, found through the xid index (one range, and one probe per transaction running
    -- in `since`; the two sets are disjoint) and kept as ids only, then put in id order: ordering
    -- the whole table by id and filtering would read every event kept
    with in_window as materialized (
        select e.id, e.xid
        from app.events as e
        where e.xid >= pg_catalog.pg_snapshot_xmax(v_since)
            and e.xid < pg_catalog.pg_snapshot_xmax(v_until)
        union all
        select e.id, e.xid
        from app.events as e
        where e.xid = any(array(select pg_catalog.pg_snapshot_xip(v_since)))
    ),
    ahead as materialized (
        select w.id
        from in_window as w
        where pg_catalog.pg_visible_in_snapshot(w.xid, v_until)
            and (v_after is null or w.id > v_after)
    ),
    page as (
        select a.id
        from ahead as a
        order by a.id
        limit p_limit
    )

    select coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
               'id', e.id, 'channel', e.channel, 'payload', e.payload) order by e.id), '[]'),
           count(*)::integer,
           max(e.id),
           (select count(*) from ahead)
    into v_events, v_count, v_last, v_ahead
    from page as p
    inner join app.events as e on p.id = e.id;

    -- every page reads the whole window again: past 250,000 events a reader is better off
    -- starting again at the end (its clients reload) than paging through them
    if v_after is null and v_ahead > 250000 then
        return pg_catalog.jsonb_build_object(
            'cursor', app._event_cursor(), 'events', '[]'::jsonb, 'resync', true,
            'reason', 'behind');
    end if;

    return pg_catalog.jsonb_build_object(
        'cursor', case
            when v_count = p_limit then pg_catalog.jsonb_build_object(
                'snapshot', v_since::text, 'until', v_until::text, 'after', v_last,
                'server', p_cursor -> 'server')
            else pg_catalog.jsonb_build_object(
                'snapshot', v_until::text, 'server', p_cursor -> 'server')
        end,
        'events', v_events,
        'resync', false);
end
$$;

-- _prune_events(): delete the events older than app.config.event_retention_minutes, oldest id
-- first, at most app.config.history_prune_batch per call (a backlog goes a batch per round), and
-- remember in app.event_stream the newest transaction whose events were deleted, so that a reader
-- that had not reached them learns it must resync (_read_events). Callers: scheduler_tick, under
-- its lock; never a client role. Changes: app.events, app.event_stream. Returns the number of
-- events deleted. Raises nothing.
create or replace function app._prune_events()
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_count integer;
    v_newest xid8;
begin
    with oldest as (
        select e.id
        from app.events as e
        order by e.id
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned as (
        delete from app.events as e
        using oldest as o
        where e.id = o.id
            and e.created_at < now() - pg_catalog.make_interval(
                mins => (select c.event_retention_minutes from app.config as c))
        returning e.xid
    )

    select count(*)::integer, (select p.xid from pruned as p order by p.xid desc limit 1)
    into v_count, v_newest
    from pruned;
    if v_count > 0 then
        update app.event_stream as s set pruned_xid = greatest(s.pruned_xid, v_newest) where s.id;
    end if;
    return v_count;
end
$$;

-- ==== rpc/04_requests.sql
reset all;

-- The start of each request an API node runs as a caller (docs/operations.md, "Limits").

-- begin_request: become the caller for the rest of the transaction, in one statement: the token's
-- claims (request.jwt.claims, read by auth.uid() and auth.jwt()), the request's method and path,
-- the settings of the caller's role, the hoisted settings of the function the request calls, read
-- only when asked, and last the role itself. Returns the statement_timeout now in force (the API
-- names it when a statement runs past it).
--
-- The role's settings are what `alter role anon set statement_timeout = '3s'` stored in
-- pg_db_role_setting. PostgreSQL applies them at login only, never on `set role`, so this applies
-- them to the transaction, as PostgREST does for the role it impersonates: the role's own settings,
-- then those it has in this database (which win, as at login). A setting the node may not set (one
-- for superusers only) is skipped.
-- A function's own `set statement_timeout` changes nothing for the statement that calls it (the
-- statement's timer is already running), so it is hoisted, as PostgREST 12 does: when the request
-- calls `function_name` (a function of schema public, by name), its statement_timeout is applied
-- here, before the call. Long admin calls (settle_market, void_market, ...) declare one.
--
-- Who calls it: the API node as itself (its login role), before every call or read it runs for a
-- caller, and console.act_as at a psql prompt. It is security invoker and has no SET clause on
-- purpose: `set role` is refused inside a security definer function, and a SET clause would undo
-- at exit what it sets for the same parameters.
-- Checks the node makes about the caller as itself (with its own rights, the claims and the limits
-- already in force, before the role switch) belong at the marked place below.
-- Changes: settings of the current transaction only.
-- Raises: invalid_argument (a role other than anon, authenticated and service_role).
create or replace function server.begin_request(
    role text,
    claims text,
    method text default '',
    path text default '',
    read_only boolean default false,
    function_name text default null
)
returns text
language plpgsql
as $$
begin
    if begin_request.role is null or begin_request.role not in ('anon', 'authenticated', 'service_role') then
        raise exception using
            errcode = 'PT400',
            message = 'invalid_argument',
            detail = pg_catalog.jsonb_build_object(
                'argument', 'role', 'reason', 'anon, authenticated or service_role'
            )::text,
            hint = 'See detail.argument and detail.reason.';
    end if;

    perform pg_catalog.set_config('request.jwt.claims', begin_request.claims, true);
    perform pg_catalog.set_config('request.method', coalesce(begin_request.method, ''), true);
    perform pg_catalog.set_config('request.path', coalesce(begin_request.path, ''), true);
    perform server.apply_role_settings(begin_request.role, begin_request.function_name);

    -- checks made as the node itself, with the claims and limits in force, go here

    if begin_request.read_only then
        perform pg_catalog.set_config('transaction_read_only', 'on', true);
    end if;
    perform pg_catalog.set_config('role', begin_request.role, true);
    return pg_catalog.current_setting('statement_timeout');
end
$$;

revoke all on function server.begin_request(text, text, text, text, boolean, text) from public;
grant execute on function server.begin_request(text, text, text, text, boolean, text) to authenticator;

-- apply_role_settings(role, function_name): the settings of `role` (what `alter role ... set`
-- stored: its statement_timeout and lock_timeout, say) and the hoisted statement_timeout of the
-- function of schema public named `function_name`, applied to the current transaction without
-- switching role. server.begin_request applies them this way for every request; the API applies
-- them alone to a transaction it runs as itself on behalf of callers of that role (a batch of
-- placements, server.place_wagers), so that the batch runs under its callers' limits.
-- Who calls it: the API node as itself (and begin_request). Security invoker, no SET clause, as
-- begin_request. Changes: settings of the current transaction only. Raises: nothing (a setting
-- the node may not set is skipped).
create or replace function server.apply_role_settings(role text, function_name text default null)
returns void
language plpgsql
as $$
declare
    v_setting record;
begin
    for v_setting in
        select s.name, s.value
        from (
            select
                pg_catalog.split_part(c.entry, '=', 1) as name,
                pg_catalog.substr(c.entry, pg_catalog.strpos(c.entry, '=') + 1) as value,
                case when d.setdatabase = 0 then 1 else 2 end as layer
            from pg_catalog.pg_db_role_setting as d
            inner join pg_catalog.pg_roles as r on d.setrole = r.oid
            cross join lateral pg_catalog.unnest(d.setconfig) as c (entry)
            where
                r.rolname = apply_role_settings.role
                and d.setdatabase in (
                    0,
                    (select db.oid from pg_catalog.pg_database as db where db.datname = pg_catalog.current_database())
                )
            union all
            select
                pg_catalog.split_part(c.entry, '=', 1),
                pg_catalog.substr(c.entry, pg_catalog.strpos(c.entry, '=') + 1),
                3
            from pg_catalog.pg_proc as p
            inner join pg_catalog.pg_namespace as n on p.pronamespace = n.oid
            cross join lateral pg_catalog.unnest(p.proconfig) as c (entry)
            where
                n.nspname = 'public'
                and p.proname = apply_role_settings.function_name
                and pg_catalog.split_part(c.entry, '=', 1) = 'statement_timeout'
        ) as s
        order by s.layer
    loop
        begin
            perform pg_catalog.set_config(v_setting.name, v_setting.value, true);
        exception
            when insufficient_privilege or cant_change_runtime_param or undefined_object
                or invalid_parameter_value then
                null;  -- not for the node to set (a superuser's setting, say): skipped
        end;
    end loop;
end
$$;

revoke all on function server.apply_role_settings(text, text) from public;
grant execute on function server.apply_role_settings(text, text) to authenticator;

-- ==== rpc/05_users.sql
reset all;

-- Users: the rows behind sign-up and the admin role. Not granted to any client role: the server
-- (the `wagerbase` command, GoTrue's endpoints through schema `server`) calls these with its own
-- role. Passwords arrive already hashed (argon2, in Python); SQL never sees one in clear.

-- _valid_email(email): the email trimmed and lower-cased (null when empty or null), refused unless
-- it looks like an address (an @, no spaces) of at most 255 characters, GoTrue's limit.
-- Raises: invalid_argument (argument email).
create or replace function app._valid_email(p_email text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
    v_email text := pg_catalog.lower(nullif(pg_catalog.btrim(p_email), ''));
begin
    if v_email is not null
        and (pg_catalog.length(v_email) > 255 or v_email !~ '^[^@[:space:]]+@[^@[:space:]]+$')
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email address'));
    end if;
    return v_email;
end
$$;

-- _user_metadata(data): a user's user_metadata (auth.users.raw_user_meta_data) as it may be
-- stored: a JSON object (null is {}) of at most 4,096 bytes as JSON text (it travels in every
-- access token), without `username`: a username is the sign-in name, kept in app.profiles, and
-- user_metadata shows it from there (app._user_json).
-- Raises: invalid_argument (argument data).
create or replace function app._user_metadata(p_data jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_data is null or p_data = 'null'::jsonb then
        return '{}';
    end if;
    if pg_catalog.jsonb_typeof(p_data) <> 'object'
        or pg_catalog.octet_length(p_data::text) > 4096
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'data', 'reason', 'a JSON object of at most 4096 bytes'));
    end if;
    return p_data - 'username';
end
$$;

-- _merged_metadata(current, changes): `changes` merged into the metadata object `current` as GoTrue
-- merges user_metadata and app_metadata: each key of `changes` set, a key set to null removed.
create or replace function app._merged_metadata(p_current jsonb, p_changes jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
    select (coalesce(p_current, '{}') || p_changes)
        - array(select e.key from pg_catalog.jsonb_each(p_changes) as e where e.value = 'null')
$$;

-- _create_user(email, username, password_hash, app_metadata, user_metadata): a new user and its
-- profile. Email and username are both optional but one is required; both are unique,
-- case-insensitively. An email needs an @ and a username cannot have one (nor be as long as a
-- user id), so a name given to _find_user can never match two users.
-- app_metadata is the server's to set (sign-up never passes a role); user_metadata is the user's
-- own (GoTrue's `data`, app._user_metadata).
-- Raises: invalid_argument (neither given, a bad email, username or user_metadata), user_exists.
drop function if exists app._create_user(text, text, text, jsonb);
create or replace function app._create_user(
    p_email text,
    p_username text,
    p_password_hash text,
    p_app_metadata jsonb default '{}',
    p_user_metadata jsonb default '{}'
)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := gen_random_uuid();
    v_email text := app._valid_email(p_email);
    v_username text := nullif(btrim(p_username), '');
    v_metadata jsonb := app._user_metadata(p_user_metadata);
begin
    if v_email is null and v_username is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email or a username is required'));
    end if;
    if v_username is not null and v_username !~ '^[A-Za-z0-9_.-]{3,32}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'username',
            'reason', '3 to 32 letters, digits, dots, dashes or underscores'));
    end if;
    if exists (
        select 1 from auth.users as u where lower(u.email) = v_email and u.deleted_at is null
    ) or exists (
        select 1 from app.profiles as p where lower(p.username) = lower(v_username)
    ) then
        perform app._fail('user_exists', pg_catalog.jsonb_build_object(
            'email', v_email, 'username', v_username));
    end if;

    insert into auth.users (id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data)
    values (
        v_user, v_email, p_password_hash,
        '{"provider": "email", "providers": ["email"]}'::jsonb || coalesce(p_app_metadata, '{}'),
        v_metadata
    );
    if v_username is not null then
        insert into app.profiles (user_id, username) values (v_user, v_username);
    end if;
    return v_user;
exception
    when unique_violation then
        -- a concurrent sign-up took the same email or username first
        perform app._fail('user_exists', pg_catalog.jsonb_build_object(
            'email', v_email, 'username', v_username));
        return null;
end
$$;

-- _create_anonymous_user(user_metadata): a new anonymous user (supabase-js's signInAnonymously):
-- no email, no username, no password, is_anonymous, app_metadata.provider `anonymous`, while
-- app.config.anonymous_sign_ins is on. They are a bettor like any other but for withdrawals
-- (public.withdraw refuses them: docs/api.md); updateUser({email, password}) makes them a
-- permanent user (app._update_user).
-- Raises: anonymous_sign_ins_disabled, invalid_argument (a bad user_metadata).
create or replace function app._create_anonymous_user(p_user_metadata jsonb default '{}')
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := gen_random_uuid();
    v_metadata jsonb := app._user_metadata(p_user_metadata);
begin
    if not (select c.anonymous_sign_ins from app.config as c) then
        perform app._fail('anonymous_sign_ins_disabled');
    end if;
    insert into auth.users (
        id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data, is_anonymous
    )
    values (
        v_user, null, null, '{"provider": "anonymous", "providers": ["anonymous"]}', v_metadata,
        true
    );
    return v_user;
end
$$;

-- _update_user(user, session, email, password_hash, data): what GoTrue's PUT /auth/v1/user
-- (supabase-js's updateUser) changes for the user of session `p_session`; a null argument changes
-- nothing:
--   email          the new email, stored at once: Wagerbase sends no mail, so there is no
--                  confirmation to wait for (docs/api.md, "Changing the email");
--   password_hash  the new password's hash (argon2, made in Python); the user's other sessions
--                  end (reason password_changed), as GoTrue ends them;
--   data           merged into user_metadata as GoTrue merges it: each key set, a key set to null
--                  removed; `username` only as it is (it is the sign-in name).
-- An anonymous user becomes a permanent one once they have an email (is_anonymous false,
-- app_metadata.provider `email`); a password alone is refused them (GoTrue's rule).
-- Returns the user's GoTrue JSON.
-- Raises: unknown_user, invalid_argument (email not an address; data not an object, over 4096
-- bytes, or a different username), user_exists (the email is another user's), anonymous_user
-- (a password without an email).
create or replace function app._update_user(
    p_user uuid, p_session uuid, p_email text, p_password_hash text, p_data jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user auth.users;
    v_email text := app._valid_email(p_email);
    v_username text;
    v_metadata jsonb;
    v_has_email boolean;
begin
    select * into v_user from auth.users as u
    where u.id = p_user and u.deleted_at is null
    for update;
    if not found then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    if p_data is not null and p_data <> 'null'::jsonb then
        if pg_catalog.jsonb_typeof(p_data) <> 'object' then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'data', 'reason', 'a JSON object of at most 4096 bytes'));
        end if;
        select p.username into v_username from app.profiles as p where p.user_id = p_user;
        if p_data ? 'username' and p_data -> 'username' is distinct from to_jsonb(v_username) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'data', 'reason',
                'username is the sign-in name; it cannot be changed here'));
        end if;
        v_metadata := app._user_metadata(app._merged_metadata(v_user.raw_user_meta_data, p_data));
    end if;
    if v_email is not null and v_email is distinct from lower(v_user.email) and exists (
        select 1 from auth.users as u where lower(u.email) = v_email and u.id <> p_user
    ) then
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
    end if;
    v_has_email := coalesce(v_email, v_user.email) is not null;
    if p_password_hash is not null and v_user.is_anonymous and not v_has_email then
        perform app._fail('anonymous_user', pg_catalog.jsonb_build_object(
            'argument', 'password', 'reason', 'an anonymous user sets a password with an email'));
    end if;

    update auth.users as u
    set email = coalesce(v_email, u.email),
        encrypted_password = coalesce(p_password_hash, u.encrypted_password),
        raw_user_meta_data = coalesce(v_metadata, u.raw_user_meta_data),
        raw_app_meta_data = case
            when u.is_anonymous and v_has_email
                then u.raw_app_meta_data || '{"provider": "email", "providers": ["email"]}'
            else u.raw_app_meta_data
        end,
        is_anonymous = u.is_anonymous and not v_has_email,
        updated_at = now()
    where u.id = p_user;
    if p_password_hash is not null then
        perform app._end_sessions(p_user, p_session, 'others', 'password_changed');
    end if;
    return app._user_json(p_user);
exception
    when unique_violation then
        -- a concurrent sign-up or change took the email first
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
        return null;
end
$$;

-- GoTrue's admin API (`/auth/v1/admin/users`, supabase-js's auth.admin), for a request with the
-- service key: the API node checks the key and calls these through schema `server`. Each change
-- is logged in app.admin_actions by the service role, with the user before and after.

-- _admin_app_metadata(app_metadata): app_metadata as an admin may give it: a JSON object of at
-- most 4,096 bytes as text (it travels in every access token), or null (no change).
-- Raises: invalid_argument (argument app_metadata).
create or replace function app._admin_app_metadata(p_app_metadata jsonb)
returns jsonb
language plpgsql
immutable
set search_path = ''
as $$
begin
    if p_app_metadata is null or p_app_metadata = 'null'::jsonb then
        return null;
    end if;
    if pg_catalog.jsonb_typeof(p_app_metadata) <> 'object'
        or pg_catalog.octet_length(p_app_metadata::text) > 4096
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'app_metadata', 'reason', 'a JSON object of at most 4096 bytes'));
    end if;
    return p_app_metadata;
end
$$;

-- _admin_list_users(page, per_page): page `p_page` (from 1) of `p_per_page` (1 to 1000) users
-- that are not deleted, newest first (GoTrue's order), as {users: [User...], total}.
-- Raises: invalid_argument (a page below 1, a page size out of range).
create or replace function app._admin_list_users(p_page integer, p_per_page integer)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_page is null or p_page < 1 or p_per_page is null or p_per_page not between 1 and 1000 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'page', 'reason', 'a page from 1, of 1 to 1000 users'));
    end if;
    return pg_catalog.jsonb_build_object(
        'total', (select count(*) from auth.users as u where u.deleted_at is null),
        'users', coalesce((
            select pg_catalog.jsonb_agg(app._user_json(x.id) order by x.created_at desc, x.id desc)
            from (
                select u.id, u.created_at
                from auth.users as u
                where u.deleted_at is null
                order by u.created_at desc, u.id desc
                offset (p_page::bigint - 1) * p_per_page
                limit p_per_page
            ) as x
        ), '[]'::jsonb));
end
$$;

-- _admin_create_user(email, password_hash, user_metadata, app_metadata): a new user with an email
-- (confirmed at once: no mail is sent), a password or none (then they cannot sign in until one is
-- set), and the given metadata; app_metadata is merged into {provider: email, providers:
-- [email]}, so `{"role": "admin"}` makes an admin. Logged (admin_create_user). Returns the User.
-- Raises: invalid_argument (no email, a bad one, bad metadata), user_exists.
create or replace function app._admin_create_user(
    p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_email text := app._valid_email(p_email);
    v_app_metadata jsonb := app._admin_app_metadata(p_app_metadata);
    v_user uuid;
    v_after jsonb;
begin
    if v_email is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email is required'));
    end if;
    v_user := app._create_user(v_email, null, p_password_hash, '{}', p_user_metadata);
    if v_app_metadata is not null then
        update auth.users as u
        set raw_app_meta_data = app._merged_metadata(u.raw_app_meta_data, v_app_metadata)
        where u.id = v_user;
    end if;
    v_after := app._user_json(v_user);
    perform app._audit('admin_create_user', null, null, null, null, v_after, 'service_role');
    return v_after;
end
$$;

-- _admin_update_user(user, email, password_hash, user_metadata, app_metadata): an admin's change
-- of a user: email, password and user_metadata as app._update_user changes them (a new password
-- ends every session of the user, as GoTrue's admin update does), and app_metadata merged (so
-- `{"role": "admin"}` promotes and `{"role": null}` demotes, at once for every admin check).
-- Logged (admin_update_user). Returns the User.
-- Raises: user_not_found, invalid_argument, user_exists, anonymous_user.
create or replace function app._admin_update_user(
    p_user uuid, p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_app_metadata jsonb := app._admin_app_metadata(p_app_metadata);
    v_before jsonb := app._user_json(p_user);
    v_after jsonb;
begin
    if v_before is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    perform app._update_user(p_user, null, p_email, p_password_hash, p_user_metadata);
    if v_app_metadata is not null then
        update auth.users as u
        set raw_app_meta_data = app._merged_metadata(u.raw_app_meta_data, v_app_metadata),
            updated_at = now()
        where u.id = p_user;
    end if;
    v_after := app._user_json(p_user);
    perform app._audit('admin_update_user', null, null, null, v_before, v_after, 'service_role');
    return v_after;
end
$$;

-- _admin_delete_user(user): delete a user softly (auth.users.deleted_at; wallets, wagers and the
-- ledger name them, so the row stays): every session of theirs ends at once (migration 0014's
-- trigger), their tokens are refused everywhere (unknown_user), they no longer sign in or show
-- in the list; their email and username stay taken. Logged (admin_delete_user).
-- Raises: user_not_found (no such user, or deleted already).
create or replace function app._admin_delete_user(p_user uuid)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_before jsonb := app._user_json(p_user);
begin
    if v_before is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', p_user));
    end if;
    update auth.users as u set deleted_at = now(), updated_at = now() where u.id = p_user;
    perform app._audit(
        'admin_delete_user', null, null, null, v_before,
        pg_catalog.jsonb_build_object('id', p_user, 'deleted', true), 'service_role');
end
$$;

-- _find_user(name): the id of the user with this username, email or id; null when none.
create or replace function app._find_user(p_name text)
returns uuid
language sql stable
set search_path = ''
as $$
    select u.id
    from auth.users as u
    left join app.profiles as p on u.id = p.user_id
    where u.deleted_at is null
        and (u.id::text = p_name or lower(u.email) = lower(p_name) or lower(p.username) = lower(p_name))
    limit 1
$$;

-- _set_admin(name, admin): grant or withdraw the admin role (app_metadata.role), logged. Tokens
-- issued from now on carry it; the user signs in again to get one.
-- Raises: user_not_found.
create or replace function app._set_admin(p_name text, p_admin boolean)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._find_user(p_name);
    v_before jsonb;
    v_after jsonb;
begin
    if v_user is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', p_name));
    end if;
    select u.raw_app_meta_data into v_before from auth.users as u where u.id = v_user;
    update auth.users as u
    set raw_app_meta_data = case
            when p_admin then u.raw_app_meta_data || '{"role": "admin"}'
            else u.raw_app_meta_data - 'role'
        end,
        updated_at = now()
    where u.id = v_user
    returning u.raw_app_meta_data into v_after;
    perform app._audit(
        case when p_admin then 'promote_user' else 'demote_user' end,
        null, null, p_name, v_before, v_after);
    return pg_catalog.jsonb_build_object('user_id', v_user, 'app_metadata', v_after);
end
$$;

-- ==== rpc/06_oidc.sql
reset all;

-- Sign-in with OpenID Connect providers (GoTrue's external providers: /auth/v1/authorize, its
-- callback, and the PKCE exchange of /auth/v1/token): the flows and the users' identities of
-- migration 0025. The API node checks the provider's id_token (its signature, issuer, audience,
-- expiry and nonce) before it calls these; what the provider says of the user lands in the
-- identity's identity_data and in a new user's user_metadata, never in app_metadata, so the
-- provider can make nobody an admin (app._is_admin reads auth.users). States and auth codes
-- arrive as SHA-256 digests only. Not granted to any client role: the server. ones are the
-- node's (policies/05_server.sql).

-- _identities_json(user): the GoTrue identities of a user's providers (app._user_json adds them
-- after the email identity), oldest first.
create or replace function app._identities_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'identity_id', i.id,
        'id', i.provider_id,
        'user_id', i.user_id,
        'identity_data', i.identity_data,
        'provider', i.provider,
        'email', i.email,
        'last_sign_in_at', i.last_sign_in_at,
        'created_at', i.created_at,
        'updated_at', i.updated_at
    )) order by i.created_at, i.id), '[]')
    from app.identities as i
    where i.user_id = p_user
$$;

-- _oidc_user(provider, claims, user_metadata): the user who signs in with this provider identity
-- (`claims`: sub, email, email_verified, as the id_token said them), as GoTrue finds them: the
-- user of the identity (provider, sub); else, when the provider verified the email, the user
-- with that email (the identity is linked to them, and the provider joins their
-- app_metadata.providers); else a new user, with the email only when the provider verified it and
-- nobody has it (an unverified email could claim someone's address), app_metadata
-- {provider, providers} and `p_user_metadata` as user_metadata. The identity's data and its last
-- sign-in are kept up to date.
-- Raises: user_not_found (the identity's user was deleted), invalid_argument (a bad provider
-- name, sub or user_metadata), user_exists (a sign-up took the email at the same moment).
create or replace function app._oidc_user(p_provider text, p_claims jsonb, p_user_metadata jsonb)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_sub text := p_claims ->> 'sub';
    v_verified boolean := coalesce(p_claims -> 'email_verified' = 'true'::jsonb, false);
    v_email text;
    v_user uuid;
    v_deleted timestamptz;
begin
    if v_sub is null or p_provider !~ '^[a-z0-9_-]{1,40}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'claims', 'reason', 'a provider and a sub are required'));
    end if;
    begin
        v_email := app._valid_email(p_claims ->> 'email');
    exception when others then
        v_email := null;  -- an address the engine cannot keep: the user has none
    end;
    -- one sign-in at a time per identity, so that two at once make one user
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('oidc:' || p_provider || ':' || v_sub, 0));

    select i.user_id, u.deleted_at into v_user, v_deleted
    from app.identities as i
    join auth.users as u on i.user_id = u.id
    where i.provider = p_provider and i.provider_id = v_sub;
    if v_deleted is not null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', v_user));
    end if;

    if v_user is null and v_verified and v_email is not null then
        select u.id into v_user
        from auth.users as u
        where lower(u.email) = v_email and u.deleted_at is null and not u.is_anonymous
        for update;
    end if;

    if v_user is null then
        v_user := gen_random_uuid();
        insert into auth.users (id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data)
        values (
            v_user,
            case when v_verified and not exists (
                select 1 from auth.users as u where lower(u.email) = v_email
            ) then v_email end,
            null,
            pg_catalog.jsonb_build_object(
                'provider', p_provider, 'providers', pg_catalog.jsonb_build_array(p_provider)),
            app._user_metadata(p_user_metadata)
        );
    end if;

    insert into app.identities as i (
        provider, provider_id, user_id, identity_data, email, last_sign_in_at
    )
    values (p_provider, v_sub, v_user, p_claims, v_email, now())
    on conflict (provider, provider_id) do update
    set identity_data = excluded.identity_data, email = excluded.email,
        last_sign_in_at = excluded.last_sign_in_at, updated_at = now();

    update auth.users as u
    set raw_app_meta_data = u.raw_app_meta_data || pg_catalog.jsonb_build_object(
            'provider', coalesce(u.raw_app_meta_data ->> 'provider', p_provider),
            'providers', coalesce(u.raw_app_meta_data -> 'providers', '[]'::jsonb)
            || pg_catalog.jsonb_build_array(p_provider)),
        updated_at = now()
    where u.id = v_user and not coalesce(u.raw_app_meta_data -> 'providers', '[]') ? p_provider;
    return v_user;
exception
    when unique_violation then
        -- a password sign-up took the same email at the same moment
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
        return null;
end
$$;

-- server.begin_oidc_flow(address, state_digest, provider, redirect_to, challenge, method, nonce):
-- start a sign-in with a provider (GET /auth/v1/authorize), counted as a sign-in against the
-- client address's limit (server.check_rate_limit); returns 0, or the seconds to wait when the
-- address is over it (nothing kept then). Each call also deletes up to 100 flows past their
-- 10 minutes, skipping rows another call holds.
-- Who: the API node. Changes: app.oidc_flows, app.address_attempts.
-- Raises: invalid_argument (no address; a challenge of the wrong shape breaks a constraint).
create or replace function server.begin_oidc_flow(
    p_address inet,
    p_state_digest text,
    p_provider text,
    p_redirect_to text,
    p_code_challenge text,
    p_code_challenge_method text,
    p_nonce text
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_wait integer := server.check_rate_limit('sign_in', p_address);
begin
    if v_wait > 0 then
        return v_wait;
    end if;
    delete from app.oidc_flows as f
    where f.id in (
        select x.id from app.oidc_flows as x
        where x.created_at < now() - interval '10 minutes'
        limit 100
        for update skip locked
    );
    insert into app.oidc_flows (
        state_digest, provider, redirect_to, code_challenge, code_challenge_method, nonce
    )
    values (
        p_state_digest, p_provider, p_redirect_to, p_code_challenge, p_code_challenge_method,
        p_nonce
    );
    return 0;
end
$$;

-- server.take_oidc_state(state_digest): use up the `state` the provider sent back (once): the
-- flow {id, provider, redirect_to, nonce, pkce}, or null when no flow of the last 10 minutes
-- has this state or it was used already.
-- Who: the API node (the provider's callback). Changes: app.oidc_flows.state_used_at.
-- Raises: nothing.
create or replace function server.take_oidc_state(p_state_digest text)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    update app.oidc_flows as f
    set state_used_at = now()
    where f.state_digest = p_state_digest and f.state_used_at is null
        and f.created_at > now() - interval '10 minutes'
    returning pg_catalog.jsonb_build_object(
        'id', f.id, 'provider', f.provider, 'redirect_to', f.redirect_to, 'nonce', f.nonce,
        'pkce', f.code_challenge is not null)
$$;

-- server.complete_oidc_flow(flow, claims, user_metadata, auth_code_digest, session, token_hash):
-- the provider's checked id_token for flow `p_flow` signs its user in (app._oidc_user). A PKCE
-- flow keeps the auth code's digest and the user for server.redeem_oidc_code and returns
-- {user_id}; an implicit flow ends here, with a new session (app._start_session), and returns
-- {user_id, user}.
-- Who: the API node (the provider's callback). Changes: app.oidc_flows, app.identities,
-- auth.users, and for an implicit flow app.sessions and app.refresh_tokens.
-- Raises: those of app._oidc_user (user_not_found, invalid_argument, user_exists);
-- invalid_argument (no such flow, or its state not used).
create or replace function server.complete_oidc_flow(
    p_flow uuid,
    p_claims jsonb,
    p_user_metadata jsonb,
    p_auth_code_digest text,
    p_session uuid,
    p_token_hash text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_flow app.oidc_flows;
    v_user uuid;
begin
    select * into v_flow from app.oidc_flows as f
    where f.id = p_flow and f.state_used_at is not null and f.user_id is null
    for update;
    if not found then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'flow', 'reason', 'no flow waiting for its provider'));
    end if;
    v_user := app._oidc_user(v_flow.provider, p_claims, p_user_metadata);
    if v_flow.code_challenge is not null then
        update app.oidc_flows as f
        set auth_code_digest = p_auth_code_digest, user_id = v_user, authenticated_at = now()
        where f.id = v_flow.id;
        return pg_catalog.jsonb_build_object('user_id', v_user);
    end if;
    delete from app.oidc_flows as f where f.id = v_flow.id;
    return pg_catalog.jsonb_build_object(
        'user_id', v_user, 'user', app._start_session(v_user, p_session, p_token_hash));
end
$$;

-- server.redeem_oidc_code(code_digest, verifier, verifier_s256, session, token_hash): GoTrue's
-- grant_type=pkce: the auth code of a PKCE flow and its code verifier (as sent, and its S256,
-- made by the node) for a new session of the flow's user; the flow ends. Returns
-- {status: 'ok', user, session_id}, or {status: <GoTrue error code>}:
--   flow_state_not_found  no flow has this auth code (never issued, or redeemed already)
--   flow_state_expired    the code is older than 5 minutes
--   bad_code_verifier     the verifier does not match the flow's challenge (the code stays)
--   user_not_found        the user was deleted since
-- Who: the API node. Changes: app.oidc_flows, app.sessions, app.refresh_tokens, auth.users.
-- Raises: nothing.
create or replace function server.redeem_oidc_code(
    p_code_digest text, p_verifier text, p_verifier_s256 text, p_session uuid, p_token_hash text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_flow app.oidc_flows;
    v_presented text;
begin
    select * into v_flow from app.oidc_flows as f
    where f.auth_code_digest = p_code_digest
    for update;
    if not found then
        return '{"status": "flow_state_not_found"}';
    end if;
    if v_flow.authenticated_at < now() - interval '5 minutes' then
        return '{"status": "flow_state_expired"}';
    end if;
    v_presented := case v_flow.code_challenge_method
        when 's256' then p_verifier_s256
        else p_verifier
    end;
    if v_flow.code_challenge is distinct from v_presented then
        return '{"status": "bad_code_verifier"}';
    end if;
    delete from app.oidc_flows as f where f.id = v_flow.id;
    if app._user_json(v_flow.user_id) is null then
        return '{"status": "user_not_found"}';
    end if;
    return pg_catalog.jsonb_build_object(
        'status', 'ok',
        'session_id', p_session,
        'user', app._start_session(v_flow.user_id, p_session, p_token_hash));
end
$$;

-- ==== rpc/06_sessions.sql
reset all;

-- Sign-in sessions and refresh tokens, for the GoTrue-compatible endpoints of the API, the
-- limits per client address, and the check of a request's session.
-- The app._ functions are called by the server's own role (the API node's connection before it
-- switches role for a request); the server. ones are what an API node calls as itself (schema
-- `server`, migration 0013); none is granted to a client role, except public.revoke_sessions (an
-- admin's). Passwords are checked in Python (argon2); refresh tokens arrive here as SHA-256
-- digests only.

-- _user_json: the GoTrue `User` object of a user (null for a deleted or unknown one), as GoTrue
-- answers it: user_metadata is what the user gave (GoTrue's `data`) with their username, if they
-- have one; a user with a password has one identity, GoTrue's `email` identity (its identity_id a
-- fixed function of the user id), an anonymous user or one made by an OpenID Connect provider
-- none; then one identity for each provider they signed in with (app._identities_json).
create or replace function app._user_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'id', u.id,
        'aud', 'authenticated',
        'role', 'authenticated',
        'email', coalesce(u.email, ''),
        'phone', '',
        'email_confirmed_at', case when u.email is not null then u.created_at end,
        'confirmed_at', case when not u.is_anonymous then u.created_at end,
        'last_sign_in_at', u.last_sign_in_at,
        'app_metadata', u.raw_app_meta_data,
        'user_metadata', coalesce(u.raw_user_meta_data, '{}') || case
            when p.username is not null then pg_catalog.jsonb_build_object('username', p.username)
            else '{}'
        end,
        'identities', case
            when u.is_anonymous or (
                u.encrypted_password is null and u.raw_app_meta_data ->> 'provider' <> 'email'
            ) then '[]'::jsonb
            else pg_catalog.jsonb_build_array(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'identity_id', pg_catalog.md5('wagerbase email identity ' || u.id::text)::uuid,
                'id', u.id::text,
                'user_id', u.id,
                'identity_data', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                    'sub', u.id::text,
                    'email', u.email,
                    'email_verified', u.email is not null,
                    'phone_verified', false
                )),
                'provider', 'email',
                'email', u.email,
                'last_sign_in_at', u.last_sign_in_at,
                'created_at', u.created_at,
                'updated_at', u.updated_at
            )))
        end || app._identities_json(u.id),
        'created_at', u.created_at,
        'updated_at', u.updated_at,
        'is_anonymous', u.is_anonymous
    )
    from auth.users as u
    left join app.profiles as p on u.id = p.user_id
    where u.id = p_user and u.deleted_at is null
$$;

-- _sign_in_allowed: count one sign-in attempt for `p_identifier` and say whether it is within
-- `p_limit` attempts in the last 60 seconds (a sliding window, so no burst at a minute's edge).
-- Counted before the password is checked, so guessing is slowed whether the guesses are right or
-- wrong; attempts for one identifier are serialised by an advisory lock so none slips through.
create or replace function app._sign_in_allowed(p_identifier text, p_limit integer)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    -- counted per user, whichever of their names is typed; per name when it names nobody
    v_identifier text := coalesce(app._find_user(p_identifier)::text, lower(p_identifier));
    v_recent integer;
begin
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sign-in:' || v_identifier, 0));
    delete from app.sign_in_attempts as a
    where a.attempted_at < clock_timestamp() - interval '1 minute';
    insert into app.sign_in_attempts (identifier) values (v_identifier);
    select count(*) into v_recent from app.sign_in_attempts as a where a.identifier = v_identifier;
    return v_recent <= p_limit;
end
$$;

-- _user_for_sign_in: the user with this email or username, with the password hash to check.
create or replace function app._user_for_sign_in(p_identifier text)
returns table (user_id uuid, password_hash text)
language sql stable
set search_path = ''
as $$
    select u.id, u.encrypted_password
    from auth.users as u
    where u.id = app._find_user(p_identifier)
$$;

-- _start_session: a new session for a user who just proved their password (or signed up), with
-- its first refresh token. Returns the user's JSON.
create or replace function app._start_session(p_user uuid, p_session uuid, p_token_hash text)
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    insert into app.sessions (id, user_id) values (p_session, p_user);
    insert into app.refresh_tokens (token_hash, session_id, user_id)
    values (p_token_hash, p_session, p_user);
    update auth.users as u set last_sign_in_at = now() where u.id = p_user;
    return app._user_json(p_user);
end
$$;

-- _refresh_session: use up refresh token `p_token_hash` and issue `p_new_hash` in its place.
-- A token presented again within app.config.refresh_token_reuse_seconds (10) of its first use
-- refreshes its session once more (another successor: two tabs that refresh at once, or a client
-- that lost the answer, stay signed in, as with GoTrue's reuse interval); presented later, it
-- ends the whole session (a stolen token).
-- Returns {status: 'ok', user, session_id}, or {status: <GoTrue error code>} without raising,
-- so that ending a session on token reuse is committed:
--   refresh_token_not_found     no such token, or its user was deleted
--   session_not_found           the token's session ended (signed out, revoked, reused...)
--   refresh_token_already_used  the token was used before the reuse interval: the session ends now
--   user_not_found              the user was deleted
create or replace function app._refresh_session(p_token_hash text, p_new_hash text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_token app.refresh_tokens;
    v_session app.sessions;
    v_user jsonb;
begin
    select * into v_token from app.refresh_tokens as t where t.token_hash = p_token_hash for update;
    if not found then
        return '{"status": "refresh_token_not_found"}';
    end if;
    select * into v_session from app.sessions as s where s.id = v_token.session_id for update;
    if v_session.ended_at is not null then
        return pg_catalog.jsonb_build_object('status', case v_session.ended_reason
            when 'user_deleted' then 'refresh_token_not_found'
            else 'session_not_found'
        end);
    end if;
    if v_token.used_at is not null and now() > v_token.used_at + pg_catalog.make_interval(
        secs => (select c.refresh_token_reuse_seconds from app.config as c)
    ) then
        update app.sessions as s set ended_at = now(), ended_reason = 'refresh_token_reused'
        where s.id = v_session.id;
        return '{"status": "refresh_token_already_used"}';
    end if;
    v_user := app._user_json(v_token.user_id);
    if v_user is null then
        return '{"status": "user_not_found"}';
    end if;

    update app.refresh_tokens as t set used_at = coalesce(t.used_at, now()) where t.id = v_token.id;
    insert into app.refresh_tokens (token_hash, session_id, user_id, parent_id)
    values (p_new_hash, v_session.id, v_token.user_id, v_token.id);
    update app.sessions as s set refreshed_at = now() where s.id = v_session.id;
    return pg_catalog.jsonb_build_object(
        'status', 'ok', 'user', v_user, 'session_id', v_session.id);
end
$$;


-- _end_sessions: sign out, for `p_reason` (signed_out, revoked, user_deleted). Scope 'local' ends
-- session p_session, 'others' every other session of the user, 'global' all of them. Returns how
-- many sessions ended; each is announced to the sockets at commit (migration 0014's trigger).
drop function if exists app._end_sessions(uuid, uuid, text);
create or replace function app._end_sessions(
    p_user uuid, p_session uuid, p_scope text, p_reason text default 'signed_out'
)
returns integer
language sql
set search_path = ''
as $$
    with ended as (
        update app.sessions as s
        set ended_at = now(), ended_reason = p_reason
        where s.user_id = p_user
            and s.ended_at is null
            and case p_scope
                when 'local' then s.id = p_session
                when 'others' then s.id is distinct from p_session
                else true
            end
        returning 1
    )
    select count(*)::integer from ended
$$;

-- _announce_ended_sessions: the live message for sessions that just ended, `p_ended` a JSON
-- array of {id, user_id, reason}: one `session_ended` message per user and reason on
-- wagerbase_user, naming at most 100 sessions each (messages stay small), seen when the transaction commits.
-- Every node closes those sessions' sockets when it hears it (docs/live.md). Called by the
-- triggers of migration 0014.
create or replace function app._announce_ended_sessions(p_ended jsonb)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
        'type', 'session_ended',
        'user_id', e.user_id,
        'reason', e.reason,
        'session_ids', pg_catalog.jsonb_agg(e.id order by e.id)
    ))
    from (
        select
            x.id,
            x.user_id,
            x.reason,
            (pg_catalog.row_number() over (partition by x.user_id, x.reason order by x.id) - 1)
            / 100 as batch
        from pg_catalog.jsonb_to_recordset(coalesce(p_ended, '[]')) as x (
            id uuid, user_id uuid, reason text
        )
    ) as e
    group by e.user_id, e.reason, e.batch;
end
$$;

-- _revoke_sessions: end every live session of the user with this username, email or id (reason
-- 'revoked'), logged in the admin actions log as `revoke_sessions` by the caller; their access
-- tokens stop at once on every surface and their refresh tokens no longer refresh. For
-- public.revoke_sessions and `wagerbase users sign-out`. Returns {user_id, sessions_ended}.
-- Raises: user_not_found.
create or replace function app._revoke_sessions(p_name text, p_reason text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._find_user(p_name);
    v_ended integer;
begin
    if v_user is null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', p_name));
    end if;
    v_ended := app._end_sessions(v_user, null, 'global', 'revoked');
    perform app._audit(
        'revoke_sessions', null, null, nullif(btrim(p_reason), ''),
        pg_catalog.jsonb_build_object('user_id', v_user, 'live_sessions', v_ended),
        pg_catalog.jsonb_build_object('user_id', v_user, 'live_sessions', 0)
    );
    return pg_catalog.jsonb_build_object('user_id', v_user, 'sessions_ended', v_ended);
end
$$;

-- revoke_sessions(user_id, reason): an admin (or the service role) signs a user out of every
-- session: each of their access tokens is refused at once on every surface (REST, RPC, /api, both
-- sockets), their refresh tokens no longer refresh; they sign in again. Logged (admin_actions,
-- with the optional reason). Returns {user_id, sessions_ended}.
-- Raises: not_admin, user_not_found.
create or replace function public.revoke_sessions(user_id uuid, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform app._require_admin();
    return app._revoke_sessions(revoke_sessions.user_id::text, reason);
end
$$;
revoke all on function public.revoke_sessions(uuid, text) from public;
grant execute on function public.revoke_sessions(uuid, text) to authenticated, service_role;

-- server.check_session(claims): refuse a request whose token names a user (a `sub` claim) unless
-- that user exists and the token's session (its `session_id` claim) is one of theirs that has not
-- ended. An API node calls it with the claims in the statement that starts each request as the
-- caller (database.py), so the access tokens of a session that ended (sign-out of any scope, a
-- reused refresh token, an admin's revocation, a deleted user) are refused on every surface at
-- once, public views included, at no extra round trip. Tokens that name no user (the anon and
-- service keys) pass. A user token without session_id is refused: every token Wagerbase issued
-- carries one, and one without could never be signed out. Changes nothing.
-- Raises: unknown_user (no such user, or deleted), session_ended (detail.reason: signed_out,
-- refresh_token_reused, revoked, user_deleted; not_found; no_session_id; ended, for a session
-- that ended before reasons were kept).
create or replace function server.check_session(p_claims jsonb)
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    v_sub text := p_claims ->> 'sub';
    v_session_id text := p_claims ->> 'session_id';
    v_session app.sessions;
begin
    if v_sub is null then
        return;
    end if;
    if v_sub !~* v_uuid then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_sub));
    end if;
    if not exists (
        select 1 from auth.users as u where u.id = v_sub::uuid and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_sub));
    end if;
    if v_session_id is null or v_session_id !~* v_uuid then
        perform app._fail('session_ended', pg_catalog.jsonb_build_object(
            'session_id', v_session_id, 'reason', 'no_session_id'));
    end if;
    select * into v_session
    from app.sessions as s
    where s.id = v_session_id::uuid and s.user_id = v_sub::uuid;
    if not found or v_session.ended_at is not null then
        perform app._fail('session_ended', pg_catalog.jsonb_build_object(
            'session_id', v_session_id,
            'reason', case when found then coalesce(v_session.ended_reason, 'ended') else 'not_found' end,
            'ended_at', v_session.ended_at));
    end if;
end
$$;

-- server.ended_sessions(ids): which of these sessions are no longer live (ended, or gone with
-- their user). A node's hub asks it for its sockets' sessions after it listens again, since a
-- `session_ended` message sent while it was not listening is lost. Changes nothing.
create or replace function server.ended_sessions(p_sessions uuid[])
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
    select x.id
    from pg_catalog.unnest(p_sessions) as x (id)
    where not exists (
        select 1 from app.sessions as s where s.id = x.id and s.ended_at is null
    )
$$;

-- server.check_rate_limit(action, address): count one attempt at `p_action` (sign_in, sign_up or
-- refresh) from client address `p_address` if the address is within its limit
-- (app.config.<action>_limit_per_address attempts in the last address_limit_window, a sliding
-- window); returns 0 then, else the seconds until it will be (Retry-After), counting nothing.
-- An IPv6 address counts with its /64 network. Attempts of one address are serialised by an
-- advisory lock, so none slips through; each call also deletes up to 100 expired rows of any
-- address, skipping rows another call holds.
-- Raises: invalid_argument (an unknown action, or no address).
create or replace function server.check_rate_limit(p_action text, p_address inet)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_now timestamptz := pg_catalog.clock_timestamp();
    v_address inet := case pg_catalog.family(p_address)
        when 6 then pg_catalog.network(pg_catalog.set_masklen(p_address, 64))::inet
        else pg_catalog.set_masklen(p_address, 32)
    end;
    v_limit integer;
    v_window interval;
    v_count integer;
    v_oldest timestamptz;
begin
    select
        case p_action
            when 'sign_in' then c.sign_in_limit_per_address
            when 'sign_up' then c.sign_up_limit_per_address
            when 'refresh' then c.refresh_limit_per_address
        end,
        c.address_limit_window
    into v_limit, v_window
    from app.config as c;
    if v_limit is null or v_address is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', case when v_limit is null then 'action' else 'address' end,
            'reason', 'sign_in, sign_up or refresh, from an address'));
    end if;
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('address:' || p_action || ':' || v_address::text, 0));
    delete from app.address_attempts as a
    where a.action = p_action and a.address = v_address and a.attempted_at <= v_now - v_window;
    select count(*) into v_count
    from app.address_attempts as a
    where a.action = p_action and a.address = v_address;
    if v_count >= v_limit then
        -- the attempt whose expiry brings the count below the limit
        select a.attempted_at into v_oldest
        from app.address_attempts as a
        where a.action = p_action and a.address = v_address
        order by a.attempted_at
        offset v_count - v_limit
        limit 1;
        return greatest(1, ceil(extract(epoch from v_oldest + v_window - v_now)))::integer;
    end if;
    insert into app.address_attempts (action, address, attempted_at)
    values (p_action, v_address, v_now);
    delete from app.address_attempts as a
    where a.id in (
        select x.id from app.address_attempts as x
        where x.attempted_at <= v_now - v_window
        limit 100
        for update skip locked
    );
    return 0;
end
$$;

-- server.begin_sign_in(address, identifier, limit): the checks before a password sign-in, in one
-- call, so that no password is hashed for a refused attempt: the client address's limit
-- (server.check_rate_limit), then the name's (app._sign_in_allowed, `p_limit` a minute), then
-- the user with this email, username or id. One row: retry_after (0 when allowed, else the
-- seconds to wait), limited_by ('address', 'identifier', or null), and the user's id and password
-- hash (null when the name names nobody, or when refused).
-- Raises: invalid_argument (no address).
create or replace function server.begin_sign_in(p_address inet, p_identifier text, p_limit integer)
returns table (retry_after integer, limited_by text, user_id uuid, password_hash text)
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_wait integer := server.check_rate_limit('sign_in', p_address);
begin
    if v_wait > 0 then
        return query select v_wait, 'address'::text, null::uuid, null::text;
    elsif not app._sign_in_allowed(p_identifier, p_limit) then
        return query select 60, 'identifier'::text, null::uuid, null::text;
    else
        return query
        select 0, null::text, f.user_id, f.password_hash
        from (select 1) as one
        left join app._user_for_sign_in(p_identifier) as f on true;
    end if;
end
$$;

-- ==== rpc/07_settings.sql
reset all;

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

-- ==== rpc/08_email_tokens.sql
reset all;

-- Password recovery and sign-in by email (GoTrue's /recover, /otp and /verify): the one-time
-- tokens an API node mails, kept as digests only (migration 0024), and how often an address may
-- be sent one. The node makes the code, mails it and hashes it; these functions never see a code,
-- only SHA-256 digests of GoTrue's token hash. Called by the API node as itself (schema
-- `server`); none is granted to a client role.

-- _email_digest(email): the SHA-256 (hex) of an address as app.email_sends keys it.
create or replace function app._email_digest(p_email text)
returns text
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_email, 'UTF8')), 'hex')
$$;

-- _email_user(email): the live (not deleted) user whose email is `p_email` (already lower-cased),
-- or null.
create or replace function app._email_user(p_email text)
returns uuid
language sql
stable
set search_path = ''
as $$
    select u.id from auth.users as u where lower(u.email) = p_email and u.deleted_at is null
$$;

-- server.issue_email_token(email, purpose, token_digest, create_user, user_metadata,
-- expiry_seconds, interval_seconds, code_challenge, code_challenge_method): the checks and the
-- token before a node mails a recovery (`purpose` recovery) or sign-in (magiclink) code to
-- `email`, in one call. In order:
--   a sign-in without create_user for an address that names no user: {status: signups_disabled}
--   (GoTrue's otp_disabled), nothing counted;
--   the address was sent a mail less than `interval_seconds` ago: {status: rate_limited,
--   retry_after}, nothing counted (GoTrue's SMTP max frequency, one a minute);
--   otherwise the mail is counted for the address (known or not), and then a recovery for an
--   address that names no user is {status: no_user}: no token, nothing to send, so the node
--   answers as for a known one;
--   else the token (`token_digest`, expiring in `expiry_seconds`) replaces any the address had:
--   {status: ok, new_user}, new_user when verifying it will create the user (a sign-in with
--   create_user, `user_metadata` theirs). A PKCE challenge (with its method, s256 or plain)
--   is kept with the token for server.verify_email_token.
-- Mails of one address are serialised by an advisory lock; each call also prunes up to 100
-- expired tokens and day-old send rows.
-- Who: the API node. Changes: app.email_sends, app.email_tokens.
-- Raises: invalid_argument (a bad email, purpose, user_metadata, interval or challenge).
create or replace function server.issue_email_token(
    p_email text,
    p_purpose text,
    p_token_digest text,
    p_create_user boolean,
    p_user_metadata jsonb,
    p_expiry_seconds integer,
    p_interval_seconds integer,
    p_code_challenge text,
    p_code_challenge_method text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_email text := app._valid_email(p_email);
    v_metadata jsonb := app._user_metadata(p_user_metadata);
    v_digest text;
    v_user uuid;
    v_sent timestamptz;
    v_next timestamptz;
begin
    if v_email is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email address'));
    end if;
    if p_purpose is null or p_purpose not in ('recovery', 'magiclink')
        or coalesce(p_expiry_seconds, 0) < 1 or coalesce(p_interval_seconds, -1) < 0
        or coalesce(p_token_digest, '') = ''
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'purpose', 'reason',
            'recovery or magiclink, a digest, an expiry of 1 s or more and an interval'));
    end if;
    if (p_code_challenge is null) <> (p_code_challenge_method is null)
        or p_code_challenge !~ '^[A-Za-z0-9._~-]{43,128}$'
        or p_code_challenge_method not in ('s256', 'plain')
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'code_challenge', 'reason',
            '43 to 128 URL characters, with its method s256 or plain'));
    end if;
    v_user := app._email_user(v_email);
    if v_user is null and p_purpose = 'magiclink' and not coalesce(p_create_user, false) then
        return '{"status": "signups_disabled"}';
    end if;

    v_digest := app._email_digest(v_email);
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('email:' || v_digest, 0));
    select s.sent_at into v_sent from app.email_sends as s where s.email_digest = v_digest;
    v_next := v_sent + pg_catalog.make_interval(secs => p_interval_seconds);
    if v_next > now() then
        return pg_catalog.jsonb_build_object(
            'status', 'rate_limited',
            'retry_after', greatest(1, ceil(extract(epoch from v_next - now())))::integer);
    end if;
    insert into app.email_sends (email_digest, sent_at) values (v_digest, now())
    on conflict (email_digest) do update set sent_at = excluded.sent_at;
    delete from app.email_sends as s
    where s.email_digest in (
        select x.email_digest from app.email_sends as x
        where x.sent_at < now() - interval '1 day'
        limit 100
        for update skip locked
    );
    delete from app.email_tokens as t
    where t.id in (
        select x.id from app.email_tokens as x
        where x.expires_at <= now()
        limit 100
        for update skip locked
    );
    if v_user is null and p_purpose = 'recovery' then
        return '{"status": "no_user"}';
    end if;

    insert into app.email_tokens (
        email, purpose, token_digest, creates_user, user_metadata, code_challenge,
        code_challenge_method, expires_at
    )
    values (
        v_email, p_purpose, p_token_digest, v_user is null, v_metadata, p_code_challenge,
        p_code_challenge_method, now() + pg_catalog.make_interval(secs => p_expiry_seconds)
    )
    on conflict (email) do update
    set purpose = excluded.purpose,
        token_digest = excluded.token_digest,
        creates_user = excluded.creates_user,
        user_metadata = excluded.user_metadata,
        code_challenge = excluded.code_challenge,
        code_challenge_method = excluded.code_challenge_method,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at;
    return pg_catalog.jsonb_build_object('status', 'ok', 'new_user', v_user is null);
end
$$;

-- server.cancel_email_token(email, token_digest): undo server.issue_email_token after the mail
-- could not be sent: the token goes, and the address may be sent another at once.
-- Who: the API node. Changes: app.email_tokens, app.email_sends. Raises: nothing.
create or replace function server.cancel_email_token(p_email text, p_token_digest text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_email text := pg_catalog.lower(pg_catalog.btrim(p_email));
begin
    delete from app.email_tokens as t
    where t.email = v_email and t.token_digest = p_token_digest;
    delete from app.email_sends as s where s.email_digest = app._email_digest(v_email);
end
$$;

-- server.verify_email_token(token_digest, auth_code_digest, redirect_to): use up the one-time
-- token with this digest (GoTrue's /verify): it is deleted whatever follows, so it never works
-- twice. A token that is unknown, used, replaced or expired is {status: otp_expired}, as is one
-- whose user was deleted since. Otherwise {status: ok, user_id, purpose[, pkce: true]}: the address's
-- user, created now (with the token's user_metadata, no password, their email confirmed by this
-- very proof) when the token was a sign-in's with create_user and the address still names
-- nobody. With `pkce` (the token kept a PKCE challenge and the node gave `auth_code_digest`: a
-- mail's link) the proof becomes a PKCE flow of provider 'email' whose auth code is
-- `auth_code_digest`'s, for grant_type=pkce (server.redeem_oidc_code, GoTrue's flow_state);
-- else the node opens the session in the same transaction (server.start_session).
-- Who: the API node. Changes: app.email_tokens, auth.users (a new user), app.oidc_flows.
-- Raises: those of app._create_user (user_exists when a sign-up took the address meanwhile).
create or replace function server.verify_email_token(
    p_token_digest text, p_auth_code_digest text, p_redirect_to text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_token app.email_tokens;
    v_user uuid;
begin
    delete from app.email_tokens as t where t.token_digest = p_token_digest
    returning * into v_token;
    if not found or v_token.expires_at <= now() then
        return '{"status": "otp_expired"}';
    end if;
    v_user := app._email_user(v_token.email);
    if v_user is null and v_token.creates_user then
        v_user := app._create_user(v_token.email, null, null, '{}', v_token.user_metadata);
    end if;
    if v_user is null then
        return '{"status": "otp_expired"}';
    end if;
    if v_token.code_challenge is null or p_auth_code_digest is null then
        return pg_catalog.jsonb_build_object(
            'status', 'ok', 'user_id', v_user, 'purpose', v_token.purpose);
    end if;
    insert into app.oidc_flows (
        provider, redirect_to, code_challenge, code_challenge_method, state_used_at,
        auth_code_digest, user_id, authenticated_at
    )
    values (
        'email', pg_catalog.left(coalesce(p_redirect_to, ''), 2048), v_token.code_challenge,
        v_token.code_challenge_method, now(), p_auth_code_digest, v_user, now()
    );
    return pg_catalog.jsonb_build_object(
        'status', 'ok', 'user_id', v_user, 'purpose', v_token.purpose, 'pkce', true);
end
$$;

-- ==== rpc/10_wallet.sql
reset all;

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

-- ==== rpc/11_withdrawals.sql
reset all;

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

-- ==== rpc/15_limits.sql
reset all;

-- Responsible play (BetService, section 3.2): a user's self-exclusion, daily stake limit and daily
-- deposit limit; the checks place_wager and deposit run; the views that show them.
--
-- Rules (docs/responsible-play.md):
-- - "daily" is a rolling 24 hours ending now: the stakes of the caller's wagers placed in it
--   (accepted and pending; not those an admin rejected) and of their house games' bets, and the
--   caller's deposits in it;
-- - tightening (a lower limit, a limit where there was none, a later exclusion end) applies at
--   once; loosening (a higher limit, removing one) is kept pending and applies after
--   app.config.play_limit_cooling_off (24 hours); a new request replaces a pending one and, unless
--   it asks for the same value, restarts the clock;
-- - a self-exclusion runs to its end: it can be extended, never shortened or lifted;
-- - only the user changes their limits; admins read them (for support) and change none.
-- The checks run under the user's wallet lock, so concurrent calls cannot both slip under a limit.

-- The limits in force now for every user with a row: a pending change whose time has come is
-- folded in (the table keeps it pending until the next change; nothing needs to run at its
-- time), and the stakes and deposits of the last 24 hours. Read by the public views (as the
-- caller, so RLS applies) and by the checks below.
drop view if exists public.my_play_limits;
drop view if exists public.play_limits;
drop view if exists public.play_limit_changes;
drop view if exists app.play_limits_in_force;
create view app.play_limits_in_force with (security_invoker = true) as
select
    l.user_id,
    l.self_excluded_until,
    coalesce(l.self_excluded_until > now(), false) as self_excluded,
    case
        when l.pending_daily_stake_limit_at <= now() then l.pending_daily_stake_limit
        else l.daily_stake_limit
    end as daily_stake_limit,
    case
        when l.pending_daily_stake_limit_at > now() then l.pending_daily_stake_limit
    end as pending_daily_stake_limit,
    case
        when l.pending_daily_stake_limit_at > now() then l.pending_daily_stake_limit_at
    end as pending_daily_stake_limit_at,
    case
        when l.pending_daily_deposit_limit_at <= now() then l.pending_daily_deposit_limit
        else l.daily_deposit_limit
    end as daily_deposit_limit,
    case
        when l.pending_daily_deposit_limit_at > now() then l.pending_daily_deposit_limit
    end as pending_daily_deposit_limit,
    case
        when l.pending_daily_deposit_limit_at > now() then l.pending_daily_deposit_limit_at
    end as pending_daily_deposit_limit_at,
    now() - interval '24 hours' as window_started_at,
    (
        select coalesce(sum(w.stake), 0)::bigint
        from app.wagers as w
        where
            w.user_id = l.user_id
            and w.approval <> 'rejected'
            and w.created_at > now() - interval '24 hours'
    ) + (
        -- house games' bets (rpc/80_house_games.sql) count with wagers
        select coalesce(sum(b.stake), 0)::bigint
        from app.house_bets as b
        where
            b.user_id = l.user_id
            and b.created_at > now() - interval '24 hours'
    ) as stake_used,
    (
        select coalesce(sum(e.amount), 0)::bigint
        from app.ledger_entries as e
        where
            e.user_id = l.user_id
            and e.kind = 'deposit'
            and e.created_at > now() - interval '24 hours'
    ) as deposit_used,
    l.updated_at
from app.play_limits as l;

-- _play_limits_json: one user's limits in force, as the set_* functions return them.
create or replace function app._play_limits_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(f) from app.play_limits_in_force as f where f.user_id = p_user
$$;

-- _require_not_excluded: refuse a user who excluded themselves until a time still to come.
-- Raises: self_excluded.
create or replace function app._require_not_excluded(p_user uuid)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_until timestamptz;
begin
    select l.self_excluded_until into v_until
    from app.play_limits as l
    where l.user_id = p_user and l.self_excluded_until > now();
    if v_until is not null then
        perform app._fail('self_excluded', pg_catalog.jsonb_build_object('until', v_until));
    end if;
end
$$;

-- _require_within_stake_limit: refuse a stake that would take the user's stakes of the last 24
-- hours (pending wagers included) above their daily stake limit; exactly at the limit is allowed.
-- The caller holds the user's wallet lock (a house game's play; a placement sums under it too and
-- refuses by app._funds_refusal, the same rule), which makes the sum and the wager that follows
-- one step for every placement of this user.
-- Raises: daily_stake_limit_reached.
create or replace function app._require_within_stake_limit(p_user uuid, p_stake bigint)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_limit bigint;
    v_used bigint;
begin
    select f.daily_stake_limit, f.stake_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = p_user;
    if v_limit is not null and v_used + p_stake > v_limit then
        perform app._fail('daily_stake_limit_reached', pg_catalog.jsonb_build_object(
            'limit', v_limit, 'used', v_used, 'stake', p_stake));
    end if;
end
$$;

-- _require_deposit_allowed: refuse a deposit by a self-excluded user, or one that would take the
-- user's deposits of the last 24 hours above their daily deposit limit (exactly at it is allowed).
-- The caller holds the user's wallet lock (app._wallet_transfer).
-- Raises: self_excluded, daily_deposit_limit_reached.
create or replace function app._require_deposit_allowed(p_user uuid, p_amount bigint)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_limit bigint;
    v_used bigint;
begin
    perform app._require_not_excluded(p_user);
    select f.daily_deposit_limit, f.deposit_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = p_user;
    if v_limit is not null and v_used + p_amount > v_limit then
        perform app._fail('daily_deposit_limit_reached', pg_catalog.jsonb_build_object(
            'limit', v_limit, 'used', v_used, 'amount', p_amount));
    end if;
end
$$;

-- _lock_play_limits: the caller's limits row, created empty on first use, locked for update.
-- Returns the user id. Raises: not_authenticated, unknown_user.
create or replace function app._lock_play_limits()
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
begin
    if not exists (
        select 1 from auth.users as u where u.id = v_user and u.deleted_at is null
    ) then
        perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', v_user));
    end if;
    insert into app.play_limits (user_id) values (v_user)
    on conflict (user_id) do nothing;
    perform 1 from app.play_limits as l where l.user_id = v_user for update;
    return v_user;
end
$$;

-- _log_play_limit_change: one row of the user's history of limit requests.
create or replace function app._log_play_limit_change(
    p_user uuid,
    p_setting text,
    p_previous jsonb,
    p_requested jsonb,
    p_effect text,
    p_applies_at timestamptz
)
returns void
language sql
set search_path = ''
as $$
    insert into app.play_limit_changes (
        user_id, actor, setting, previous_value, requested_value, effect, applies_at
    )
    values (
        p_user, auth.uid(), p_setting, coalesce(p_previous, 'null'), coalesce(p_requested, 'null'),
        p_effect, p_applies_at
    )
$$;

-- _set_daily_limit: set the caller's daily stake or deposit limit (`p_setting` names which) to
-- `p_amount` minor units, null for none. Tighter or equal: in force at once, and any pending
-- loosening is dropped. Looser: pending until now + the cooling-off (the same pending value asked
-- again keeps its time). Logs the request. Returns the limits in force with effect and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function app._set_daily_limit(p_setting text, p_amount bigint)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid;
    v_now app.play_limits_in_force;
    v_current bigint;
    v_pending bigint;
    v_pending_at timestamptz;
    v_cooling_off interval;
    v_effect text;
    v_applies_at timestamptz := now();
begin
    if p_amount < 0 then
        perform app._fail('invalid_amount', pg_catalog.jsonb_build_object('amount', p_amount));
    end if;
    v_user := app._lock_play_limits();
    select * into v_now from app.play_limits_in_force as f where f.user_id = v_user;
    if p_setting = 'daily_stake_limit' then
        v_current := v_now.daily_stake_limit;
        v_pending := v_now.pending_daily_stake_limit;
        v_pending_at := v_now.pending_daily_stake_limit_at;
    else
        v_current := v_now.daily_deposit_limit;
        v_pending := v_now.pending_daily_deposit_limit;
        v_pending_at := v_now.pending_daily_deposit_limit_at;
    end if;
    select c.play_limit_cooling_off into v_cooling_off from app.config as c;

    if v_current is not null and (p_amount is null or p_amount > v_current)
        and v_cooling_off > interval '0' then
        -- loosening: wait for the cooling-off
        if v_pending_at is not null and v_pending is not distinct from p_amount then
            v_effect := 'unchanged';
            v_applies_at := v_pending_at;
        else
            v_effect := 'pending';
            v_applies_at := now() + v_cooling_off;
            v_pending := p_amount;
            v_pending_at := v_applies_at;
        end if;
    else
        -- tightening, or no change: at once, and nothing stays pending
        v_effect := case
            when p_amount is not distinct from v_current and v_pending_at is null then 'unchanged'
            else 'immediate'
        end;
        v_current := p_amount;
        v_pending := null;
        v_pending_at := null;
    end if;

    update app.play_limits as l
    set
        daily_stake_limit = case when p_setting = 'daily_stake_limit'
            then v_current else l.daily_stake_limit end,
        pending_daily_stake_limit = case when p_setting = 'daily_stake_limit'
            then v_pending else l.pending_daily_stake_limit end,
        pending_daily_stake_limit_at = case when p_setting = 'daily_stake_limit'
            then v_pending_at else l.pending_daily_stake_limit_at end,
        daily_deposit_limit = case when p_setting = 'daily_deposit_limit'
            then v_current else l.daily_deposit_limit end,
        pending_daily_deposit_limit = case when p_setting = 'daily_deposit_limit'
            then v_pending else l.pending_daily_deposit_limit end,
        pending_daily_deposit_limit_at = case when p_setting = 'daily_deposit_limit'
            then v_pending_at else l.pending_daily_deposit_limit_at end,
        updated_at = now()
    where l.user_id = v_user;

    perform app._log_play_limit_change(v_user, p_setting,
        to_jsonb(case when p_setting = 'daily_stake_limit'
            then v_now.daily_stake_limit else v_now.daily_deposit_limit end),
        to_jsonb(p_amount), v_effect, v_applies_at);
    return app._play_limits_json(v_user) || pg_catalog.jsonb_build_object(
        'setting', p_setting, 'requested', p_amount, 'effect', v_effect, 'applies_at', v_applies_at);
end
$$;

-- set_daily_stake_limit(amount): the most the caller may stake in any 24 hours, in minor units
-- (0 allows no wager at all; null removes the limit). A lower limit, or one where there was none,
-- applies at once; a higher one, or removing it, applies after the cooling-off (24 hours).
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force (as my_play_limits shows them) with setting, requested, effect
-- ('immediate', 'pending' or 'unchanged') and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function public.set_daily_stake_limit(amount bigint)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._set_daily_limit('daily_stake_limit', set_daily_stake_limit.amount)
$$;
grant execute on function public.set_daily_stake_limit(bigint) to authenticated;

-- set_daily_deposit_limit(amount): the most the caller may deposit in any 24 hours, in minor
-- units (null removes the limit). Tightening at once, loosening after the cooling-off, as
-- set_daily_stake_limit.
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force with setting, requested, effect and applies_at.
-- Raises: not_authenticated, unknown_user, invalid_amount.
create or replace function public.set_daily_deposit_limit(amount bigint)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._set_daily_limit('daily_deposit_limit', set_daily_deposit_limit.amount)
$$;
grant execute on function public.set_daily_deposit_limit(bigint) to authenticated;

-- set_self_exclusion(until): exclude the caller from wagering and depositing until `until`
-- ('infinity' for good). In force at once. It can be extended (a later `until`) but never
-- shortened or lifted before it ends; once it has ended a new one may start. Withdrawals stay open.
-- Callers: authenticated (for themselves only). Changes: the caller's app.play_limits row, one
-- app.play_limit_changes row.
-- Returns the limits in force with setting, requested, effect ('immediate' or 'unchanged') and
-- applies_at.
-- Raises: not_authenticated, unknown_user, invalid_argument (until missing or not in the
-- future), self_exclusion_locked (an earlier end than the current exclusion's).
create or replace function public.set_self_exclusion(until timestamptz)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid;
    v_current timestamptz;
    v_effect text;
begin
    if set_self_exclusion.until is null or set_self_exclusion.until <= now() then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'until', 'reason', 'must be a time in the future',
            'until', set_self_exclusion.until));
    end if;
    v_user := app._lock_play_limits();
    select l.self_excluded_until into v_current
    from app.play_limits as l
    where l.user_id = v_user and l.self_excluded_until > now();
    if set_self_exclusion.until < v_current then
        perform app._fail('self_exclusion_locked', pg_catalog.jsonb_build_object(
            'until', v_current, 'requested', set_self_exclusion.until));
    end if;
    v_effect := case when set_self_exclusion.until = v_current then 'unchanged' else 'immediate' end;

    update app.play_limits as l
    set self_excluded_until = set_self_exclusion.until, updated_at = now()
    where l.user_id = v_user;
    perform app._log_play_limit_change(v_user, 'self_excluded_until', to_jsonb(v_current),
        to_jsonb(set_self_exclusion.until), v_effect, now());
    return app._play_limits_json(v_user) || pg_catalog.jsonb_build_object(
        'setting', 'self_excluded_until', 'requested', set_self_exclusion.until,
        'effect', v_effect, 'applies_at', now());
end
$$;
grant execute on function public.set_self_exclusion(timestamptz) to authenticated;

-- The read side. play_limits: a bettor sees their own row, an admin every row (RLS on
-- app.play_limits); my_play_limits: the caller's own. A user who never set a limit has no row.
-- pending_*_at is the moment a pending loosening applies (null when none is pending); a pending
-- value of null with a time means the limit goes away then.
create view public.play_limits with (security_invoker = true) as
select
    f.user_id,
    f.self_excluded,
    f.self_excluded_until,
    f.daily_stake_limit,
    f.pending_daily_stake_limit,
    f.pending_daily_stake_limit_at,
    f.daily_deposit_limit,
    f.pending_daily_deposit_limit,
    f.pending_daily_deposit_limit_at,
    f.window_started_at,
    f.stake_used,
    f.deposit_used,
    f.updated_at
from app.play_limits_in_force as f;

create view public.my_play_limits with (security_invoker = true) as
select p.*
from public.play_limits as p
where p.user_id = (select auth.uid());

-- Every request to change a limit: a bettor sees their own, an admin every one.
create view public.play_limit_changes with (security_invoker = true) as
select
    c.id,
    c.user_id,
    c.actor,
    c.setting,
    c.previous_value,
    c.requested_value,
    c.effect,
    c.applies_at,
    c.created_at
from app.play_limit_changes as c;

grant select on public.play_limits, public.my_play_limits, public.play_limit_changes
to authenticated, service_role;

-- ==== rpc/20_markets.sql
reset all;

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

-- ==== rpc/30_wagers.sql
reset all;

-- Wagers: quoting, placing, and the approval of held wagers.

-- _quote: what a stake of `p_stake` on outcome `p_outcome_id` would get now (_quote_at, from the
-- outcome's row), for preview_wager. A placement calls _quote_at on the outcome it read under the
-- market's lock: one computation, so a preview and a placement can never disagree.
-- Raises: invalid_amount, outcome_not_found.
create or replace function app._quote(p_market app.markets, p_outcome_id bigint, p_stake bigint)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_refusal jsonb := app._stake_refusal(p_stake);
    v_outcome app.outcomes;
begin
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
    select * into v_outcome
    from app.outcomes as o
    where o.id = p_outcome_id and o.market_id = p_market.id;
    if not found then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id));
    end if;
    return app._quote_at(
        p_market, v_outcome.id, v_outcome.position, v_outcome.pool, v_outcome.liability, p_stake);
end
$$;

-- _stake_refusal: the refusal of a stake no wager may have (missing, zero or negative, or above
-- 10^15), or null for a stake that may be quoted.
create or replace function app._stake_refusal(p_stake bigint)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
    if p_stake is null or p_stake <= 0 then
        return app._refusal('invalid_amount', pg_catalog.jsonb_build_object('stake', p_stake));
    end if;
    if p_stake > 1e15 then
        -- 10 trillion units: far beyond any wallet, and it keeps every pool sum within bigint
        return app._refusal('invalid_amount', pg_catalog.jsonb_build_object(
            'stake', p_stake, 'maximum', 1e15, 'reason', 'too large'));
    end if;
    return null;
end
$$;

-- _quote_at: the quote of a stake of `p_stake` (a valid one: _stake_refusal) on an outcome in the
-- state given: the market's row (its total pool and version as they stand) and the outcome's id,
-- position, pool and liability. Odds, caps and shares come from the functions the views use
-- (rpc/02_odds.sql). Keys:
--   baseline_odds   the outcome's odds before the stake
--   effective_odds  the odds the stake gets: fixed odds lock the baseline; parimutuel includes the
--                   stake itself in the pools
--   odds_after      the outcome's odds once the stake is in (what the next bettor sees)
--   price_impact_pp how far the stake moves the outcome's share of the pool, in points
--   estimated_payout floor(stake * effective_odds); certain for fixed odds
--   max_payout      the most the wager can pay: the locked payout (fixed odds), or the market's
--                   per-wager ceiling (parimutuel, where later wagers still move the payout;
--                   placement checks the ceiling against the estimate)
--   cap             the largest stake allowed now (fixed odds; null for parimutuel)
--   takeout         the part of the stake the rake takes (parimutuel; 0 for fixed odds)
-- Raises: nothing.
create or replace function app._quote_at(
    p_market app.markets,
    p_outcome_id bigint,
    p_position integer,
    p_pool bigint,
    p_liability bigint,
    p_stake bigint
)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
    v_odds numeric := app._odds(p_market.kind, p_pool, p_market.total_pool, p_market.outcome_count,
        p_market.virtual_stake, p_market.commission_bps, p_market.rake_bps);
    v_share numeric := app._share(p_pool, p_market.total_pool);
    v_share_after numeric := app._share(p_pool + p_stake, p_market.total_pool + p_stake);
    v_effective numeric;
    v_odds_after numeric;
    v_payout numeric;
begin
    if p_market.kind = 'fixed_odds' then
        v_effective := v_odds;
        v_odds_after := app._fixed_odds(p_pool + p_stake, p_market.total_pool + p_stake,
            p_market.outcome_count, p_market.virtual_stake, p_market.commission_bps);
    else
        v_effective := app._pari_odds(p_pool + p_stake, p_market.total_pool + p_stake,
            p_market.rake_bps);
        v_odds_after := v_effective;
    end if;
    v_payout := floor(p_stake * v_effective);

    return pg_catalog.jsonb_build_object(
        'market_id', p_market.id,
        'outcome_id', p_outcome_id,
        'position', p_position,
        'kind', p_market.kind,
        'stake', p_stake,
        'baseline_odds', v_odds,
        'effective_odds', v_effective,
        'odds_after', v_odds_after,
        'share_before', v_share,
        'share_after', v_share_after,
        'price_impact_pp', round((v_share_after - v_share) * 100, 4),
        'implied_probability', round(1 / v_effective, 6),
        'estimated_payout', v_payout,
        'max_payout', case when p_market.kind = 'fixed_odds' then v_payout else p_market.max_payout end,
        'payout_ceiling', p_market.max_payout,
        'cap', app._cap(p_market.kind, p_market.total_pool, p_market.margin, p_liability, v_odds,
            p_market.min_cap),
        'takeout', case when p_market.kind = 'parimutuel'
            then floor(p_stake::numeric * p_market.rake_bps / 10000) else 0 end,
        'market_version', p_market.version
    );
end
$$;

-- _require_open: refuse a wager or a quote unless the market is open and before its closes_at.
-- Raises: market_not_open.
create or replace function app._require_open(p_market app.markets)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_refusal jsonb := app._open_refusal(p_market);
begin
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
end
$$;

-- _open_refusal: market_not_open's refusal unless the market takes wagers now
-- (app._accepting_wagers: open, and before its closes_at); null when it does.
create or replace function app._open_refusal(p_market app.markets)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
    if not app._accepting_wagers(p_market.status, p_market.closes_at) then
        return app._refusal('market_not_open', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'status', p_market.status, 'closes_at', p_market.closes_at));
    end if;
    return null;
end
$$;

-- _visible_market: a market the caller may see (drafts only for admins), not locked.
-- Raises: market_not_found.
create or replace function app._visible_market(p_market_id bigint)
returns app.markets
language plpgsql stable
set search_path = ''
as $$
declare
    v_market app.markets;
begin
    select * into v_market from app.markets as m where m.id = p_market_id;
    if not found or (v_market.status = 'draft' and not app._is_admin()) then
        perform app._fail('market_not_found', pg_catalog.jsonb_build_object('market_id', p_market_id));
    end if;
    return v_market;
end
$$;

-- preview_wager(market_id, outcome_id, stake): the quote a stake would get now (see _quote),
-- plus the caller's balance when signed in. Records a signed-in caller's quote in the telemetry.
-- Callers: anyone (anon included). Changes: one quote_telemetry row (signed-in callers).
-- Raises: market_not_found, market_not_open, outcome_not_found, invalid_amount, unknown_user (a
-- signed-in caller whose user does not exist or was deleted).
create or replace function public.preview_wager(market_id bigint, outcome_id bigint, stake bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(preview_wager.market_id);
    v_quote jsonb;
    v_user uuid := auth.uid();
begin
    perform app._require_open(v_market);
    v_quote := app._quote(v_market, preview_wager.outcome_id, preview_wager.stake);

    -- signed-in callers only: an anonymous caller could otherwise grow the table without end
    if v_user is not null then
        insert into app.quote_telemetry (
            market_id, outcome_id, user_id, stake, baseline_odds, effective_odds,
            price_impact_pp, share_after
        )
        values (
            v_market.id, preview_wager.outcome_id, v_user, preview_wager.stake,
            (v_quote ->> 'baseline_odds')::numeric, (v_quote ->> 'effective_odds')::numeric,
            (v_quote ->> 'price_impact_pp')::numeric, (v_quote ->> 'share_after')::numeric
        );
    end if;

    return v_quote || pg_catalog.jsonb_build_object('balance', (
        select a.balance from app.accounts as a where a.user_id = v_user
    ));
end
$$;
grant execute on function public.preview_wager(bigint, bigint, bigint)
to anon, authenticated, service_role;

-- _wager_row: a wager as JSON, for answers, messages and the audit log.
create or replace function app._wager_row(p_wager_id bigint)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(w) || pg_catalog.jsonb_build_object('position', o.position)
    from app.wagers as w
    inner join app.outcomes as o on w.outcome_id = o.id
    where w.id = p_wager_id
$$;

-- _accept_into_pool: a wager of `p_stake` on `p_outcome_id` joins the pool (and, for fixed odds,
-- its promised payout `p_payout` joins the outcome's liability); the market's version moves and
-- everyone is told. Returns the `odds` message it sent; its version is the wager's
-- accepted_version.
drop function if exists app._accept_into_pool(app.wagers);
create or replace function app._accept_into_pool(
    p_market_id bigint,
    p_outcome_id bigint,
    p_stake bigint,
    p_payout bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_message jsonb;
begin
    update app.outcomes as o
    set pool = o.pool + p_stake,
        liability = o.liability + coalesce(p_payout, 0),
        wager_count = o.wager_count + 1
    where o.id = p_outcome_id;
    update app.markets as m
    set total_pool = m.total_pool + p_stake, version = m.version + 1
    where m.id = p_market_id;
    v_message := pg_catalog.jsonb_build_object('type', 'odds') || app._market_message(p_market_id);
    perform app._notify('wagerbase_market', v_message);
    return v_message;
end
$$;

-- _quote_refusal: the refusal of a wager of `p_stake` on outcome `p_outcome_id` of `p_market` at
-- the quote it would get (app._quote_at), in the order placement checks them: odds_changed (the
-- quote's odds more than `p_tolerance` from `p_expected_odds`, when given), stake_above_cap
-- (fixed odds), payout_above_maximum (the market's per-wager ceiling); null when none applies.
-- Callers: public.place_wager, app._place_wagers. Changes: nothing. Raises: nothing.
create or replace function app._quote_refusal(
    p_market app.markets,
    p_outcome_id bigint,
    p_stake bigint,
    p_expected_odds numeric,
    p_tolerance numeric,
    p_quote jsonb
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    v_odds numeric := (p_quote ->> 'effective_odds')::numeric;
    v_payout numeric := (p_quote ->> 'estimated_payout')::numeric;
begin
    if p_expected_odds is not null and abs(p_expected_odds - v_odds) > p_tolerance then
        return app._refusal('odds_changed', p_quote || pg_catalog.jsonb_build_object(
            'expected_odds', p_expected_odds, 'current_odds', v_odds, 'tolerance', p_tolerance));
    end if;
    if p_market.kind = 'fixed_odds' and p_stake > (p_quote ->> 'cap')::bigint then
        return app._refusal('stake_above_cap', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id,
            'stake', p_stake, 'cap', (p_quote -> 'cap'), 'odds', v_odds));
    end if;
    if v_payout > p_market.max_payout then
        return app._refusal('payout_above_maximum', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'stake', p_stake,
            'payout', v_payout, 'max_payout', p_market.max_payout));
    end if;
    return null;
end
$$;

-- _funds_refusal: the refusal of a stake of `p_stake` by a user whose wallet holds `p_balance`,
-- who has a limits row (`p_limited`) with a daily stake limit `p_limit` of which `p_used` is
-- used (app.play_limits_in_force): daily_stake_limit_reached, then insufficient_funds; null when
-- neither applies (app._require_within_stake_limit's rule, exactly at the limit allowed).
-- Callers: public.place_wager, app._place_wagers. Changes: nothing. Raises: nothing.
create or replace function app._funds_refusal(
    p_limited boolean, p_limit bigint, p_used bigint, p_balance bigint, p_stake bigint
)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
begin
    if p_limited and p_limit is not null and p_used + p_stake > p_limit then
        return app._refusal('daily_stake_limit_reached', pg_catalog.jsonb_build_object(
            'limit', p_limit, 'used', p_used, 'stake', p_stake));
    end if;
    if p_balance < p_stake then
        return app._refusal('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', p_balance, 'stake', p_stake));
    end if;
    return null;
end
$$;

-- place_wager(market_id, outcome_id, stake, expected_odds, idempotency_key): stake on an outcome.
-- expected_odds: the odds the user was shown; when the live odds differ by more than the
-- tolerance (0.01) the wager is refused with the current quote. Fixed odds compare the locked
-- odds; parimutuel the effective odds. Without it, the wager takes the live odds, which it returns.
-- Fixed odds lock the odds and the payout; the stake must be within the outcome's cap; the payout
-- within the market's ceiling. A market that requires approval holds the stake in escrow with
-- the wager pending, out of the public pool, until an admin approves or rejects it.
-- A wager alone is decided here, statement by statement on the rows; a batch of wagers on one
-- market (server.place_wagers, which the API uses for a hot market) by app._place_wagers
-- (rpc/31_placement.sql), in memory and written set-based, with the same rules in the same order
-- (the refusals of app._open_refusal, app._stake_refusal, app._quote_refusal, app._funds_refusal)
-- and the same answers: tests/db/test_batched_placement.py replays sequences with every refusal
-- both ways and compares every answer and the books. A change to a rule changes both.
-- Three statements (docs/performance.md, "A leaner placement, second round"): the market locked
-- and read with the caller's limits, wallet, the market's escrow and the odds tolerance; the
-- outcomes read and the wallet and the escrow locked; then, the checks made in memory, everything
-- written in one statement: pools, market, wager, its stake posted as app._post_transaction posts
-- two accounts, its messages and its idempotency key's answer.
-- Callers: authenticated. Changes: the wager, a 'stake' ledger transaction (wallet -> escrow), the
-- pools; notifies odds (if accepted), wager_placed, balance, and admins of a pending wager.
-- Returns the wager with the quote it got, the new balance and the market's numbers.
-- Responsible play (rpc/15_limits.sql): refused during a self-exclusion and above the daily
-- stake limit (pending wagers count).
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- market_not_found, market_not_open, outcome_not_found, invalid_amount, odds_changed,
-- stake_above_cap, payout_above_maximum, insufficient_funds, self_excluded,
-- daily_stake_limit_reached.
create or replace function public.place_wager(
    market_id bigint,
    outcome_id bigint,
    stake bigint,
    expected_odds numeric default null,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
    v_user uuid := auth.uid();
    v_replay jsonb;
    v_locked record;
    v_limits app.play_limits;
    v_market app.markets;
    v_wallet bigint;
    v_escrow bigint;
    v_tolerance numeric;
    -- the market's outcomes in position order, and the place of the wager's among them
    v_ids bigint[];
    v_positions integer[];
    v_pools bigint[];
    v_liabilities bigint[];
    v_counts integer[];
    o integer;
    -- the wallet's balance, as locked
    v_balance bigint;
    v_limit bigint;
    v_used bigint;
    v_refusal jsonb;
    v_quote jsonb;
    v_payout numeric;
    v_numbers jsonb;
    v_result jsonb;
begin
    if v_user is null then
        perform app._fail('not_authenticated');
    end if;
    if place_wager.idempotency_key is not null then
        v_replay := app._idempotency_begin(v_user, place_wager.idempotency_key, 'place_wager',
            pg_catalog.jsonb_build_object(
                'market_id', place_wager.market_id, 'outcome_id', place_wager.outcome_id,
                'stake', place_wager.stake, 'expected_odds', place_wager.expected_odds));
        if v_replay is not null then
            return v_replay;
        end if;
    end if;

    -- the market, locked and read in one statement with what does not change under its lock: the
    -- caller's limits row (responsible play, rpc/15_limits.sql), wallet, the escrow, the tolerance
    select m as market, l as limits, w.id as wallet, e.id as escrow, c.odds_tolerance
    into v_locked
    from app.markets as m
    cross join app.config as c
    left join app.play_limits as l on l.user_id = v_user
    left join app.accounts as w on w.user_id = v_user
    left join app.accounts as e on m.id = e.market_id
    where m.id = place_wager.market_id
    for no key update of m;
    if found then
        v_market := v_locked.market;
        v_limits := v_locked.limits;
        v_wallet := v_locked.wallet;
        v_escrow := v_locked.escrow;
        v_tolerance := v_locked.odds_tolerance;
    else
        select * into v_limits from app.play_limits as l where l.user_id = v_user;
    end if;
    -- a self-excluded user places nothing; a draft is none of a bettor's business
    if v_limits.self_excluded_until > now() then
        perform app._fail('self_excluded',
            pg_catalog.jsonb_build_object('until', v_limits.self_excluded_until));
    end if;
    if v_market.id is null or (v_market.status = 'draft' and not app._is_admin()) then
        perform app._fail('market_not_found',
            pg_catalog.jsonb_build_object('market_id', place_wager.market_id));
    end if;
    -- after the market lock (global order: market, then accounts): a first wallet's grant would
    -- otherwise hold the grants account while waiting for a busy market, stalling every sign-up
    if v_wallet is null then
        v_wallet := app._ensure_wallet(v_user);
    end if;

    -- the outcomes as the market's lock keeps them (a statement after the lock, so that it sees
    -- the placements it waited for), and the wallet and the escrow locked in id order, the
    -- wallet's balance read under that lock
    select q.ids, q.positions, q.pools, q.liabilities, q.counts, k.balance
    into v_ids, v_positions, v_pools, v_liabilities, v_counts, v_balance
    from (
        select max(a.balance) filter (where a.id = v_wallet) as balance
        from (
            select a.id, a.balance from app.accounts as a
            where a.id in (v_wallet, v_escrow) order by a.id for update
        ) as a
    ) as k
    cross join (
        select
            array_agg(t.id order by t.position) as ids,
            array_agg(t.position::integer order by t.position) as positions,
            array_agg(t.pool order by t.position) as pools,
            array_agg(t.liability order by t.position) as liabilities,
            array_agg(t.wager_count order by t.position) as counts
        from app.outcomes as t
        where t.market_id = v_market.id
    ) as q;

    v_refusal := coalesce(app._open_refusal(v_market), app._stake_refusal(place_wager.stake));
    if v_refusal is null then
        o := array_position(v_ids, place_wager.outcome_id);
        if o is null then
            v_refusal := app._refusal('outcome_not_found', pg_catalog.jsonb_build_object(
                'market_id', v_market.id, 'outcome_id', place_wager.outcome_id));
        end if;
    end if;
    if v_refusal is null then
        v_quote := app._quote_at(
            v_market, v_ids[o], v_positions[o], v_pools[o], v_liabilities[o], place_wager.stake);
        v_refusal := app._quote_refusal(v_market, place_wager.outcome_id, place_wager.stake,
            place_wager.expected_odds, v_tolerance, v_quote);
    end if;
    if v_refusal is null then
        -- the daily stake limit, summed under the wallet lock so that this user's concurrent
        -- placements are counted one after another; only for a user with a limits row
        if v_limits.user_id is not null then
            select f.daily_stake_limit, f.stake_used into v_limit, v_used
            from app.play_limits_in_force as f
            where f.user_id = v_user;
        end if;
        v_refusal := app._funds_refusal(
            v_limits.user_id is not null, v_limit, v_used, v_balance, place_wager.stake);
    end if;
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;

    -- accepted: the market's numbers after it (app._market_message_at, as a batch tells them)
    v_payout := (v_quote ->> 'estimated_payout')::numeric;
    if not v_market.requires_approval then
        v_pools[o] := v_pools[o] + place_wager.stake;
        if v_market.kind = 'fixed_odds' then
            v_liabilities[o] := v_liabilities[o] + v_payout::bigint;
        end if;
        v_counts[o] := v_counts[o] + 1;
        v_market.total_pool := v_market.total_pool + place_wager.stake;
        v_market.version := v_market.version + 1;
    end if;
    v_numbers := app._market_message_at(
        v_market, v_ids, v_positions, v_pools, v_liabilities, v_counts);

    -- written in one statement: the pools and the market's version; the wager; its stake posted
    -- from the wallet to the escrow, as app._post_transaction posts two accounts (a
    -- 'stake' transaction, each balance and version moved by one, an entry each with the balance
    -- before and after; the accounts are locked above, in id order, and the ledger's trigger
    -- checks the entries balance); the messages in the order a reader is told them (odds,
    -- balance, wager_pending to admins when the wager waits for approval, wager_placed); the
    -- answer, kept for a replay of the idempotency key (app._idempotency_finish)
    with pooled as (
        update app.outcomes as t
        set pool = t.pool + place_wager.stake,
            liability = t.liability
                + case when v_market.kind = 'fixed_odds' then v_payout::bigint else 0 end,
            wager_count = t.wager_count + 1
        where t.id = place_wager.outcome_id and not v_market.requires_approval
    ),
    versioned as (
        update app.markets as m
        set total_pool = m.total_pool + place_wager.stake, version = m.version + 1
        where m.id = v_market.id and not v_market.requires_approval
        returning m.version
    ),
    placed as (
        insert into app.wagers (
            user_id, market_id, outcome_id, stake, odds, potential_payout, expected_odds,
            approval, accepted_version, idempotency_key
        )
        values (
            v_user, v_market.id, place_wager.outcome_id, place_wager.stake,
            (v_quote ->> 'effective_odds')::numeric,
            case when v_market.kind = 'fixed_odds' then v_payout::bigint end,
            place_wager.expected_odds,
            case when v_market.requires_approval then 'pending' else 'accepted' end,
            (select v.version from versioned as v),
            place_wager.idempotency_key
        )
        returning *
    ),
    posted as (
        insert into app.ledger_transactions (kind, market_id, wager_id, actor)
        select 'stake', v_market.id, p.id, v_user
        from placed as p
        returning id, wager_id
    ),
    moved as (
        update app.accounts as a
        set balance = a.balance + d.delta, version = a.version + 1
        from (
            values (v_wallet, -place_wager.stake), (v_escrow, place_wager.stake)
        ) as d (account_id, delta)
        where a.id = d.account_id
        returning a.id, a.user_id, a.balance, a.version, d.delta
    ),
    written as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, market_id,
            amount, balance_before, balance_after, account_version
        )
        select t.id, m.id, m.user_id, 'stake', v_market.id,
               m.delta, m.balance - m.delta, m.balance, m.version
        from moved as m
        cross join posted as t
        returning transaction_id, account_id, user_id, amount, balance_after, account_version
    ),
    shown as (
        -- the wager as app._wager_row shows it, from the row just written
        select
            p.id, p.approval,
            to_jsonb(p) || pg_catalog.jsonb_build_object('position', v_quote -> 'position') as row
        from placed as p
    ),
    told as (
        insert into app.events (channel, payload)
        select e.channel, e.payload
        from (
            select 1 as rank, 'wagerbase_market' as channel,
                   pg_catalog.jsonb_build_object('type', 'odds') || v_numbers as payload
            where not v_market.requires_approval
            union all
            select 2, 'wagerbase_user', pg_catalog.jsonb_build_object(
                'user_id', w.user_id, 'balance', w.balance_after,
                'version', w.account_version, 'delta', w.amount,
                'type', 'balance', 'reason', 'stake', 'transaction_id', w.transaction_id,
                'market_id', v_market.id, 'wager_id', t.wager_id)
            from written as w
            cross join posted as t
            where w.user_id is not null
            union all
            select 3, 'wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_pending') || s.row
            from shown as s
            where s.approval = 'pending'
            union all
            select 4, 'wagerbase_user', pg_catalog.jsonb_build_object('type', 'wager_placed') || s.row
            from shown as s
        ) as e
        order by e.rank
    ),
    answered as (
        select s.row || pg_catalog.jsonb_build_object(
            'wager_id', s.id,
            'quote', v_quote,
            'balance', m.balance,
            'balance_version', m.version,
            'market', v_numbers) as result
        from shown as s
        cross join moved as m
        where m.id = v_wallet
    ),
    kept as (
        update app.idempotency_keys as k
        set result = (select r.result from answered as r)
        where place_wager.idempotency_key is not null
            and k.user_id = v_user and k.key = place_wager.idempotency_key
    )
    select r.result into v_result from answered as r;
    return v_result || '{"replayed": false}';
end
$$;
grant execute on function public.place_wager(bigint, bigint, bigint, numeric, text) to authenticated;

-- Wagers waiting for approval, with who placed them and the price impact they would have if
-- accepted now. Read through admin_list_pending_wagers only.
create or replace view app.pending_wagers with (security_invoker = true) as
select
    w.id as wager_id,
    w.market_id,
    m.title as market_title,
    w.outcome_id,
    q.label as outcome_label,
    w.user_id,
    p.username,
    u.email,
    w.stake,
    w.odds,
    w.potential_payout,
    round((app._share(q.pool + w.stake, q.total_pool + w.stake) - q.share) * 100, 4)
        as price_impact_pp,
    w.created_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcome_quotes as q on w.outcome_id = q.outcome_id
left join app.profiles as p on w.user_id = p.user_id
left join auth.users as u on w.user_id = u.id
where w.approval = 'pending';

-- admin_list_pending_wagers(market_id): the pending wagers of one market, or of all when null,
-- oldest first.
-- Callers: admins. Changes: nothing.
-- Raises: not_admin.
create or replace function public.admin_list_pending_wagers(market_id bigint default null)
returns setof app.pending_wagers
language plpgsql stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
    perform app._require_admin();
    return query
    select *
    from app.pending_wagers as pw
    where admin_list_pending_wagers.market_id is null
        or pw.market_id = admin_list_pending_wagers.market_id
    order by pw.created_at, pw.wager_id;
end
$$;
grant execute on function public.admin_list_pending_wagers(bigint) to authenticated, service_role;

-- _lock_pending_wager: lock a pending wager's market, then the wager; return the wager.
-- Raises: wager_not_found, wager_not_pending.
create or replace function app._lock_pending_wager(p_wager_id bigint)
returns app.wagers
language plpgsql
set search_path = ''
as $$
declare
    v_wager app.wagers;
begin
    select * into v_wager from app.wagers as w where w.id = p_wager_id;
    if not found then
        perform app._fail('wager_not_found', pg_catalog.jsonb_build_object('wager_id', p_wager_id));
    end if;
    perform app._lock_market(v_wager.market_id);
    select * into v_wager from app.wagers as w where w.id = p_wager_id for update;
    if v_wager.approval <> 'pending' then
        perform app._fail('wager_not_pending', pg_catalog.jsonb_build_object(
            'wager_id', p_wager_id, 'approval', v_wager.approval,
            'settlement', v_wager.settlement));
    end if;
    return v_wager;
end
$$;

-- approve_wager(wager_id): accept a held wager into the pool at the odds it locked. The stake was
-- taken at placement, so no money moves. A fixed-odds wager must still fit its outcome's cap now.
-- Callers: admins. Changes: approval pending -> accepted, the pools; logs; notifies odds,
-- wager_approved to the bettor, wager_decided to admins.
-- Raises: not_admin, wager_not_found, wager_not_pending, stake_above_cap.
create or replace function public.approve_wager(wager_id bigint)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_wager app.wagers := app._lock_pending_wager(approve_wager.wager_id);
    v_market app.markets;
    v_cap bigint;
    v_message jsonb;
    v_after jsonb;
begin
    select * into v_market from app.markets as m where m.id = v_wager.market_id;
    if v_market.kind = 'fixed_odds' then
        -- the wager keeps the odds it locked, so it must fit the cap at those odds (the live cap
        -- assumes today's odds, and can let an older, better-paid wager past the margin)
        select app._fixed_cap(q.total_pool, v_market.margin, q.liability, v_wager.odds, v_market.min_cap)
        into v_cap
        from app.outcome_quotes as q
        where q.outcome_id = v_wager.outcome_id;
        if v_wager.stake > v_cap then
            perform app._fail('stake_above_cap', pg_catalog.jsonb_build_object(
                'wager_id', v_wager.id, 'stake', v_wager.stake, 'cap', v_cap));
        end if;
    end if;

    v_message := app._accept_into_pool(
        v_wager.market_id, v_wager.outcome_id, v_wager.stake, v_wager.potential_payout);
    update app.wagers as w
    set approval = 'accepted', decided_by = v_actor, decided_at = now(),
        accepted_version = (v_message ->> 'version')::bigint
    where w.id = v_wager.id;

    v_after := app._wager_row(v_wager.id);
    perform app._audit('approve_wager', v_wager.market_id, v_wager.id, null, to_jsonb(v_wager), v_after);
    perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object('type', 'wager_approved') || v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_decided') || v_after);
    return v_after;
end
$$;
grant execute on function public.approve_wager(bigint) to authenticated, service_role;

-- reject_wager(wager_id, reason): refuse a held wager and give its stake back.
-- Callers: admins. Changes: approval pending -> rejected, settlement -> void, a 'refund' ledger
-- transaction (escrow -> wallet); logs; notifies wager_rejected and balance to the bettor,
-- wager_decided to admins.
-- Raises: not_admin, wager_not_found, wager_not_pending.
create or replace function public.reject_wager(wager_id bigint, reason text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_wager app.wagers := app._lock_pending_wager(reject_wager.wager_id);
    v_reason text := coalesce(nullif(btrim(reject_wager.reason), ''), 'rejected');
    v_after jsonb;
begin
    perform app._refund_wagers(v_wager.market_id, 'refund', left(v_reason, 500), true, v_wager.id,
        'wager_rejected');
    v_after := app._wager_row(v_wager.id);
    perform app._audit('reject_wager', v_wager.market_id, v_wager.id, v_reason, to_jsonb(v_wager), v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'wager_decided') || v_after);
    return v_after;
end
$$;
grant execute on function public.reject_wager(bigint, text) to authenticated, service_role;

-- ==== rpc/31_placement.sql
reset all;

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

-- ==== rpc/40_settlement.sql
reset all;

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

-- ==== rpc/45_settlement_review.sql
reset all;

-- Settlement review (docs/settlement-review.md): preview a settlement; settle in two steps (one
-- admin proposes, another confirms through settle_market), gated by the trigger
-- settlements_review_gate (migration 0003). Locks: market, proposal, settle_market's accounts.

-- _settlement_outcome: the market's outcome `p_outcome_id`, checked as settle_market does.
-- Raises: outcome_not_found.
create or replace function app._settlement_outcome(p_market app.markets, p_outcome_id bigint)
returns app.outcomes
language plpgsql stable
set search_path = ''
as $$
declare
    v_outcome app.outcomes;
begin
    select * into v_outcome
    from app.outcomes as o
    where o.id = p_outcome_id and o.market_id = p_market.id;
    if not found then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id));
    end if;
    return v_outcome;
end
$$;

-- _settlement_preview: what settling `p_market` with `p_winner` would do now, computed as
-- settle_market does (same rows and formulas; rake and payouts are exact floors, by div).
-- `payout_per_unit`: net (parimutuel) or paid (fixed odds) per unit of winning stake, or null.
create or replace function app._settlement_preview(p_market app.markets, p_winner app.outcomes)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_total bigint;
    v_winning_pool bigint;
    v_refund_all boolean;
    v_rake bigint := 0;
    v_net bigint;
    v_paid bigint;
    v_dust bigint := 0;
    v_figures jsonb;
    v_pending jsonb;
begin
    select coalesce(sum(w.stake), 0)::bigint,
           coalesce(sum(w.stake) filter (where w.outcome_id = p_winner.id), 0)::bigint
    into v_total, v_winning_pool
    from app.wagers as w
    where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement = 'open';
    v_refund_all := p_market.kind = 'parimutuel' and v_winning_pool = 0;
    if p_market.kind = 'parimutuel' and not v_refund_all then
        v_rake := div(v_total::numeric * p_market.rake_bps, 10000)::bigint;
    end if;
    v_net := v_total - v_rake;

    with paid as (
        select w.id, w.user_id, w.outcome_id, w.stake,
               case
                   when v_refund_all then 'void'
                   when w.outcome_id = p_winner.id then 'won'
                   else 'lost'
               end as settlement,
               case
                   when v_refund_all then w.stake
                   when w.outcome_id <> p_winner.id then 0
                   when p_market.kind = 'fixed_odds' then w.potential_payout
                   else div(w.stake::numeric * v_net, v_winning_pool)::bigint
               end as payout
        from app.wagers as w
        where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement = 'open'
    )
    select coalesce(sum(p.payout), 0)::bigint,
           pg_catalog.jsonb_build_object(
               'winners_count', count(*) filter (where p.settlement = 'won'),
               'losers_count', count(*) filter (where p.settlement = 'lost'),
               'winning_users', count(distinct p.user_id) filter (where p.settlement = 'won'),
               'wagers', coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
                   'wager_id', p.id, 'user_id', p.user_id, 'username', u.username,
                   'outcome_id', p.outcome_id, 'stake', p.stake,
                   'settlement', p.settlement, 'payout', p.payout
               ) order by p.id), '[]'))
    into v_paid, v_figures
    from paid as p
    left join app.profiles as u on p.user_id = u.user_id;
    if p_market.kind = 'parimutuel' then
        v_dust := v_net - v_paid;
    end if;

    -- the pending wagers settle_market rejects first
    select pg_catalog.jsonb_build_object(
        'pending_refunded', pg_catalog.jsonb_build_object(
            'wagers', count(*), 'amount', coalesce(sum(w.stake), 0)::bigint),
        'pending_wagers', coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
            'wager_id', w.id, 'user_id', w.user_id, 'username', u.username,
            'outcome_id', w.outcome_id, 'stake', w.stake
        ) order by w.id), '[]'))
    into v_pending
    from app.wagers as w
    left join app.profiles as u on w.user_id = u.user_id
    where w.market_id = p_market.id and w.approval = 'pending' and w.settlement = 'open';

    return v_figures || v_pending || pg_catalog.jsonb_build_object(
        'market_id', p_market.id, 'kind', p_market.kind, 'status', p_market.status,
        'market_version', p_market.version,
        'settlement_requires_confirmation', p_market.settlement_requires_confirmation,
        'winning_outcome_id', p_winner.id, 'winning_position', p_winner.position,
        'winning_label', p_winner.label,
        'total_pool', v_total, 'rake', v_rake, 'net_pool', v_net, 'winning_pool', v_winning_pool,
        'payout_per_unit', round(
            case when p_market.kind = 'parimutuel' then v_net else v_paid end::numeric
            / nullif(v_winning_pool, 0), 4),
        'total_paid', v_paid, 'dust', v_dust, 'house_result', v_total - v_paid,
        'refunded', v_refund_all,
        'summary', format('%s: pool %s, rake %s, %s paid on %s winning and %s losing wagers, '
            'dust %s, house %s%s.',
            case when v_refund_all then 'Nobody backed ' || p_winner.label || ', all refunded'
                 else p_winner.label || ' wins' end,
            (v_total / 100.0)::numeric(20, 2), (v_rake / 100.0)::numeric(20, 2),
            (v_paid / 100.0)::numeric(20, 2),
            v_figures -> 'winners_count', v_figures -> 'losers_count',
            (v_dust / 100.0)::numeric(20, 2), ((v_total - v_paid) / 100.0)::numeric(20, 2),
            case when v_pending #>> '{pending_refunded,wagers}' <> '0' then format(
                '; %s pending wagers (%s) rejected and refunded first',
                v_pending #> '{pending_refunded,wagers}',
                ((v_pending #>> '{pending_refunded,amount}')::bigint / 100.0)::numeric(20, 2))
            end)
    );
end
$$;

-- preview_settlement(market_id, outcome_id): what settle_market would do now, to the minor unit:
-- pools, rake, payout per unit, winners, losers, paid, dust, house result, refunded, the pending
-- wagers it would reject, each wager's payout, and a one-line summary.
-- Callers: admins. Changes: nothing.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state, outcome_not_found.
create or replace function public.preview_settlement(market_id bigint, outcome_id bigint)
returns jsonb
language plpgsql stable
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_market app.markets;
begin
    perform app._require_admin();
    select * into v_market from app.markets as m where m.id = preview_settlement.market_id;
    if not found then
        perform app._fail('market_not_found', pg_catalog.jsonb_build_object(
            'market_id', preview_settlement.market_id));
    end if;
    perform app._require_status(v_market, array['open', 'closed'], 'preview_settlement');
    return app._settlement_preview(
        v_market, app._settlement_outcome(v_market, preview_settlement.outcome_id));
end
$$;
grant execute on function public.preview_settlement(bigint, bigint) to authenticated, service_role;

-- require_settlement_confirmation(market_id, required): make the market's settlement two-step, or
-- one-step again. While on, settle_market is refused. A call that changes nothing changes, logs
-- and announces nothing.
-- Callers: admins. Changes: markets.settlement_requires_confirmation and version + 1; logs;
-- notifies settlement_confirmation to admins and, unless the market is a draft (which says
-- nothing until it opens), the market message settlement_confirmation to everyone.
-- Raises: not_admin, market_not_found, invalid_argument, already_settled, invalid_market_state.
create or replace function public.require_settlement_confirmation(market_id bigint, required boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(require_settlement_confirmation.market_id);
    v_before jsonb := app._market_row(v_market.id);
    v_after jsonb;
begin
    if require_settlement_confirmation.required is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'required', 'reason', 'true or false'));
    end if;
    perform app._require_status(
        v_market, array['draft', 'open', 'closed'], 'require_settlement_confirmation');
    if v_market.settlement_requires_confirmation = require_settlement_confirmation.required then
        return v_before;
    end if;
    update app.markets as m
    set settlement_requires_confirmation = require_settlement_confirmation.required,
        version = m.version + 1
    where m.id = v_market.id;
    v_after := app._market_row(v_market.id);
    perform app._audit('require_settlement_confirmation', v_market.id, null, null, v_before, v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_confirmation', 'market_id', v_market.id, 'status', v_market.status,
        'required', require_settlement_confirmation.required, 'changed_by', v_actor));
    if v_market.status <> 'draft' then
        perform app._notify_market(v_market.id, 'settlement_confirmation',
            pg_catalog.jsonb_build_object(
                'settlement_requires_confirmation', require_settlement_confirmation.required));
    end if;
    return v_after;
end
$$;
grant execute on function public.require_settlement_confirmation(bigint, boolean)
to authenticated, service_role;

-- _proposal_row: a proposal as answers and the log show it (the gate's stamp left out).
create or replace function app._proposal_row(p_proposal app.settlement_proposals)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(p_proposal) - 'confirmed_xact'
$$;

-- _lock_pending_proposal: the market's pending proposal (`p_proposal_id` if given), locked.
-- Raises: no_pending_proposal.
create or replace function app._lock_pending_proposal(p_market_id bigint, p_proposal_id bigint)
returns app.settlement_proposals
language plpgsql
set search_path = ''
as $$
declare
    v_proposal app.settlement_proposals;
begin
    select * into v_proposal
    from app.settlement_proposals as p
    where p.market_id = p_market_id and p.status = 'pending'
    for update;
    if v_proposal.id is null or v_proposal.id <> coalesce(p_proposal_id, v_proposal.id) then
        perform app._fail('no_pending_proposal', pg_catalog.jsonb_build_object(
            'market_id', p_market_id, 'proposal_id', p_proposal_id,
            'pending_proposal_id', v_proposal.id));
    end if;
    return v_proposal;
end
$$;

-- propose_settlement(market_id, outcome_id, note): propose the winner, for another admin (or the
-- service role) to confirm. It stops betting: an open market is closed first. One pending
-- proposal per market; while pending, only confirming it settles the market.
-- Callers: admins. Changes: an open market -> closed (logged as close_market, notifies closed); a
-- pending proposal holding the preview's figures; logs; notifies settlement_proposed to admins.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state, outcome_not_found,
-- invalid_argument (note over 500 characters), proposal_exists.
create or replace function public.propose_settlement(
    market_id bigint,
    outcome_id bigint,
    note text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
#variable_conflict use_column
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(propose_settlement.market_id);
    v_note text := nullif(btrim(propose_settlement.note), '');
    v_winner app.outcomes;
    v_preview jsonb;
    v_proposal app.settlement_proposals;
begin
    perform app._require_status(v_market, array['open', 'closed'], 'propose_settlement');
    v_winner := app._settlement_outcome(v_market, propose_settlement.outcome_id);
    if length(v_note) > 500 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'note', 'reason', 'at most 500 characters'));
    end if;

    if v_market.status = 'open' then
        perform app._transition(v_market, 'closed', 'close_market', 'closed', 'settlement proposed');
        select * into v_market from app.markets as m where m.id = v_market.id;
    end if;
    v_preview := app._settlement_preview(v_market, v_winner);

    -- behind the unique index (one pending per market), never checked first
    insert into app.settlement_proposals (
        market_id, outcome_id, note, preview, market_version, proposed_by, proposed_role
    )
    values (
        v_market.id, v_winner.id, v_note, v_preview - 'wagers' - 'pending_wagers',
        v_market.version, auth.uid(), auth.role()
    )
    on conflict (market_id) where status = 'pending' do nothing
    returning * into v_proposal;
    if v_proposal.id is null then
        perform app._fail('proposal_exists', (
            select pg_catalog.jsonb_build_object('market_id', p.market_id, 'proposal_id', p.id,
                'outcome_id', p.outcome_id, 'proposed_by', p.proposed_by)
            from app.settlement_proposals as p
            where p.market_id = v_market.id and p.status = 'pending'));
    end if;

    perform app._audit('propose_settlement', v_market.id, null, v_note, null,
        app._proposal_row(v_proposal));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_proposed', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_winner.id, 'proposed_by', v_actor, 'note', v_note,
        'total_pool', v_preview -> 'total_pool', 'total_paid', v_preview -> 'total_paid',
        'house_result', v_preview -> 'house_result', 'refunded', v_preview -> 'refunded'));
    return app._proposal_row(v_proposal) || pg_catalog.jsonb_build_object('preview', v_preview);
end
$$;
grant execute on function public.propose_settlement(bigint, bigint, text) to authenticated, service_role;

-- confirm_settlement(market_id, proposal_id): settle with the pending proposal's outcome through
-- settle_market. Four eyes: not by the proposer (the service role counts as one actor). With
-- `proposal_id`, only that one. Answers settle_market's answer, the proposal, `matches_proposal`
-- (the figures equal the proposal's preview; approvals since can change them).
-- Callers: admins but the proposer. Changes: the proposal -> confirmed; what settle_market changes
-- (logged as settle_market); logs; notifies settlement_confirmed to admins, and settle_market's.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state,
-- no_pending_proposal, same_admin.
create or replace function public.confirm_settlement(market_id bigint, proposal_id bigint default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(confirm_settlement.market_id);
    v_proposal app.settlement_proposals;
    v_confirmed app.settlement_proposals;
    v_settlement jsonb;
    v_matches boolean;
begin
    perform app._require_status(v_market, array['open', 'closed'], 'confirm_settlement');
    v_proposal := app._lock_pending_proposal(v_market.id, confirm_settlement.proposal_id);
    if v_proposal.proposed_by is not distinct from v_actor then
        perform app._fail('same_admin', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'proposal_id', v_proposal.id,
            'proposed_by', v_proposal.proposed_by, 'role', auth.role()));
    end if;

    -- the stamp the gate looks for: this transaction, this outcome
    update app.settlement_proposals as p
    set status = 'confirmed', decided_by = v_actor, decided_role = auth.role(), decided_at = now(),
        confirmed_xact = pg_catalog.pg_current_xact_id()
    where p.id = v_proposal.id
    returning * into v_confirmed;
    v_settlement := public.settle_market(v_market.id, v_proposal.outcome_id);

    select bool_and(v_proposal.preview -> k = v_settlement -> k) into v_matches
    from unnest(array[
        'total_pool', 'rake', 'net_pool', 'winning_pool', 'total_paid', 'dust', 'house_result',
        'refunded', 'winners_count', 'losers_count', 'winning_users', 'pending_refunded'
    ]) as k;

    perform app._audit('confirm_settlement', v_market.id, null, v_proposal.note,
        app._proposal_row(v_proposal),
        app._proposal_row(v_confirmed) || pg_catalog.jsonb_build_object(
            'settlement', v_settlement, 'matches_proposal', v_matches));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_confirmed', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_proposal.outcome_id, 'proposed_by', v_proposal.proposed_by,
        'confirmed_by', v_actor, 'total_paid', v_settlement -> 'total_paid',
        'house_result', v_settlement -> 'house_result', 'matches_proposal', v_matches));
    return v_settlement || pg_catalog.jsonb_build_object(
        'proposal', app._proposal_row(v_confirmed), 'matches_proposal', v_matches);
end
$$;
grant execute on function public.confirm_settlement(bigint, bigint) to authenticated, service_role;

-- cancel_settlement_proposal(market_id, reason): withdraw or turn down the pending proposal. The
-- market stays closed; a new proposal can follow.
-- Callers: admins. Changes: the proposal -> cancelled; logs; notifies settlement_cancelled.
-- Raises: not_admin, market_not_found, invalid_argument (no reason), no_pending_proposal.
create or replace function public.cancel_settlement_proposal(market_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_reason text;
    v_market app.markets := app._lock_market(cancel_settlement_proposal.market_id);
    v_proposal app.settlement_proposals;
    v_cancelled app.settlement_proposals;
begin
    v_reason := app._required_reason(cancel_settlement_proposal.reason);
    v_proposal := app._lock_pending_proposal(v_market.id, null);

    update app.settlement_proposals as p
    set status = 'cancelled', decided_by = v_actor, decided_role = auth.role(), decided_at = now(),
        cancel_reason = v_reason
    where p.id = v_proposal.id
    returning * into v_cancelled;

    perform app._audit('cancel_settlement_proposal', v_market.id, null, v_reason,
        app._proposal_row(v_proposal), app._proposal_row(v_cancelled));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_cancelled', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_proposal.outcome_id, 'proposed_by', v_proposal.proposed_by,
        'cancelled_by', v_actor, 'reason', v_reason));
    return app._proposal_row(v_cancelled);
end
$$;
grant execute on function public.cancel_settlement_proposal(bigint, text) to authenticated, service_role;

-- Settlement proposals with market, outcome and admins' names: admins only (RLS, policies/).
drop view if exists public.settlement_proposals;
create view public.settlement_proposals with (security_invoker = true) as
select
    p.id,
    p.market_id,
    m.title as market_title,
    m.status as market_status,
    m.settlement_requires_confirmation,
    p.outcome_id,
    o.label as outcome_label,
    p.status,
    p.note,
    p.preview,
    p.market_version,
    p.proposed_by,
    pu.username as proposed_by_username,
    p.proposed_role,
    p.proposed_at,
    p.decided_by,
    du.username as decided_by_username,
    p.decided_role,
    p.decided_at,
    p.cancel_reason
from app.settlement_proposals as p
inner join app.markets as m on p.market_id = m.id
inner join app.outcomes as o on p.outcome_id = o.id
left join app.profiles as pu on p.proposed_by = pu.user_id
left join app.profiles as du on p.decided_by = du.user_id;
grant select on public.settlement_proposals to authenticated, service_role;

-- ==== rpc/50_corrections.sql
reset all;

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

-- ==== rpc/60_depth.sql
reset all;

-- Market depth and history (DBGP V2, sections 3.6, 4.8, 6.3) and scheduled closing.
--
-- Pool snapshots are written by app.take_pool_snapshots (every open market whose last snapshot is
-- older than app.config.snapshot_interval_seconds) and at close (the trigger of migration 0007).
-- app.close_due_markets closes every open market past its closes_at. Both are called by the
-- scheduler of the API nodes through app.scheduler_tick, under one advisory lock, so one node at a
-- time writes; the same round prunes the snapshots and quote telemetry older than their retention
-- (app._prune_history). get_market_depth is the read side. docs/depth.md defines every number.

-- _snapshot_market: one snapshot row per outcome of market `p_market_id`, now, for `p_reason`
-- ('interval' or 'close'). Called by take_pool_snapshots' set-based twin below and by the close
-- trigger. Changes: app.pool_snapshots.
create or replace function app._snapshot_market(p_market_id bigint, p_reason text)
returns integer
language sql
set search_path = ''
as $$
    with written as (
        insert into app.pool_snapshots (
            market_id, outcome_id, reason, market_version, outcome_pool, total_pool, takeout,
            share, odds
        )
        select q.market_id, q.outcome_id, p_reason, q.market_version, q.pool, q.total_pool,
               case when m.kind = 'parimutuel' then (q.total_pool * m.rake_bps / 10000) else 0 end,
               q.share, q.odds
        from app.outcome_quotes as q
        inner join app.markets as m on q.market_id = m.id
        where q.market_id = p_market_id
        on conflict on constraint pool_snapshots_once do nothing
        returning 1
    )

    select count(*)::integer from written
$$;

-- take_pool_snapshots(): one snapshot row per outcome of every open market whose last snapshot
-- (of either reason) is older than app.config.snapshot_interval_seconds, or that has none.
-- Callers: the scheduler (through scheduler_tick), never a client role. Changes:
-- app.pool_snapshots. Returns the number of rows written.
create or replace function app.take_pool_snapshots()
returns integer
language sql
set search_path = ''
as $$
    with due as (
        select m.id, m.kind, m.rake_bps
        from app.markets as m
        cross join app.config as c
        where m.status = 'open'
            and not exists (
                select 1 from app.pool_snapshots as s
                where s.market_id = m.id
                    and s.taken_at > now() - make_interval(secs => c.snapshot_interval_seconds)
            )
    ),
    written as (
        insert into app.pool_snapshots (
            market_id, outcome_id, reason, market_version, outcome_pool, total_pool, takeout,
            share, odds
        )
        select q.market_id, q.outcome_id, 'interval', q.market_version, q.pool, q.total_pool,
               case when d.kind = 'parimutuel' then (q.total_pool * d.rake_bps / 10000) else 0 end,
               q.share, q.odds
        from app.outcome_quotes as q
        inner join due as d on q.market_id = d.id
        on conflict on constraint pool_snapshots_once do nothing
        returning 1
    )

    select count(*)::integer from written
$$;

-- close_due_markets(): close every open market whose closes_at has passed, exactly once: each is
-- locked with `for no key update skip locked` (a market another transaction holds is left for
-- the next tick; one that another node closed meanwhile no longer matches). Each gets what close_market
-- gives it: status closed, version + 1, its final snapshot (the close trigger), an audit row
-- (action close_market, actor_role 'scheduler', no actor) and the `closed` notification.
-- Callers: the scheduler (through scheduler_tick), never a client role. Returns the ids closed.
create or replace function app.close_due_markets()
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_before jsonb;
    v_closed bigint[] := '{}';
begin
    for v_id in
        select m.id from app.markets as m
        where m.status = 'open' and m.closes_at <= now()
        order by m.id
        for no key update skip locked
    loop
        v_before := app._market_row(v_id);
        update app.markets as m
        set status = 'closed', version = m.version + 1, closed_at = now()
        where m.id = v_id;
        perform app._audit('close_market', v_id, null, 'closes_at passed', v_before,
            app._market_row(v_id), 'scheduler');
        perform app._notify_market(v_id, 'closed');
        v_closed := v_closed || v_id;
    end loop;
    return v_closed;
end
$$;

-- _prune_history(): delete the pool snapshots and the quote telemetry older than their retention
-- (app.config.pool_snapshot_retention and quote_telemetry_retention, 30 days by default), oldest
-- first, at most app.config.history_prune_batch rows of each table per call, so that a backlog
-- goes a batch per round. Callers: scheduler_tick, under its lock; never a client role.
-- Changes: app.pool_snapshots, app.quote_telemetry. Returns {pool_snapshots, quote_telemetry}:
-- the rows deleted from each. Raises nothing.
create or replace function app._prune_history()
returns jsonb
language sql
set search_path = ''
as $$
    with old_snapshots as (
        select s.id
        from app.pool_snapshots as s
        where s.taken_at < now() - (select c.pool_snapshot_retention from app.config as c)
        order by s.taken_at
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned_snapshots as (
        delete from app.pool_snapshots as s
        where s.id in (select o.id from old_snapshots as o)
        returning 1
    ),
    old_telemetry as (
        select t.id
        from app.quote_telemetry as t
        where t.created_at < now() - (select c.quote_telemetry_retention from app.config as c)
        order by t.created_at
        limit (select c.history_prune_batch from app.config as c)
    ),
    pruned_telemetry as (
        delete from app.quote_telemetry as t
        where t.id in (select o.id from old_telemetry as o)
        returning 1
    )

    select pg_catalog.jsonb_build_object(
        'pool_snapshots', (select count(*) from pruned_snapshots),
        'quote_telemetry', (select count(*) from pruned_telemetry)
    )
$$;

-- scheduler_tick(): one round of the scheduler, under the transaction-level advisory lock
-- 'wagerbase.scheduler': when another node holds it, does nothing; otherwise closes the due
-- markets, settles the virtual markets whose draw is fixed and reveals the seeds of voided ones
-- (rpc/75_virtual.sql), then takes the due snapshots and prunes the old ones and the old quote
-- telemetry (_prune_history) and the events of the live stream past their retention
-- (_prune_events, rpc/03_events.sql), and settles the house rounds idle past their game's
-- round_idle_minutes (expire_house_rounds, rpc/81_house_rounds.sql). Callers: the API nodes'
-- scheduler, never a client role.
-- Returns {locked, closed (ids), drawn (virtual market ids settled from their draw), draw_failed
-- ([{market_id, sqlstate, error, detail}]), voids_revealed (ids), snapshots (rows written),
-- pruned ({pool_snapshots, quote_telemetry}: rows deleted), events_pruned (events deleted),
-- rounds_expired (house round ids settled)}.
create or replace function app.scheduler_tick()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_closed bigint[];
    v_draws jsonb;
begin
    if not pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wagerbase.scheduler')) then
        return pg_catalog.jsonb_build_object(
            'locked', false, 'closed', '[]'::jsonb, 'drawn', '[]'::jsonb,
            'draw_failed', '[]'::jsonb, 'voids_revealed', '[]'::jsonb, 'snapshots', 0,
            'pruned', pg_catalog.jsonb_build_object('pool_snapshots', 0, 'quote_telemetry', 0),
            'events_pruned', 0, 'rounds_expired', '[]'::jsonb);
    end if;
    v_closed := app.close_due_markets();
    v_draws := app.settle_virtual_draws();
    return pg_catalog.jsonb_build_object(
        'locked', true, 'closed', to_jsonb(v_closed), 'drawn', v_draws -> 'drawn',
        'draw_failed', v_draws -> 'failed', 'voids_revealed', to_jsonb(app.reveal_void_draws()),
        'snapshots', app.take_pool_snapshots(), 'pruned', app._prune_history(),
        'events_pruned', app._prune_events(),
        'rounds_expired', to_jsonb(app.expire_house_rounds()));
end
$$;

-- get_market_depth(market_id, window): the Market Depth View (DBGP V2 6.3) over the last `window`
-- ('5m', '15m' or '1h'). docs/depth.md defines each part; in short:
--   outcomes        per outcome: live pool, share, odds, wager_count; share_start (the share when
--                   the window began, replayed from the accepted wagers that had joined the pool by
--                   then), share_change_pp = (share - share_start) * 100; window_wagers and
--                   window_stake (accepted wagers that joined the pool in the window)
--   snapshots       the pool snapshots of the window, oldest first, each with its outcomes
--   largest_wagers  the 10 largest accepted wagers of the window
--   price_impact_events  the accepted wagers of the window that moved their outcome's share by at
--                   least app.config.depth_impact_threshold_pp points when they joined the pool
--                   (largest move first, at most 10)
--   biggest_bettors the 5 users with the most accepted stake on the market (all time), ranked
--   pressure        index = the most-backed outcome's part of the window's accepted stake (from
--                   1/n, spread evenly, to 1, all on one outcome; null without stake), outcome_id
-- Bettors are anonymous except to admins (and the service role), who also get user ids, usernames
-- and wager ids; `mine` / `you` flag the caller's own. Quote telemetry is not used (admins only).
-- Callers: anyone (anon included); drafts only admins. Changes: nothing.
-- Raises: market_not_found, invalid_argument (window), unknown_user (a signed-in caller whose user
-- does not exist or was deleted).
create or replace function public.get_market_depth(market_id bigint, "window" text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(get_market_depth.market_id);
    v_span interval;
    v_from timestamptz;
    v_me uuid := auth.uid();
    v_admin boolean := auth.role() = 'service_role' or app._is_admin();
    v_threshold numeric;
    v_result jsonb;
begin
    v_span := case get_market_depth."window"
        when '5m' then interval '5 minutes'
        when '15m' then interval '15 minutes'
        when '1h' then interval '1 hour'
    end;
    if v_span is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'window', 'value', get_market_depth."window", 'reason', '5m, 15m or 1h'));
    end if;
    v_from := now() - v_span;
    select c.depth_impact_threshold_pp into v_threshold from app.config as c;

    with joined as (
        -- accepted wagers in the order they joined the pool, with the pools right after each
        select
            w.id, w.user_id, w.outcome_id, w.stake, w.odds,
            coalesce(w.decided_at, w.created_at) as joined_at,
            (sum(w.stake) over (partition by w.outcome_id order by w.accepted_version, w.id))::bigint
                as outcome_after,
            (sum(w.stake) over (order by w.accepted_version, w.id))::bigint as total_after
        from app.wagers as w
        where w.market_id = v_market.id and w.approval = 'accepted'
    ),
    moves as (
        select
            j.*,
            app._share(j.outcome_after - j.stake, j.total_after - j.stake) as share_before,
            app._share(j.outcome_after, j.total_after) as share_after
        from joined as j
    ),
    in_window as (
        select
            m.*, round((m.share_after - m.share_before) * 100, 4) as impact_pp
        from moves as m where m.joined_at >= v_from
    ),
    start_total as (
        select coalesce(sum(j.stake), 0)::bigint as total from joined as j where j.joined_at < v_from
    ),
    per_outcome as (
        select
            q.outcome_id, q.position, q.label, q.color, q.abbreviation, q.pool, q.share, q.odds,
            q.wager_count,
            app._share((
                select coalesce(sum(j.stake), 0)::bigint from joined as j
                where j.outcome_id = q.outcome_id and j.joined_at < v_from
            ), st.total) as share_start,
            (select count(*) from in_window as i where i.outcome_id = q.outcome_id) as window_wagers,
            (
                select coalesce(sum(i.stake), 0)::bigint from in_window as i
                where i.outcome_id = q.outcome_id
            ) as window_stake
        from app.outcome_quotes as q
        cross join start_total as st
        where q.market_id = v_market.id
    ),
    pressure as (
        select p.outcome_id, p.window_stake, (sum(p.window_stake) over ())::bigint as volume
        from per_outcome as p
        order by p.window_stake desc, p.position
        limit 1
    ),
    bettors as (
        select
            j.user_id, sum(j.stake)::bigint as stake, count(*) as wagers,
            row_number() over (order by sum(j.stake) desc, min(j.id)) as rank
        from joined as j
        group by j.user_id
    ),
    snapshot_rows as (
        select
            s.taken_at, s.reason, max(s.market_version) as market_version,
            max(s.total_pool) as total_pool, max(s.takeout) as takeout,
            jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', s.outcome_id, 'pool', s.outcome_pool, 'share', s.share, 'odds', s.odds
            ) order by s.outcome_id) as outcomes
        from app.pool_snapshots as s
        where s.market_id = v_market.id and s.taken_at >= v_from
        group by s.taken_at, s.reason
    )

    select pg_catalog.jsonb_build_object(
        'market_id', v_market.id,
        'status', v_market.status,
        'kind', v_market.kind,
        'version', v_market.version,
        'total_pool', v_market.total_pool,
        'window', get_market_depth."window",
        'from', v_from,
        'to', now(),
        'window_wagers', (select count(*) from in_window),
        'window_stake', (select coalesce(sum(i.stake), 0) from in_window as i),
        'outcomes', (
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'outcome_id', p.outcome_id, 'position', p.position, 'label', p.label,
                'color', p.color, 'abbreviation', p.abbreviation, 'pool', p.pool,
                'share', p.share, 'odds', p.odds, 'wager_count', p.wager_count,
                'share_start', p.share_start,
                'share_change_pp', round((p.share - p.share_start) * 100, 4),
                'window_wagers', p.window_wagers, 'window_stake', p.window_stake
            ) order by p.position)
            from per_outcome as p
        ),
        'snapshots', coalesce((
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'taken_at', s.taken_at, 'reason', s.reason, 'market_version', s.market_version,
                'total_pool', s.total_pool, 'takeout', s.takeout, 'outcomes', s.outcomes
            ) order by s.taken_at, s.reason)
            from snapshot_rows as s
        ), '[]'),
        'largest_wagers', coalesce((
            select jsonb_agg(x.item order by x.stake desc, x.id)
            from (
                select i.id, i.stake, pg_catalog.jsonb_build_object(
                    'outcome_id', i.outcome_id, 'stake', i.stake, 'odds', i.odds,
                    'placed_at', i.joined_at, 'mine', coalesce(i.user_id = v_me, false)
                ) || case when v_admin then pg_catalog.jsonb_build_object(
                    'wager_id', i.id, 'user_id', i.user_id) else '{}' end as item
                from in_window as i
                order by i.stake desc, i.id
                limit 10
            ) as x
        ), '[]'),
        'price_impact_events', coalesce((
            select jsonb_agg(x.item order by abs(x.impact_pp) desc, x.id)
            from (
                select i.id, i.impact_pp, pg_catalog.jsonb_build_object(
                    'outcome_id', i.outcome_id, 'stake', i.stake, 'share_before', i.share_before,
                    'share_after', i.share_after, 'impact_pp', i.impact_pp, 'at', i.joined_at,
                    'mine', coalesce(i.user_id = v_me, false)
                ) || case when v_admin then pg_catalog.jsonb_build_object(
                    'wager_id', i.id, 'user_id', i.user_id) else '{}' end as item
                from in_window as i
                where abs(i.impact_pp) >= v_threshold
                order by abs(i.impact_pp) desc, i.id
                limit 10
            ) as x
        ), '[]'),
        'biggest_bettors', coalesce((
            select jsonb_agg(pg_catalog.jsonb_build_object(
                'rank', b.rank, 'label', 'Bettor ' || b.rank, 'stake', b.stake,
                'wagers', b.wagers, 'share_of_pool', app._share(b.stake, v_market.total_pool),
                'you', coalesce(b.user_id = v_me, false)
            ) || case when v_admin then pg_catalog.jsonb_build_object(
                'user_id', b.user_id,
                'username', (select pr.username from app.profiles as pr where pr.user_id = b.user_id)
            ) else '{}' end order by b.rank)
            from bettors as b
            where b.rank <= 5
        ), '[]'),
        'pressure', (
            select pg_catalog.jsonb_build_object(
                'index', case when pr.volume > 0 then round(pr.window_stake::numeric / pr.volume, 4) end,
                'outcome_id', case when pr.volume > 0 then pr.outcome_id end,
                'stake', pr.window_stake,
                'volume', pr.volume)
            from pressure as pr
        )
    )
    into v_result;
    return v_result;
end
$$;
grant execute on function public.get_market_depth(bigint, text) to anon, authenticated, service_role;

-- ==== rpc/70_side_effects.sql
reset all;

-- Side effects after settlement (migrations/0009_side_effects.sql, 0018_side_effect_counts.sql;
-- docs/side-effects.md).
--
-- settle and unsettle call app._enqueue_side_effects in their own transaction; the API nodes'
-- workers call app.work_side_effect, which runs the oldest due job in a subtransaction: a failing
-- job is rolled back alone and retried later (exponential backoff).
-- A job never adds blindly: it sums its market's settled wagers per (user, settlement time),
-- compares each sum with what its handler counted for that group before
-- (app.side_effect_counts) and applies only the difference, so running a job again, or two jobs
-- of one market, counts every wager once. Its work grows with the market's bettors, not with
-- its wagers.

-- _enqueue_side_effects: one job per handler for market `p_market_id`, after `p_event`.
-- Callers: app._settle_market and app._unsettle, inside the transaction that changed the wagers.
create or replace function app._enqueue_side_effects(p_market_id bigint, p_event text)
returns void
language sql
set search_path = ''
as $$
    insert into app.side_effect_jobs (handler, market_id, event)
    select h.handler, p_market_id, p_event
    from unnest(array['user_stats', 'leaderboard', 'big_wins', 'market_stats']) as h (handler)
$$;

-- _player_name: a user's public name: their username, else 'player-' and the start of their id
-- (an email is never shown).
create or replace function app._player_name(p_user uuid)
returns text
language sql stable
set search_path = ''
as $$
    select coalesce(
        (select p.username from app.profiles as p where p.user_id = p_user),
        'player-' || left(p_user::text, 8)
    )
$$;

-- _side_effect_changes: every (user, settlement time) group of market `p_market_id` whose sums
-- differ from what handler `p_handler` counted for it: its won and lost wagers added up now, and
-- the record. A group that counts nothing any more (unsettled, voided) comes with zero new sums.
-- Stable, so it reads one snapshot.
create or replace function app._side_effect_changes(p_handler text, p_market_id bigint)
returns setof app.side_effect_change
language sql stable
set search_path = ''
as $$
    with counted_now as (
        select
            w.user_id,
            w.settled_at,
            count(*)::integer as wagers,
            (count(*) filter (where w.settlement = 'won'))::integer as wins,
            sum(w.stake)::bigint as stake,
            sum(w.payout)::bigint as payout
        from app.wagers as w
        where w.market_id = p_market_id
            and w.approval = 'accepted'
            and w.settlement in ('won', 'lost')
        group by w.user_id, w.settled_at
    ),
    recorded as (
        select r.user_id, r.settled_at, r.wagers, r.wins, r.stake, r.payout
        from app.side_effect_counts as r
        where r.handler = p_handler and r.market_id = p_market_id
    )
    select
        coalesce(n.user_id, r.user_id),
        coalesce(n.settled_at, r.settled_at),
        coalesce(r.wagers, 0),
        coalesce(r.wins, 0),
        coalesce(r.stake, 0),
        coalesce(r.payout, 0),
        coalesce(n.wagers, 0),
        coalesce(n.wins, 0),
        coalesce(n.stake, 0),
        coalesce(n.payout, 0)
    from counted_now as n
    full join recorded as r on r.user_id = n.user_id and r.settled_at = n.settled_at
    where (n.wagers, n.wins, n.stake, n.payout) is distinct from (r.wagers, r.wins, r.stake, r.payout)
    order by 1, 2
$$;

-- How a handler adds a difference: the rows it touches are created empty first (a negative
-- difference can never be inserted: check constraints test the row before a conflict is found),
-- then locked in key order, then updated, so two workers touching the same rows never deadlock.

-- _apply_user_stats: add each user's difference to app.user_stats.
create or replace function app._apply_user_stats(p_changes app.side_effect_change[])
returns void
language plpgsql
set search_path = ''
as $$
begin
    insert into app.user_stats (user_id)
    select distinct c.user_id from unnest(p_changes) as c order by c.user_id
    on conflict (user_id) do nothing;
    perform 1
    from app.user_stats as s
    where s.user_id in (select c.user_id from unnest(p_changes) as c)
    order by s.user_id
    for update;

    update app.user_stats as s
    set wagers = s.wagers + d.wagers,
        wins = s.wins + d.wins,
        wagered = s.wagered + d.wagered,
        won = s.won + d.won,
        profit = s.profit + d.won - d.wagered,
        updated_at = now()
    from (
        select
            c.user_id,
            sum(c.new_wagers - c.old_wagers) as wagers,
            sum(c.new_wins - c.old_wins) as wins,
            sum(c.new_stake - c.old_stake) as wagered,
            sum(c.new_payout - c.old_payout) as won
        from unnest(p_changes) as c
        group by c.user_id
    ) as d
    where s.user_id = d.user_id;
end
$$;

-- _period_start: the UTC day, ISO week (Monday) or month that `p_at` falls in.
create or replace function app._period_start(p_period text, p_at timestamptz)
returns date
language sql immutable
set search_path = ''
as $$
    select date_trunc(p_period, p_at at time zone 'UTC')::date
$$;

-- _leaderboard_moves: what a set of changes adds to each leaderboard row, summed per (period,
-- period start, user): a group's difference goes into the day, week and month of its settlement
-- time (a correction that settles again later takes the old group out and puts a new one in).
create or replace function app._leaderboard_moves(p_changes app.side_effect_change[])
returns setof app.leaderboard_move
language sql immutable
set search_path = ''
as $$
    select
        p.period,
        app._period_start(p.period, c.settled_at),
        c.user_id,
        sum(c.new_wagers - c.old_wagers)::bigint,
        sum(c.new_wins - c.old_wins)::bigint,
        sum(c.new_stake - c.old_stake)::bigint,
        sum(c.new_payout - c.old_payout)::bigint
    from unnest(p_changes) as c
    cross join unnest(array['day', 'week', 'month']) as p (period)
    group by 1, 2, 3
    order by 1, 2, 3
$$;

-- _apply_leaderboard: add each (period, user)'s difference to app.leaderboard.
create or replace function app._apply_leaderboard(p_changes app.side_effect_change[])
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_moves app.leaderboard_move[] := array(
        select m from app._leaderboard_moves(p_changes) as m
    );
begin
    insert into app.leaderboard (period, period_start, user_id, player)
    select m.period, m.period_start, m.user_id, app._player_name(m.user_id)
    from unnest(v_moves) as m
    order by m.period, m.period_start, m.user_id
    on conflict (period, period_start, user_id) do nothing;
    perform 1
    from app.leaderboard as l
    inner join unnest(v_moves) as m
        on l.period = m.period and l.period_start = m.period_start and l.user_id = m.user_id
    order by l.period, l.period_start, l.user_id
    for update of l;

    update app.leaderboard as l
    set wagers = l.wagers + m.wagers,
        wins = l.wins + m.wins,
        wagered = l.wagered + m.wagered,
        won = l.won + m.won,
        profit = l.profit + m.won - m.wagered,
        updated_at = now()
    from unnest(v_moves) as m
    where l.period = m.period and l.period_start = m.period_start and l.user_id = m.user_id;
end
$$;

-- _apply_big_wins: for each user whose counted wagers on market `p_market_id` changed, the feed
-- holds exactly their winning wagers of the market whose profit reaches
-- config.big_win_min_profit now: a new one goes in, one that no longer wins (a correction) or
-- no longer reaches it leaves.
create or replace function app._apply_big_wins(
    p_market_id bigint, p_changes app.side_effect_change[]
)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_minimum bigint := (select c.big_win_min_profit from app.config as c);
begin
    delete from app.big_wins as b
    where b.market_id = p_market_id
        and b.user_id in (select c.user_id from unnest(p_changes) as c)
        and not exists (
            select from app.wagers as w
            where w.id = b.wager_id and w.approval = 'accepted' and w.settlement = 'won'
                and w.payout - w.stake >= v_minimum
        );

    insert into app.big_wins (wager_id, market_id, outcome_id, user_id, player, stake, payout, settled_at)
    select
        w.id,
        w.market_id,
        w.outcome_id,
        w.user_id,
        app._player_name(w.user_id),
        w.stake,
        w.payout,
        w.settled_at
    from app.wagers as w
    where w.market_id = p_market_id
        and w.user_id in (select c.user_id from unnest(p_changes) as c)
        and w.approval = 'accepted'
        and w.settlement = 'won'
        and w.payout - w.stake >= v_minimum
    order by w.id
    on conflict (wager_id) do update
    set stake = excluded.stake, payout = excluded.payout, settled_at = excluded.settled_at
    where (app.big_wins.stake, app.big_wins.payout, app.big_wins.settled_at)
        is distinct from (excluded.stake, excluded.payout, excluded.settled_at);
end
$$;

-- _apply_market_stats: add the difference to market `p_market_id`'s row of app.market_stats.
create or replace function app._apply_market_stats(
    p_market_id bigint, p_changes app.side_effect_change[]
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    insert into app.market_stats (market_id) values (p_market_id)
    on conflict (market_id) do nothing;

    update app.market_stats as s
    set wagers = s.wagers + d.wagers,
        wins = s.wins + d.wins,
        staked = s.staked + d.staked,
        paid = s.paid + d.paid,
        updated_at = now()
    from (
        select
            sum(c.new_wagers - c.old_wagers) as wagers,
            sum(c.new_wins - c.old_wins) as wins,
            sum(c.new_stake - c.old_stake) as staked,
            sum(c.new_payout - c.old_payout) as paid
        from unnest(p_changes) as c
    ) as d
    where s.market_id = p_market_id;
end
$$;

-- _run_side_effect: run job `p_job` once: under a transaction lock per (handler, market), so two
-- workers never apply the same difference, read the changes once, apply them with the handler and
-- record the groups' new sums (a group that counts nothing leaves the record). Returns how many
-- wagers the changed groups hold, before or after, whichever is more (0: nothing changed).
-- A user's job (house bets) goes to app._run_house_effect (rpc/83_house_effects.sql).
-- Raises: whatever the handler's statements raise (lock_not_available past the lock timeout, ...).
create or replace function app._run_side_effect(p_job app.side_effect_jobs)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_changes app.side_effect_change[];
begin
    if p_job.market_id is null then
        return app._run_house_effect(p_job);  -- a user's house bets (rpc/83_house_effects.sql)
    end if;
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'wagerbase.side_effect:' || p_job.handler || ':' || p_job.market_id, 0));
    v_changes := array(select c from app._side_effect_changes(p_job.handler, p_job.market_id) as c);
    if cardinality(v_changes) = 0 then
        return 0;
    end if;
    case p_job.handler
        when 'user_stats' then perform app._apply_user_stats(v_changes);
        when 'leaderboard' then perform app._apply_leaderboard(v_changes);
        when 'big_wins' then perform app._apply_big_wins(p_job.market_id, v_changes);
        when 'market_stats' then perform app._apply_market_stats(p_job.market_id, v_changes);
    end case;

    delete from app.side_effect_counts as r
    using unnest(v_changes) as c
    where r.handler = p_job.handler and r.market_id = p_job.market_id
        and r.user_id = c.user_id and r.settled_at = c.settled_at and c.new_wagers = 0;
    insert into app.side_effect_counts as r (
        handler, market_id, user_id, settled_at, wagers, wins, stake, payout, job_id
    )
    select
        p_job.handler, p_job.market_id, c.user_id, c.settled_at, c.new_wagers, c.new_wins,
        c.new_stake, c.new_payout, p_job.id
    from unnest(v_changes) as c
    where c.new_wagers > 0
    on conflict (handler, market_id, user_id, settled_at) do update
    set wagers = excluded.wagers, wins = excluded.wins, stake = excluded.stake,
        payout = excluded.payout, job_id = excluded.job_id, applied_at = now();
    return (select greatest(sum(c.old_wagers), sum(c.new_wagers)) from unnest(v_changes) as c);
end
$$;

-- work_side_effect(): run the oldest due job, once, in a subtransaction; one job per call (and so
-- per transaction), so a worker holds one job's locks at a time: a job takes its (handler,
-- market) lock, then its handler's rows in key order, and two workers never deadlock. Jobs are
-- taken `for update skip locked`, so every node's worker can run at once without taking the same
-- job. A job that fails is rolled back alone: its attempt and error are recorded and it is due
-- again after side_effect_backoff_ms * 2^(attempts - 1); after side_effect_max_attempts it is
-- failed (admins are told, and retry_side_effects brings it back). Statements wait at most
-- side_effect_lock_timeout_ms for a lock, so a worker never hangs on a busy row. When no job is
-- due, done jobs older than seven days are deleted, a thousand at a time.
-- Callers: the API nodes' workers (api/wagerbase/live/scheduler.py), never a client role.
-- Returns null when no job was due, else {job_id, handler, market_id, status (done, pending:
-- to be retried, failed), attempts, changed, error}.
create or replace function app.work_side_effect()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_config app.config;
    v_job app.side_effect_jobs;
    v_changed integer;
    v_state text;
    v_message text;
begin
    select * into v_config from app.config;
    perform pg_catalog.set_config('lock_timeout', v_config.side_effect_lock_timeout_ms || 'ms', true);
    select * into v_job
    from app.side_effect_jobs as j
    where j.status = 'pending' and j.next_attempt_at <= now()
    order by j.next_attempt_at, j.id
    limit 1
    for update skip locked;
    if not found then
        delete from app.side_effect_jobs as j
        where j.id in (
            select d.id from app.side_effect_jobs as d
            where d.status = 'done' and d.done_at < now() - interval '7 days'
            limit 1000
        );
        return null;
    end if;

    begin
        v_changed := app._run_side_effect(v_job);
        update app.side_effect_jobs as j
        set status = 'done', attempts = j.attempts + 1, last_attempt_at = now(), done_at = now(),
            changed = v_changed
        where j.id = v_job.id
        returning * into v_job;
    exception when others then
        get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
        update app.side_effect_jobs as j
        set attempts = j.attempts + 1,
            last_attempt_at = now(),
            last_error = v_state || ': ' || v_message,
            status = case
                when j.attempts + 1 >= v_config.side_effect_max_attempts then 'failed'
                else 'pending'
            end,
            next_attempt_at = now() + make_interval(
                secs => v_config.side_effect_backoff_ms * power(2, j.attempts) / 1000.0)
        where j.id = v_job.id
        returning * into v_job;
        if v_job.status = 'failed' then
            perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
                'type', 'side_effect_failed', 'job_id', v_job.id, 'handler', v_job.handler,
                'market_id', v_job.market_id, 'attempts', v_job.attempts,
                'error', v_job.last_error));
        end if;
    end;
    return pg_catalog.jsonb_build_object(
        'job_id', v_job.id, 'handler', v_job.handler, 'market_id', v_job.market_id,
        'status', v_job.status, 'attempts', v_job.attempts, 'changed', v_job.changed,
        'error', v_job.last_error);
end
$$;
-- retry_side_effects(job_id): make failed jobs due again with a fresh count of attempts: job
-- `job_id`, or every failed job when it is null.
-- Callers: admins. Changes: the jobs (status pending, attempts 0, retried_by/at); logs.
-- Returns {retried: number of jobs}.
-- Raises: not_admin, job_not_found, job_not_failed.
create or replace function public.retry_side_effects(job_id bigint default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_job app.side_effect_jobs;
    v_retried integer;
begin
    if retry_side_effects.job_id is not null then
        select * into v_job
        from app.side_effect_jobs as j
        where j.id = retry_side_effects.job_id
        for update;
        if not found then
            perform app._fail('job_not_found', pg_catalog.jsonb_build_object(
                'job_id', retry_side_effects.job_id));
        end if;
        if v_job.status <> 'failed' then
            perform app._fail('job_not_failed', pg_catalog.jsonb_build_object(
                'job_id', v_job.id, 'status', v_job.status));
        end if;
    end if;
    with retried as (
        update app.side_effect_jobs as j
        set status = 'pending', attempts = 0, next_attempt_at = now(), retried_by = v_actor,
            retried_at = now()
        where j.status = 'failed'
            and (retry_side_effects.job_id is null or j.id = retry_side_effects.job_id)
        returning j.id, j.handler, j.market_id, j.last_error
    )
    select count(*) into v_retried from retried;
    perform app._audit('retry_side_effects', v_job.market_id, null, null,
        pg_catalog.jsonb_build_object('job_id', retry_side_effects.job_id),
        pg_catalog.jsonb_build_object('retried', v_retried));
    return pg_catalog.jsonb_build_object('retried', v_retried);
end
$$;
grant execute on function public.retry_side_effects(bigint) to authenticated, service_role;

-- The read side. Each view is security_invoker: the policies in policies/55_side_effects.sql decide.
drop view if exists public.side_effect_jobs;
drop view if exists public.user_stats;
drop view if exists public.leaderboard;
drop view if exists public.big_wins;
drop view if exists public.market_stats;

-- Admins: every job, failed ones with their last error.
create view public.side_effect_jobs with (security_invoker = true) as
select
    j.id,
    j.handler,
    j.market_id,
    j.user_id,
    j.event,
    j.status,
    j.attempts,
    j.next_attempt_at,
    j.last_attempt_at,
    j.last_error,
    j.changed,
    j.retried_by,
    j.retried_at,
    j.created_at,
    j.done_at
from app.side_effect_jobs as j;

-- A bettor's own figures; an admin's view of everyone's.
create view public.user_stats with (security_invoker = true) as
select
    s.user_id,
    s.wagers,
    s.wins,
    s.wagered,
    s.won,
    s.profit,
    s.updated_at
from app.user_stats as s;

-- Anyone: the ranking by profit per period (`day`, `week`, `month`; period_start in UTC).
create view public.leaderboard with (security_invoker = true) as
select
    l.period,
    l.period_start,
    rank() over (partition by l.period, l.period_start order by l.profit desc) as rank,
    l.player,
    l.wagers,
    l.wins,
    l.wagered,
    l.won,
    l.profit
from app.leaderboard as l
where l.wagers > 0;

-- Anyone: recent big wins, newest first.
create view public.big_wins with (security_invoker = true) as
select
    b.wager_id,
    b.market_id,
    m.title as market_title,
    b.outcome_id,
    o.label as outcome_label,
    b.player,
    b.stake,
    b.payout,
    b.profit,
    b.settled_at
from app.big_wins as b
inner join app.markets as m on b.market_id = m.id
inner join app.outcomes as o on b.outcome_id = o.id
order by b.settled_at desc, b.wager_id desc;

-- Anyone: each settled market's counted wagers, what they staked and were paid, the house's result.
create view public.market_stats with (security_invoker = true) as
select
    s.market_id,
    s.wagers,
    s.wins,
    s.staked,
    s.paid,
    s.staked - s.paid as house_result,
    s.updated_at
from app.market_stats as s;

grant select on public.leaderboard, public.big_wins, public.market_stats
to anon, authenticated, service_role;
grant select on public.side_effect_jobs, public.user_stats to authenticated, service_role;

-- ==== rpc/75_virtual.sql
reset all;

-- Provably-fair virtual markets (migrations/0010_virtual_markets.sql; docs/provably-fair.md).
--
-- create_virtual_market commits a server seed (its SHA-256 is public from the start). Closing the
-- market, on schedule and never earlier, fixes the client seed from the wagers in play and draws:
--   hmac   = HMAC-SHA256(key = the seed's text, message = client_seed || ':' || nonce)
--   number = floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * limit / 2^32), b0..b3 its first bytes
-- roulette: limit 37, the pocket; dice: limit 10000, the roll in hundredths. The scheduler then
-- reveals the seed and settles the market with the drawn outcome, in one transaction; a voided
-- market's seed is revealed by the scheduler too. Before that, no client role (admins included)
-- can read the seed or the draw: the table has no client grant, and the read side
-- (public.virtual_draws, verify_draw) shows them only once revealed_at is set.

drop view if exists public.virtual_draws;

-- The draw ------------------------------------------------------------------------------------

-- _hmac_sha256: HMAC-SHA256 (RFC 2104) over the built-in sha256(bytea): a key longer than the
-- 64-byte block is hashed first, then padded with zeros to 64 bytes;
-- sha256((key xor opad) || sha256((key xor ipad) || message)), ipad = 0x36.., opad = 0x5c...
create or replace function app._hmac_sha256(p_key bytea, p_message bytea)
returns bytea
language sql immutable strict parallel safe
set search_path = ''
as $$
    with block as (
        select case when length(p_key) > 64 then sha256(p_key) else p_key end as key
    ),
    padded as (
        select b.key || decode(repeat('00', 64 - length(b.key)), 'hex') as key
        from block as b
    ),
    pads as (
        select
            string_agg(lpad(to_hex(get_byte(p.key, i) # 54), 2, '0'), '' order by i) as inner_pad,
            string_agg(lpad(to_hex(get_byte(p.key, i) # 92), 2, '0'), '' order by i) as outer_pad
        from padded as p
        cross join generate_series(0, 63) as i
    )

    select sha256(decode(p.outer_pad, 'hex') || sha256(decode(p.inner_pad, 'hex') || p_message))
    from pads as p
$$;

-- _draw_number: the number in [0, p_limit) that the first four bytes of `p_mac` name:
-- floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * p_limit / 2^32), exact in bigint (the
-- product stays below 2^46 for a limit up to 16384).
create or replace function app._draw_number(p_mac bytea, p_limit integer)
returns integer
language sql immutable strict parallel safe
set search_path = ''
as $$
    select ((
        get_byte(p_mac, 0)::bigint * 16777216
        + get_byte(p_mac, 1)::bigint * 65536
        + get_byte(p_mac, 2)::bigint * 256
        + get_byte(p_mac, 3)::bigint
    ) * p_limit / 4294967296)::integer
$$;

-- _draw_position: the position of the outcome that number `p_result` names.
--   roulette  pocket 0 -> 3 Green; a red pocket -> 1 Red; any other -> 2 Black
--   dice      roll < params.threshold -> 1 Under; otherwise -> 2 Over
create or replace function app._draw_position(p_template text, p_params jsonb, p_result integer)
returns smallint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select (case
        when p_template = 'roulette' and p_result = 0 then 3
        when p_template = 'roulette' and p_result = any(array[
            1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36
        ]) then 1
        when p_template = 'roulette' then 2
        when p_template = 'dice' and p_result < (p_params ->> 'threshold')::integer then 1
        when p_template = 'dice' then 2
    end)::smallint
$$;

-- _virtual_draw: the draw of a template from its seeds: {hmac (hex), result, position}.
-- Used when the market closes and, from the revealed seed, by verify_draw.
create or replace function app._virtual_draw(
    p_template text,
    p_params jsonb,
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint
)
returns jsonb
language sql stable strict
set search_path = ''
as $$
    with mac as (
        select app._hmac_sha256(
            convert_to(p_server_seed, 'UTF8'),
            convert_to(p_client_seed || ':' || p_nonce::text, 'UTF8')
        ) as value
    ),
    drawn as (
        select
            m.value,
            app._draw_number(m.value, case p_template when 'roulette' then 37 else 10000 end) as result
        from mac as m
    )

    select pg_catalog.jsonb_build_object(
        'hmac', encode(d.value, 'hex'),
        'result', d.result,
        'position', app._draw_position(p_template, p_params, d.result)
    )
    from drawn as d
$$;

-- _client_seed_input: the text hashed into the client seed: the market id, ':', and the ids of
-- the wagers in play at close, ascending, comma separated ('42:' without any).
create or replace function app._client_seed_input(p_market_id bigint, p_wager_ids bigint[])
returns text
language sql immutable
set search_path = ''
as $$
    select p_market_id::text || ':' || coalesce(array_to_string(p_wager_ids, ','), '')
$$;

-- _sha256_hex: the lowercase hex SHA-256 of a text's UTF-8 bytes (what `sha256sum` prints).
create or replace function app._sha256_hex(p_text text)
returns text
language sql stable strict
set search_path = ''
as $$
    select encode(sha256(convert_to(p_text, 'UTF8')), 'hex')
$$;

-- _new_server_seed: a fresh server seed: 32 bytes as 64 lowercase hex characters, the SHA-256 of
-- three gen_random_uuid()s (366 bits from pg_strong_random, PostgreSQL's cryptographic source).
-- Built-ins only: pgcrypto's gen_random_bytes would do as well, but the embedded server ships
-- without pgcrypto. Virtual markets and the players' seed pairs (rpc/78_house_fairness.sql) use it.
create or replace function app._new_server_seed()
returns text
language sql volatile
set search_path = ''
as $$
    select encode(sha256(
        uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
    ), 'hex')
$$;

-- _result_text: a drawn number as people read it: the pocket, or the roll with two decimals.
create or replace function app._result_text(p_template text, p_result integer)
returns text
language sql immutable
set search_path = ''
as $$
    select case
        when p_template = 'dice' then to_char(p_result / 100.0, 'FM990.00')
        else p_result::text
    end
$$;

-- _fix_draw: fix the client seed of `p_draw`'s market from its wagers in play (accepted and not
-- voided), draw, and record it all. Called by the close gate, in the transaction that closes it.
create or replace function app._fix_draw(p_draw app.virtual_draws)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_ids bigint[];
    v_client_seed text;
    v_draw jsonb;
begin
    select coalesce(array_agg(w.id order by w.id), '{}') into v_ids
    from app.wagers as w
    where w.market_id = p_draw.market_id and w.approval = 'accepted' and w.settlement = 'open';
    v_client_seed := app._sha256_hex(app._client_seed_input(p_draw.market_id, v_ids));
    v_draw := app._virtual_draw(
        p_draw.template, p_draw.params, p_draw.server_seed, v_client_seed, p_draw.nonce);
    update app.virtual_draws as d
    set wager_ids = v_ids,
        client_seed = v_client_seed,
        hmac = v_draw ->> 'hmac',
        result = (v_draw ->> 'result')::integer,
        winning_outcome_id = (
            select o.id from app.outcomes as o
            where o.market_id = p_draw.market_id and o.position = (v_draw ->> 'position')::smallint
        ),
        drawn_at = now()
    where d.market_id = p_draw.market_id;
end
$$;

-- The gates (the triggers of migration 0010) ------------------------------------------------------

-- _virtual_refused: raise `virtual_market` for market `p_market_id`. The detail never says
-- anything about the draw, so a refused call cannot be used to learn it.
create or replace function app._virtual_refused(p_market_id bigint, p_action text, p_reason text)
returns void
language plpgsql
set search_path = ''
as $$
begin
    perform app._fail('virtual_market', pg_catalog.jsonb_build_object(
        'market_id', p_market_id, 'action', p_action, 'reason', p_reason));
end
$$;

-- _virtual_market_changed: the market gate, after a status change (or the two-step switch) of
-- any market; nothing for a market without a draw. A virtual market closes only once closes_at
-- has passed, and its draw is fixed in that same transaction (whoever closes it: the scheduler,
-- close_market, or settle_market or propose_settlement on an open market, which are refused
-- after that by their own gates). A settled one stays settled; its settlement is never two-step.
-- Raises: virtual_market.
create or replace function app._virtual_market_changed(p_old app.markets, p_new app.markets)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = p_new.id for update;
    if not found then
        return;
    end if;
    if p_old.status = 'settled' and p_new.status <> 'settled' then
        perform app._virtual_refused(p_new.id, 'unsettle', 'a virtual market''s settlement is final');
    end if;
    if p_new.settlement_requires_confirmation and not p_old.settlement_requires_confirmation then
        perform app._virtual_refused(p_new.id, 'require_settlement_confirmation',
            'its result is drawn, not confirmed');
    end if;
    if p_old.status = 'open' and p_new.status = 'closed' then
        if p_new.closes_at > now() then
            perform app._fail('virtual_market', pg_catalog.jsonb_build_object(
                'market_id', p_new.id, 'action', 'close', 'reason', 'it closes at closes_at',
                'closes_at', p_new.closes_at));
        end if;
        perform app._fix_draw(v_draw);
    end if;
end
$$;

-- _virtual_settlement_written: the settlements gate: a virtual market is settled only by its
-- draw (app.settle_virtual_draws stamps the transaction when it reveals the seed) and only with
-- the drawn outcome. Any other settlement (settle_market, confirm_settlement, resettle_market)
-- is refused the same way whatever outcome it names, so trying outcomes teaches nothing.
-- Raises: virtual_market.
create or replace function app._virtual_settlement_written(p_new app.settlements)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = p_new.market_id;
    if not found then
        return;
    end if;
    if v_draw.reveal_reason is distinct from 'settled'
        or v_draw.revealed_xact is distinct from pg_catalog.pg_current_xact_id()
        or v_draw.winning_outcome_id is distinct from p_new.winning_outcome_id then
        perform app._virtual_refused(p_new.market_id, 'settle', 'only its draw settles it');
    end if;
end
$$;

-- _virtual_settlement_removed: a virtual market's settlement is never moved away (unsettle_market,
-- resettle_market).
-- Raises: virtual_market.
create or replace function app._virtual_settlement_removed(p_old app.settlements)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (select 1 from app.virtual_draws as d where d.market_id = p_old.market_id) then
        perform app._virtual_refused(p_old.market_id, 'unsettle', 'a virtual market''s settlement is final');
    end if;
end
$$;

-- _virtual_wager_approved: once the draw is fixed, the wagers in play are the ones it was drawn
-- with: a wager still pending stays out (settlement rejects and refunds it).
-- Raises: virtual_market.
create or replace function app._virtual_wager_approved(p_new app.wagers)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (
        select 1 from app.virtual_draws as d
        where d.market_id = p_new.market_id and d.client_seed is not null
    ) then
        perform app._virtual_refused(p_new.market_id, 'approve_wager', 'the draw is fixed');
    end if;
end
$$;

-- _virtual_proposal_made: nobody proposes a virtual market's result.
-- Raises: virtual_market.
create or replace function app._virtual_proposal_made(p_new app.settlement_proposals)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if exists (select 1 from app.virtual_draws as d where d.market_id = p_new.market_id) then
        perform app._virtual_refused(p_new.market_id, 'propose_settlement', 'its result is drawn');
    end if;
end
$$;

-- _virtual_draw_changed: a draw row is never deleted; its commitment never changes; the draw is
-- written once; a reveal is final. Refused even for the superuser (short of dropping the trigger).
-- Raises: virtual_market.
create or replace function app._virtual_draw_changed(
    p_op text,
    p_old app.virtual_draws,
    p_new app.virtual_draws
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE' then
        perform app._virtual_refused(p_old.market_id, 'delete', 'a draw is kept for good');
    end if;
    if (p_new.market_id, p_new.template, p_new.params, p_new.server_seed, p_new.server_seed_hash,
        p_new.nonce, p_new.created_at)
        is distinct from
        (p_old.market_id, p_old.template, p_old.params, p_old.server_seed, p_old.server_seed_hash,
            p_old.nonce, p_old.created_at) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the commitment never changes');
    end if;
    if p_old.client_seed is not null and (
        p_new.wager_ids, p_new.client_seed, p_new.hmac, p_new.result, p_new.winning_outcome_id,
        p_new.drawn_at
    ) is distinct from (
        p_old.wager_ids, p_old.client_seed, p_old.hmac, p_old.result, p_old.winning_outcome_id,
        p_old.drawn_at
    ) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the draw is fixed');
    end if;
    if p_old.revealed_at is not null
        and (p_new.revealed_at, p_new.reveal_reason, p_new.revealed_xact)
        is distinct from (p_old.revealed_at, p_old.reveal_reason, p_old.revealed_xact) then
        perform app._virtual_refused(p_old.market_id, 'update', 'the seed is revealed for good');
    end if;
end
$$;

-- Creating ------------------------------------------------------------------------------------

-- create_virtual_market(template, title, closes_at, options): a virtual market, open at once
-- (or a draft), with a committed server seed: 32 random bytes as 64 lowercase hex characters
-- (app._new_server_seed). Only its SHA-256 is answered and shown.
--   roulette  outcomes Red, Black, Green (pockets 1..36 by colour, 0 green)
--   dice      outcomes 'Under T' and 'Over T', T = options.threshold in hundredths (1 to 9999,
--             default 5000 = 50.00); a roll below T is Under, any other Over
-- options: kind ('parimutuel', the default, or 'fixed_odds'), threshold (dice), and the options of
-- create_market but category (always 'virtual') and closes_at (the argument).
-- Callers: admins. Changes: what create_market changes, the draw row; logs
-- create_virtual_market too; notifies created (when open).
-- Raises: not_admin, invalid_argument, invalid_option.
create or replace function public.create_virtual_market(
    template text,
    title text,
    closes_at timestamptz,
    options jsonb default '{}'
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_options jsonb := coalesce(create_virtual_market.options, '{}');
    v_kind text;
    v_params jsonb := '{}';
    v_threshold text;
    v_outcomes jsonb;
    v_market jsonb;
    v_seed text;
    v_draw app.virtual_draws;
begin
    if create_virtual_market.template is null
        or create_virtual_market.template not in ('roulette', 'dice') then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'template', 'value', create_virtual_market.template,
            'reason', 'roulette or dice'));
    end if;
    if create_virtual_market.closes_at is null or create_virtual_market.closes_at <= now() then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'closes_at', 'value', create_virtual_market.closes_at,
            'reason', 'a virtual market needs a closes_at in the future'));
    end if;
    if jsonb_typeof(v_options) <> 'object' then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', null, 'reason', 'options must be a JSON object'));
    end if;
    if v_options ?| array['category', 'closes_at'] then
        perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
            'option', case when v_options ? 'category' then 'category' else 'closes_at' end,
            'reason', 'set by create_virtual_market'));
    end if;
    v_kind := app._option_text(v_options, 'kind', 'parimutuel', array['parimutuel', 'fixed_odds']);

    if create_virtual_market.template = 'roulette' then
        if v_options ? 'threshold' then
            perform app._fail('invalid_option', pg_catalog.jsonb_build_object(
                'option', 'threshold', 'reason', 'dice only'));
        end if;
        v_outcomes := '[
            {"label": "Red", "color": "#d32f2f", "abbreviation": "R"},
            {"label": "Black", "color": "#212121", "abbreviation": "B"},
            {"label": "Green", "color": "#2e7d32", "abbreviation": "G"}
        ]';
    else
        v_params := pg_catalog.jsonb_build_object(
            'threshold', app._option_amount(v_options, 'threshold', 5000, 1, 9999));
        v_threshold := app._result_text('dice', (v_params ->> 'threshold')::integer);
        v_outcomes := pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('label', 'Under ' || v_threshold, 'abbreviation', 'U'),
            pg_catalog.jsonb_build_object('label', 'Over ' || v_threshold, 'abbreviation', 'O'));
    end if;

    v_market := public.create_market(
        create_virtual_market.title,
        v_outcomes,
        v_kind,
        (v_options - 'kind' - 'threshold') || pg_catalog.jsonb_build_object(
            'category', 'virtual', 'closes_at', create_virtual_market.closes_at));

    v_seed := app._new_server_seed();
    insert into app.virtual_draws (
        market_id, template, params, server_seed, server_seed_hash, nonce
    )
    values (
        (v_market ->> 'id')::bigint, create_virtual_market.template, v_params, v_seed,
        app._sha256_hex(v_seed), (v_market ->> 'id')::bigint
    )
    returning * into v_draw;

    perform app._audit('create_virtual_market', v_draw.market_id, null, null, null,
        pg_catalog.jsonb_build_object(
            'template', v_draw.template, 'params', v_draw.params,
            'server_seed_hash', v_draw.server_seed_hash, 'nonce', v_draw.nonce));
    return v_market || pg_catalog.jsonb_build_object(
        'template', v_draw.template, 'params', v_draw.params,
        'server_seed_hash', v_draw.server_seed_hash, 'nonce', v_draw.nonce);
end
$$;
grant execute on function public.create_virtual_market(text, text, timestamptz, jsonb)
to authenticated, service_role;

-- The scheduler -------------------------------------------------------------------------------

-- _reveal_draw: the seed of market `p_market_id` becomes readable ('settled' or 'void'), stamped
-- with this transaction; logs reveal_draw (actor_role 'scheduler') with the whole draw.
create or replace function app._reveal_draw(p_market_id bigint, p_reason text)
returns app.virtual_draws
language plpgsql
set search_path = ''
as $$
declare
    v_draw app.virtual_draws;
begin
    update app.virtual_draws as d
    set revealed_at = now(), reveal_reason = p_reason,
        revealed_xact = pg_catalog.pg_current_xact_id()
    where d.market_id = p_market_id
    returning * into v_draw;
    perform app._audit('reveal_draw', p_market_id, null, p_reason, null,
        pg_catalog.to_jsonb(v_draw) - 'revealed_xact', 'scheduler');
    return v_draw;
end
$$;

-- _notify_revealed: the public `draw_revealed` message: the seed and what it drew.
create or replace function app._notify_revealed(p_draw app.virtual_draws)
returns void
language sql
set search_path = ''
as $$
    select app._notify_market(p_draw.market_id, 'draw_revealed', pg_catalog.jsonb_build_object(
        'template', p_draw.template,
        'server_seed', p_draw.server_seed,
        'server_seed_hash', p_draw.server_seed_hash,
        'client_seed', p_draw.client_seed,
        'nonce', p_draw.nonce,
        'result', p_draw.result,
        'winning_outcome_id', p_draw.winning_outcome_id,
        'reveal_reason', p_draw.reveal_reason))
$$;

-- settle_virtual_draws(): settle every closed virtual market whose draw is fixed, each with its
-- drawn outcome, revealing its seed in the same transaction. Each market is locked with
-- `for no key update skip locked` (one that another transaction holds waits for the next tick)
-- and settled in a subtransaction: a market that fails is rolled back alone, reported in
-- `failed` and raised as a warning, and tried again next tick; the others go on.
-- Callers: the scheduler (through scheduler_tick), never a client role.
-- Returns {drawn (ids settled), failed ([{market_id, sqlstate, error, detail}])}.
create or replace function app.settle_virtual_draws()
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_outcome bigint;
    v_draw app.virtual_draws;
    v_drawn bigint[] := '{}';
    v_failed jsonb := '[]';
    v_state text;
    v_error text;
    v_detail text;
begin
    for v_id, v_outcome in
        select d.market_id, d.winning_outcome_id
        from app.virtual_draws as d
        inner join app.markets as m on d.market_id = m.id
        where d.revealed_at is null and d.client_seed is not null and m.status = 'closed'
        order by d.market_id
        for no key update of m skip locked
    loop
        begin
            v_draw := app._reveal_draw(v_id, 'settled');
            perform app._settle_market(v_id, v_outcome, null, 'scheduler');
            perform app._notify_revealed(v_draw);
            v_drawn := v_drawn || v_id;
        exception when others then
            get stacked diagnostics
                v_state = returned_sqlstate, v_error = message_text, v_detail = pg_exception_detail;
            v_failed := v_failed || pg_catalog.jsonb_build_object(
                'market_id', v_id, 'sqlstate', v_state, 'error', v_error, 'detail', v_detail);
            raise warning 'virtual market % was not settled: % %', v_id, v_error, v_detail;
        end;
    end loop;
    return pg_catalog.jsonb_build_object('drawn', to_jsonb(v_drawn), 'failed', v_failed);
end
$$;

-- reveal_void_draws(): reveal the seed of every voided virtual market (no draw will use it).
-- Done by the scheduler rather than by void_market, so that no client ever holds a transaction
-- in which a seed is readable and could still be rolled back.
-- Callers: the scheduler (through scheduler_tick), never a client role. Returns the ids.
create or replace function app.reveal_void_draws()
returns bigint[]
language plpgsql
set search_path = ''
as $$
declare
    v_id bigint;
    v_revealed bigint[] := '{}';
begin
    for v_id in
        select d.market_id
        from app.virtual_draws as d
        inner join app.markets as m on d.market_id = m.id
        where d.revealed_at is null and m.status = 'void'
        order by d.market_id
        for update of d skip locked
    loop
        perform app._notify_revealed(app._reveal_draw(v_id, 'void'));
        v_revealed := v_revealed || v_id;
    end loop;
    return v_revealed;
end
$$;

-- Reading -------------------------------------------------------------------------------------

-- _virtual_draw_rows(): every draw of a market the caller may see (drafts: admins only): the
-- commitment always, the client seed once fixed, the seed and what it drew only once revealed.
-- Read by the view public.virtual_draws; no client role reads app.virtual_draws itself.
create or replace function app._virtual_draw_rows()
returns table (
    market_id bigint,
    template text,
    params jsonb,
    status text,
    closes_at timestamptz,
    server_seed_hash text,
    nonce bigint,
    client_seed text,
    revealed boolean,
    server_seed text,
    hmac text,
    result integer,
    winning_outcome_id bigint,
    created_at timestamptz,
    drawn_at timestamptz,
    revealed_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
    select
        d.market_id,
        d.template,
        d.params,
        m.status,
        m.closes_at,
        d.server_seed_hash,
        d.nonce,
        d.client_seed,
        d.revealed_at is not null,
        case when d.revealed_at is not null then d.server_seed end,
        case when d.revealed_at is not null then d.hmac end,
        case when d.revealed_at is not null then d.result end,
        case when d.revealed_at is not null then d.winning_outcome_id end,
        d.created_at,
        d.drawn_at,
        d.revealed_at
    from app.virtual_draws as d
    inner join app.markets as m on d.market_id = m.id
    where m.status <> 'draft' or app._is_admin()
$$;

-- The provably-fair draws, one row per virtual market anyone may see (drafts: admins only).
create view public.virtual_draws with (security_invoker = true) as
select
    d.market_id,
    d.template,
    d.params,
    d.status,
    d.closes_at,
    d.server_seed_hash,
    d.nonce,
    d.client_seed,
    d.revealed,
    d.server_seed,
    d.hmac,
    d.result,
    d.winning_outcome_id,
    d.created_at,
    d.drawn_at,
    d.revealed_at
from app._virtual_draw_rows() as d;
grant select on public.virtual_draws to anon, authenticated, service_role;

-- verify_draw(market_id): everything needed to check a virtual market's draw, and the check done.
-- Always: template, params, server_seed_hash, nonce, status. Once closed: client_seed, the
-- wager_ids it was made of and client_seed_input (the exact text hashed). Once revealed
-- (settled or voided): server_seed, and recomputed here from it (not copied): hmac, result,
-- result_text, outcome (id, position, label), with checks: seed_matches_hash (sha256(seed) =
-- the commitment), client_seed_matches (sha256(client_seed_input) = client_seed), draw_matches
-- (the recomputed hmac and result = those recorded at close), outcome_matches_settlement (the
-- recomputed outcome = the settled winner; null for a void), and `verified`: all of those that
-- apply are true. Before the reveal: `revealed: false`, no seed, no draw.
-- Callers: anyone (anon included); drafts only admins. Changes: nothing.
-- Raises: market_not_found, not_virtual.
create or replace function public.verify_draw(market_id bigint)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_market app.markets := app._visible_market(verify_draw.market_id);
    v_draw app.virtual_draws;
    v_input text;
    v_answer jsonb;
    v_recomputed jsonb;
    v_outcome app.outcomes;
    v_seed_ok boolean;
    v_client_ok boolean;
    v_draw_ok boolean;
    v_settled_ok boolean;
begin
    select * into v_draw from app.virtual_draws as d where d.market_id = v_market.id;
    if not found then
        perform app._fail('not_virtual', pg_catalog.jsonb_build_object('market_id', v_market.id));
    end if;
    v_answer := pg_catalog.jsonb_build_object(
        'market_id', v_market.id,
        'template', v_draw.template,
        'params', v_draw.params,
        'status', v_market.status,
        'closes_at', v_market.closes_at,
        'server_seed_hash', v_draw.server_seed_hash,
        'nonce', v_draw.nonce,
        'drawn', v_draw.client_seed is not null,
        'revealed', v_draw.revealed_at is not null);
    if v_draw.client_seed is not null then
        v_input := app._client_seed_input(v_draw.market_id, v_draw.wager_ids);
        v_answer := v_answer || pg_catalog.jsonb_build_object(
            'client_seed', v_draw.client_seed,
            'wager_ids', to_jsonb(v_draw.wager_ids),
            'client_seed_input', v_input,
            'hmac_message', v_draw.client_seed || ':' || v_draw.nonce::text,
            'drawn_at', v_draw.drawn_at);
    end if;
    if v_draw.revealed_at is null then
        return v_answer;
    end if;

    v_seed_ok := app._sha256_hex(v_draw.server_seed) = v_draw.server_seed_hash;
    v_answer := v_answer || pg_catalog.jsonb_build_object(
        'server_seed', v_draw.server_seed,
        'revealed_at', v_draw.revealed_at,
        'reveal_reason', v_draw.reveal_reason,
        'seed_matches_hash', v_seed_ok);
    if v_draw.client_seed is null then
        -- voided before it closed: nothing was drawn
        return v_answer || pg_catalog.jsonb_build_object('verified', v_seed_ok);
    end if;

    v_client_ok := app._sha256_hex(v_input) = v_draw.client_seed;
    v_recomputed := app._virtual_draw(
        v_draw.template, v_draw.params, v_draw.server_seed, v_draw.client_seed, v_draw.nonce);
    select * into v_outcome
    from app.outcomes as o
    where o.market_id = v_market.id and o.position = (v_recomputed ->> 'position')::smallint;
    v_draw_ok := v_recomputed ->> 'hmac' = v_draw.hmac
        and (v_recomputed ->> 'result')::integer = v_draw.result
        and v_outcome.id = v_draw.winning_outcome_id;
    if v_market.status = 'settled' then
        v_settled_ok := v_outcome.id = v_market.winning_outcome_id;
    end if;
    return v_answer || pg_catalog.jsonb_build_object(
        'client_seed_matches', v_client_ok,
        'hmac', v_recomputed -> 'hmac',
        'result', v_recomputed -> 'result',
        'result_text', app._result_text(v_draw.template, (v_recomputed ->> 'result')::integer),
        'outcome', pg_catalog.jsonb_build_object(
            'outcome_id', v_outcome.id, 'position', v_outcome.position, 'label', v_outcome.label),
        'draw_matches', v_draw_ok,
        'settled_outcome_id', v_market.winning_outcome_id,
        'outcome_matches_settlement', v_settled_ok,
        'verified', v_seed_ok and v_client_ok and v_draw_ok and coalesce(v_settled_ok, true));
end
$$;
grant execute on function public.verify_draw(bigint) to anon, authenticated, service_role;

-- ==== rpc/78_house_fairness.sql
reset all;

-- House games' fairness (migrations 0021 and 0026; docs/house-games.md, docs/provably-fair.md):
-- the RNG every house game draws from, and the players' seed pairs it is keyed with (BetService
-- sections 4 and 4.1). rpc/79_house_rules.sql says what each game makes of the draws,
-- rpc/80_house_games.sql plays them.
--
-- The RNG, exactly as BetService 4.1 writes it: sample k (0-based) of a bet is
--   hmac_r = HMAC-SHA256(key = server_seed, message = client_seed || ':' || nonce || ':' || r)
--   with r = k / 8, and its bytes 4 * (k % 8) .. + 3 as b0..b3:
--   floor(((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) * limit / 2^32)
-- = floor(sum(b_i / 256^(i+1)) * limit), exact in integers. Dice, limbo and roulette draw sample
-- 0; plinko samples 0 .. rows - 1, keno 0 .. 9, mines 0 .. mines - 1 (the shuffle below).
--
-- Seeds: get_seed (the active pair's commitment, made on first use), rotate_seed (reveals the
-- pair and starts a new one at nonce 0), get_revealed_seed (a revealed pair by its hash). No
-- client role reads app.seed_pairs, admins and the service role included: a server seed reaches
-- a client only once its pair is revealed.

-- The RNG --------------------------------------------------------------------------------------

-- _house_hmac: the HMAC of round `p_round` of bet `p_nonce`: HMAC-SHA256 (app._hmac_sha256,
-- rpc/75_virtual.sql) keyed with the server seed's text, over client_seed:nonce:round.
create or replace function app._house_hmac(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_round integer
)
returns bytea
language sql stable strict parallel safe
set search_path = ''
as $$
    select app._hmac_sha256(
        convert_to(p_server_seed, 'UTF8'),
        convert_to(p_client_seed || ':' || p_nonce::text || ':' || p_round::text, 'UTF8'))
$$;

-- _house_value: the number in [0, p_limit) that bytes p_at .. p_at + 3 of `p_mac` name, read as a
-- big-endian unsigned n: floor(n * limit / 2^32), exact in numeric. The limit is 1 to 2^32 (null
-- otherwise).
create or replace function app._house_value(p_mac bytea, p_at integer, p_limit bigint)
returns bigint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case when p_limit between 1 and 4294967296 then
        div((
            get_byte(p_mac, p_at)::bigint * 16777216
            + get_byte(p_mac, p_at + 1)::bigint * 65536
            + get_byte(p_mac, p_at + 2)::bigint * 256
            + get_byte(p_mac, p_at + 3)::bigint
        )::numeric * p_limit, 4294967296)::bigint
    end
$$;

-- _house_random: sample `p_cursor` (0-based) of bet `p_nonce`, a number in [0, p_limit): the four
-- bytes 4 * (cursor % 8) .. + 3 of round cursor / 8's HMAC (_house_value). The limit is 1 to
-- 2^32, the cursor from 0 (null otherwise). Games that need many samples draw them with
-- _house_samples, the same numbers for one HMAC per round.
create or replace function app._house_random(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_cursor integer,
    p_limit bigint
)
returns bigint
language sql stable strict parallel safe
set search_path = ''
as $$
    select case when p_cursor >= 0 then app._house_value(
        app._house_hmac(p_server_seed, p_client_seed, p_nonce, p_cursor / 8),
        4 * (p_cursor % 8), p_limit)
    end
$$;

-- _house_samples: samples 0 .. n - 1 of bet `p_nonce`, sample k with limit p_limits[k + 1]: the
-- numbers _house_random gives for cursors 0 .. n - 1, computing each round's HMAC once (plinko's
-- 16 rows take 2 HMACs, not 16); a limit out of range gives a null element. The rounds are
-- materialized: a plain CTE is pulled up into the join, and its HMAC computed once per sample.
create or replace function app._house_samples(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_limits bigint[]
)
returns bigint[]
language sql stable strict parallel safe
set search_path = ''
as $$
    with rounds as materialized (
        select r.r, app._house_hmac(p_server_seed, p_client_seed, p_nonce, r.r) as mac
        from pg_catalog.generate_series(0, (cardinality(p_limits) - 1) / 8) as r (r)
    )

    select array_agg(
        app._house_value(m.mac, 4 * ((l.k::integer - 1) % 8), l.limit_value) order by l.k
    )
    from unnest(p_limits) with ordinality as l (limit_value, k)
    inner join rounds as m on m.r = (l.k - 1) / 8
$$;

-- _house_bet_id: the id of a round: 'bet-' and the first 16 bytes of
-- sha256(server_seed_hash || ':' || client_seed || ':' || nonce) written as a uuid (8-4-4-4-12
-- lowercase hex). Derived from the round (BetService section 1: bet-{uuid(hash(seedData))}), so
-- a round has one id whoever asks; made of the commitment, never of the seed.
create or replace function app._house_bet_id(
    p_server_seed_hash text,
    p_client_seed text,
    p_nonce bigint
)
returns text
language sql stable strict parallel safe
set search_path = ''
as $$
    select 'bet-' || encode(substring(sha256(convert_to(
        p_server_seed_hash || ':' || p_client_seed || ':' || p_nonce::text, 'UTF8'
    )) from 1 for 16), 'hex')::uuid::text
$$;

-- _house_shuffle: the first `p_count` values of a Fisher-Yates shuffle of 1 .. `p_size` drawn from
-- round `p_nonce` (BetService's "Fisher-Yates select gemsCount of tilesCount"): start from the
-- array 1 .. size in order; for i = 0 .. count - 1, sample i (cursor i) with limit size - i gives
-- r, and the values at positions i and i + r (0-based) change places. The answer is positions
-- 0 .. count - 1, in the order drawn. So the limits shrink by one per sample: size, size - 1, ...,
-- size - count + 1. Keno draws 10 of 40 tiles.
create or replace function app._house_shuffle(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_size integer,
    p_count integer
)
returns integer[]
language plpgsql stable strict parallel safe
set search_path = ''
as $$
declare
    v_board integer[] := array(select pg_catalog.generate_series(1, p_size));
    v_samples bigint[] := app._house_samples(p_server_seed, p_client_seed, p_nonce,
        array(select p_size - i from pg_catalog.generate_series(0, p_count - 1) as i order by i));
    v_at integer;
    v_value integer;
begin
    for v_i in 0 .. p_count - 1 loop
        v_at := v_i + v_samples[v_i + 1];
        v_value := v_board[v_i + 1];
        v_board[v_i + 1] := v_board[v_at + 1];
        v_board[v_at + 1] := v_value;
    end loop;
    return v_board[1:p_count];
end
$$;


-- Seed pairs -----------------------------------------------------------------------------------

-- _client_seed: a client seed as given, refused unless 1 to 64 printable ASCII characters (so
-- that any HMAC tool reads it as the engine does); null gives a random one (32 hex characters).
-- Raises: invalid_argument.
create or replace function app._client_seed(p_client_seed text)
returns text
language plpgsql volatile
set search_path = ''
as $$
begin
    if p_client_seed is null then
        return replace(gen_random_uuid()::text, '-', '');
    end if;
    if p_client_seed !~ '^[ -~]{1,64}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'client_seed', 'length', length(p_client_seed),
            'reason', '1 to 64 printable ASCII characters'));
    end if;
    return p_client_seed;
end
$$;

-- _active_seed_pair: user `p_user`'s active seed pair, locked for update when `p_lock`, made on
-- first use (a new server seed, a random client seed, nonce 0). When the statement finds none
-- (the first use, or a rotation that committed while this one waited for the lock: the row it
-- waited for is revealed, and the new one is newer than its snapshot), it inserts, or meets the
-- other transaction's row on the one-active index, and reads again.
-- Raises: unknown_user (the user does not exist or was deleted).
create or replace function app._active_seed_pair(p_user uuid, p_lock boolean)
returns app.seed_pairs
language plpgsql
set search_path = ''
as $$
declare
    v_pair app.seed_pairs;
    v_seed text;
begin
    for v_attempt in 1..3 loop
        if p_lock then
            select * into v_pair from app.seed_pairs as s
            where s.user_id = p_user and s.revealed_at is null
            for update;
        else
            select * into v_pair from app.seed_pairs as s
            where s.user_id = p_user and s.revealed_at is null;
        end if;
        if found then
            return v_pair;
        end if;
        if not exists (
            select 1 from auth.users as u where u.id = p_user and u.deleted_at is null
        ) then
            perform app._fail('unknown_user', pg_catalog.jsonb_build_object('user_id', p_user));
        end if;
        v_seed := app._new_server_seed();
        insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
        values (p_user, v_seed, app._sha256_hex(v_seed), app._client_seed(null))
        on conflict (user_id) where revealed_at is null do nothing;
    end loop;
    -- never: each round above inserts, or finds the pair another transaction committed
    raise exception 'no active seed pair for user %', p_user;
end
$$;

-- _seed_pair_json: a pair as its owner's answers show it; the server seed only once revealed.
create or replace function app._seed_pair_json(p_pair app.seed_pairs)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'seed_pair_id', p_pair.id,
        'server_seed_hash', p_pair.server_seed_hash,
        'client_seed', p_pair.client_seed,
        'next_nonce', p_pair.next_nonce,
        'created_at', p_pair.created_at,
        'revealed', p_pair.revealed_at is not null
    ) || case when p_pair.revealed_at is not null then pg_catalog.jsonb_build_object(
        'server_seed', p_pair.server_seed,
        'last_nonce', nullif(p_pair.next_nonce, 0) - 1,
        'revealed_at', p_pair.revealed_at
    ) else '{}' end
$$;

-- get_seed(): the caller's active seed pair: its commitment (server_seed_hash), its client seed
-- and the nonce the next bet draws (next_nonce); never its server seed. Made on first use.
-- Callers: authenticated. Changes: may create the pair.
-- Raises: not_authenticated, unknown_user.
create or replace function public.get_seed()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._seed_pair_json(app._active_seed_pair(app._require_user(), false));
end
$$;
grant execute on function public.get_seed() to authenticated;

-- rotate_seed(client_seed): the caller's active pair is revealed (from now on its server seed is
-- readable: get_revealed_seed, the my_seed_pairs and house_bets views) and draws no more; a new
-- pair with a new server seed and `client_seed` (null: a random one) starts at nonce 0. The answer
-- carries the revealed pair's hash, client seed and last nonce, not its server seed: a client
-- reads that once the rotation has committed, so no transaction that could still be rolled back
-- ever shows the seed of a pair that would then go on drawing. Refused while a multi-step round of
-- the caller is open (a house bet still `created`). Serialised with the caller's bets by the lock
-- on the active pair: each bet drew from the pair it names.
-- Callers: authenticated. Changes: the old pair's revealed_at, a new pair.
-- Returns {revealed: the old pair (seed_pair_id, server_seed_hash, client_seed, next_nonce,
-- created_at, revealed: true, revealed_at, last_nonce: its last bet's nonce or null),
-- active: the new pair as get_seed shows it}.
-- Raises: not_authenticated, unknown_user, invalid_argument (client seed), round_in_progress.
create or replace function public.rotate_seed(client_seed text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_client_seed text := app._client_seed(rotate_seed.client_seed);
    v_old app.seed_pairs := app._active_seed_pair(v_user, true);
    v_open text;
    v_seed text := app._new_server_seed();
    v_new app.seed_pairs;
begin
    select b.id into v_open
    from app.house_bets as b
    where b.user_id = v_user and b.status = 'created'
    limit 1;
    if v_open is not null then
        perform app._fail('round_in_progress', pg_catalog.jsonb_build_object(
            'bet_id', v_open, 'seed_pair_id', v_old.id));
    end if;
    update app.seed_pairs as s
    set revealed_at = now()
    where s.id = v_old.id
    returning * into v_old;
    insert into app.seed_pairs (user_id, server_seed, server_seed_hash, client_seed)
    values (v_user, v_seed, app._sha256_hex(v_seed), v_client_seed)
    returning * into v_new;
    return pg_catalog.jsonb_build_object(
        'revealed', app._seed_pair_json(v_old) - 'server_seed',
        'active', app._seed_pair_json(v_new));
end
$$;
grant execute on function public.rotate_seed(text) to authenticated;

-- get_revealed_seed(server_seed_hash): the revealed seed pair with this commitment: server_seed
-- (check: its SHA-256 is the hash), client_seed, next_nonce (how many bets it drew) and last_nonce
-- (the last bet's, null for none), created_at, revealed_at; whose it is is not said. A pair still
-- active is refused exactly like an unknown hash.
-- Callers: anyone (anon included). Changes: nothing.
-- Raises: seed_not_found.
create or replace function public.get_revealed_seed(server_seed_hash text)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_pair app.seed_pairs;
begin
    select * into v_pair
    from app.seed_pairs as s
    where s.server_seed_hash = lower(btrim(get_revealed_seed.server_seed_hash))
        and s.revealed_at is not null;
    if not found then
        perform app._fail('seed_not_found', pg_catalog.jsonb_build_object(
            'server_seed_hash', get_revealed_seed.server_seed_hash));
    end if;
    return app._seed_pair_json(v_pair);
end
$$;
grant execute on function public.get_revealed_seed(text) to anon, authenticated, service_role;

-- _revealed_server_seed: the server seed of pair `p_seed_pair_id` once revealed, else null. What
-- the house_bets view shows; revealed seeds are public (get_revealed_seed), the others nobody's.
create or replace function app._revealed_server_seed(p_seed_pair_id bigint)
returns text
language sql stable
security definer
set search_path = ''
as $$
    select s.server_seed from app.seed_pairs as s
    where s.id = p_seed_pair_id and s.revealed_at is not null
$$;

-- _seed_pair_rows(): the caller's own seed pairs (an admin's too: their own), the server seed only
-- once revealed. Read by the view public.my_seed_pairs; no client role reads app.seed_pairs
-- itself. Admins see every bet's commitment, client seed and nonce in house_bets.
create or replace function app._seed_pair_rows()
returns table (
    id bigint,
    user_id uuid,
    server_seed_hash text,
    client_seed text,
    next_nonce bigint,
    revealed boolean,
    server_seed text,
    created_at timestamptz,
    revealed_at timestamptz
)
language sql stable
security definer
set search_path = ''
as $$
    select
        s.id,
        s.user_id,
        s.server_seed_hash,
        s.client_seed,
        s.next_nonce,
        s.revealed_at is not null,
        case when s.revealed_at is not null then s.server_seed end,
        s.created_at,
        s.revealed_at
    from app.seed_pairs as s
    where s.user_id = (select auth.uid())
$$;

-- ==== rpc/79_house_rules.sql
reset all;

-- House games' rules (migrations 0021 and 0026; docs/house-games.md): what a bet of each one-shot
-- game pays if it wins, decided from the player's choices before anything is drawn
-- (_house_terms), what it draws from its round (_house_draw, with the RNG of
-- rpc/78_house_fairness.sql) and what it pays (_house_outcome): dice, limbo, roulette (single
-- zero), plinko and keno, with their tables. Pure functions: nothing here reads or writes a table.

-- The games ------------------------------------------------------------------------------------

-- _roulette_color: 'red', 'black' or 'green' (0): the wheel of the virtual roulette
-- (app._draw_position, rpc/75_virtual.sql).
create or replace function app._roulette_color(p_pocket integer)
returns text
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case app._draw_position('roulette', '{}', p_pocket)
        when 1 then 'red' when 2 then 'black' else 'green'
    end
$$;

-- _roulette_multiplier: what roulette bet `p_bet` pays per unit staked when it wins (the stake
-- included): a pocket '0'..'36' 36, a dozen or column 3, red, black, odd, even, low, high 2; null
-- for anything else.
create or replace function app._roulette_multiplier(p_bet text)
returns integer
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case
        when p_bet ~ '^(0|[1-9]|[12][0-9]|3[0-6])$' then 36
        when p_bet in ('dozen1', 'dozen2', 'dozen3', 'column1', 'column2', 'column3') then 3
        when p_bet in ('red', 'black', 'odd', 'even', 'low', 'high') then 2
    end
$$;

-- _roulette_wins: whether bet `p_bet` wins on pocket `p_pocket`. 0 wins only a bet on 0 itself:
-- it is neither red nor black, odd nor even, low nor high, and in no dozen or column.
--   low 1-18, high 19-36; dozenK 12K-11 .. 12K; columnK the pockets p with p % 3 = K % 3
create or replace function app._roulette_wins(p_bet text, p_pocket integer)
returns boolean
language sql immutable strict parallel safe
set search_path = ''
as $$
    select case
        when p_bet ~ '^[0-9]+$' then p_bet::integer = p_pocket
        when p_pocket = 0 then false
        when p_bet in ('red', 'black') then app._roulette_color(p_pocket) = p_bet
        when p_bet = 'odd' then p_pocket % 2 = 1
        when p_bet = 'even' then p_pocket % 2 = 0
        when p_bet = 'low' then p_pocket <= 18
        when p_bet = 'high' then p_pocket >= 19
        when p_bet like 'dozen_' then (p_pocket - 1) / 12 + 1 = right(p_bet, 1)::integer
        when p_bet like 'column_' then p_pocket % 3 = right(p_bet, 1)::integer % 3
        else false
    end
$$;

-- _limbo_top: the highest crash point limbo can draw at edge `p_edge_bps`, in hundredths (n = 1):
-- floor(2^32 * (10000 - edge) / 100).
create or replace function app._limbo_top(p_edge_bps integer)
returns bigint
language sql immutable strict parallel safe
set search_path = ''
as $$
    select div(4294967296::numeric * (10000 - p_edge_bps), 100)::bigint
$$;

-- _plinko_multipliers: plinko's table for `p_rows` rows (8 to 16) at risk `p_risk` ('low',
-- 'medium', 'high'): what bucket k (0 to rows, the count of rights) pays per unit staked, in
-- hundredths, buckets 0 .. rows in order; null for other rows or risks. Stake's well-known tables,
-- each with its two outermost buckets moved by the few hundredths that make its RTP exactly 99%:
-- sum over k of C(rows, k) * hundredths_k = 99 * 2^rows (docs/house-games.md; the tests prove it).
create or replace function app._plinko_multipliers(p_rows integer, p_risk text)
returns integer[]
language sql immutable strict parallel safe
set search_path = ''
as $$
    select t.hundredths::integer[]
    from (values
        (8, 'low', '{562, 210, 110, 100, 50, 100, 110, 210, 562}'),
        (8, 'medium', '{1312, 300, 130, 70, 40, 70, 130, 300, 1312}'),
        (8, 'high', '{2892, 400, 150, 30, 20, 30, 150, 400, 2892}'),
        (9, 'low', '{564, 200, 160, 100, 70, 70, 100, 160, 200, 564}'),
        (9, 'medium', '{1764, 400, 170, 90, 50, 50, 90, 170, 400, 1764}'),
        (9, 'high', '{4284, 700, 200, 60, 20, 20, 60, 200, 700, 4284}'),
        (10, 'low', '{888, 300, 140, 110, 100, 50, 100, 110, 140, 300, 888}'),
        (10, 'medium', '{2248, 500, 200, 140, 60, 40, 60, 140, 200, 500, 2248}'),
        (10, 'high', '{7568, 1000, 300, 90, 30, 20, 30, 90, 300, 1000, 7568}'),
        (11, 'low', '{836, 300, 190, 130, 100, 70, 70, 100, 130, 190, 300, 836}'),
        (11, 'medium', '{2376, 600, 300, 180, 70, 50, 50, 70, 180, 300, 600, 2376}'),
        (11, 'high', '{11836, 1400, 520, 140, 40, 20, 20, 40, 140, 520, 1400, 11836}'),
        (12, 'low', '{1042, 300, 160, 140, 110, 100, 50, 100, 110, 140, 160, 300, 1042}'),
        (12, 'medium', '{3322, 1100, 400, 200, 110, 60, 30, 60, 110, 200, 400, 1100, 3322}'),
        (12, 'high', '{16762, 2400, 810, 200, 70, 20, 20, 20, 70, 200, 810, 2400, 16762}'),
        (13, 'low', '{814, 400, 300, 190, 120, 90, 70, 70, 90, 120, 190, 300, 400, 814}'),
        (13, 'medium', '{4324, 1300, 600, 300, 130, 70, 40, 40, 70, 130, 300, 600, 1300, 4324}'),
        (13, 'high', '{25644, 3700, 1100, 400, 100, 20, 20, 20, 20, 100, 400, 1100, 3700, 25644}'),
        (14, 'low', '{708, 400, 190, 140, 130, 110, 100, 50, 100, 110, 130, 140, 190, 400, 708}'),
        (14, 'medium', '{5848, 1500, 700, 400, 190, 100, 50, 20, 50, 100, 190, 400, 700, 1500, 5848}'),
        (14, 'high', '{42178, 5600, 1800, 500, 190, 30, 20, 20, 20, 30, 190, 500, 1800, 5600, 42178}'),
        (15, 'low', '{1486, 800, 300, 200, 150, 110, 100, 70, 70, 100, 110, 150, 200, 300, 800, 1486}'),
        (15, 'medium', '{8826, 1800, 1100, 500, 300, 130, 50, 30, 30, 50, 130, 300, 500, 1100, 1800, 8826}'),
        (15, 'high', '{61566, 8300, 2700, 800, 300, 50, 20, 20, 20, 20, 50, 300, 800, 2700, 8300, 61566}'),
        (16, 'low', '{1642, 900, 200, 140, 140, 120, 110, 100, 50, 100, 110, 120, 140, 140, 200, 900, 1642}'),
        (16, 'medium', '{11382, 4100, 1000, 500, 300, 150, 100, 50, 30, 50, 100, 150, 300, 500, 1000, 4100, 11382}'),
        (16, 'high', '{100772, 13000, 2600, 900, 400, 200, 20, 20, 20, 20, 20, 200, 400, 900, 2600, 13000, 100772}')
    ) as t (row_count, risk, hundredths)
    where t.row_count = p_rows and t.risk = p_risk
$$;

-- _keno_multipliers: keno's table for `p_picks` picks (1 to 10) at risk `p_risk` ('classic',
-- 'low', 'medium', 'high'): what h hits (0 to picks) pay per unit staked, in hundredths, in order
-- of h; null for other picks or risks. Stake's well-known tables as published; each table's RTP,
-- exact from the hypergeometric distribution, is in docs/house-games.md (98.65% to 99.07%).
create or replace function app._keno_multipliers(p_picks integer, p_risk text)
returns integer[]
language sql immutable strict parallel safe
set search_path = ''
as $$
    select t.hundredths::integer[]
    from (values
        (1, 'classic', '{0, 396}'),
        (2, 'classic', '{0, 190, 450}'),
        (3, 'classic', '{0, 100, 310, 1040}'),
        (4, 'classic', '{0, 80, 180, 500, 2250}'),
        (5, 'classic', '{0, 25, 140, 410, 1650, 3600}'),
        (6, 'classic', '{0, 0, 100, 368, 700, 1650, 4000}'),
        (7, 'classic', '{0, 0, 47, 300, 450, 1400, 3100, 6000}'),
        (8, 'classic', '{0, 0, 0, 220, 400, 1300, 2200, 5500, 7000}'),
        (9, 'classic', '{0, 0, 0, 155, 300, 800, 1500, 4400, 6000, 8500}'),
        (10, 'classic', '{0, 0, 0, 140, 225, 450, 800, 1700, 5000, 8000, 10000}'),
        (1, 'low', '{70, 185}'),
        (2, 'low', '{0, 200, 380}'),
        (3, 'low', '{0, 110, 138, 2600}'),
        (4, 'low', '{0, 0, 220, 790, 9000}'),
        (5, 'low', '{0, 0, 150, 420, 1300, 30000}'),
        (6, 'low', '{0, 0, 110, 200, 620, 10000, 70000}'),
        (7, 'low', '{0, 0, 110, 160, 350, 1500, 22500, 70000}'),
        (8, 'low', '{0, 0, 110, 150, 200, 550, 3900, 10000, 80000}'),
        (9, 'low', '{0, 0, 110, 130, 170, 250, 750, 5000, 25000, 100000}'),
        (10, 'low', '{0, 0, 110, 120, 130, 180, 350, 1300, 5000, 25000, 100000}'),
        (1, 'medium', '{40, 275}'),
        (2, 'medium', '{0, 180, 510}'),
        (3, 'medium', '{0, 0, 280, 5000}'),
        (4, 'medium', '{0, 0, 170, 1000, 10000}'),
        (5, 'medium', '{0, 0, 140, 400, 1400, 39000}'),
        (6, 'medium', '{0, 0, 0, 300, 900, 18000, 71000}'),
        (7, 'medium', '{0, 0, 0, 200, 700, 3000, 40000, 80000}'),
        (8, 'medium', '{0, 0, 0, 200, 400, 1100, 6700, 40000, 90000}'),
        (9, 'medium', '{0, 0, 0, 200, 250, 500, 1500, 10000, 50000, 100000}'),
        (10, 'medium', '{0, 0, 0, 160, 200, 400, 700, 2600, 10000, 50000, 100000}'),
        (1, 'high', '{0, 396}'),
        (2, 'high', '{0, 0, 1710}'),
        (3, 'high', '{0, 0, 0, 8150}'),
        (4, 'high', '{0, 0, 0, 1000, 25900}'),
        (5, 'high', '{0, 0, 0, 450, 4800, 45000}'),
        (6, 'high', '{0, 0, 0, 0, 1100, 35000, 71000}'),
        (7, 'high', '{0, 0, 0, 0, 700, 9000, 40000, 80000}'),
        (8, 'high', '{0, 0, 0, 0, 500, 2000, 27000, 60000, 90000}'),
        (9, 'high', '{0, 0, 0, 0, 400, 1100, 5600, 50000, 80000, 100000}'),
        (10, 'high', '{0, 0, 0, 0, 350, 800, 1300, 6300, 50000, 80000, 100000}')
    ) as t (picks, risk, hundredths)
    where t.picks = p_picks and t.risk = p_risk
$$;

-- _house_terms: what a bet pays if it wins, decided before anything is drawn, from the player's
-- choices `p_params`, the game's edge `p_edge_bps` and the stake (a valid one: _stake_refusal):
--   dice     {target, over}: target in hundredths; over wins on a roll above it (target 0 to
--            9998), under on a roll below it (1 to 9999). chance (in hundredths of a percent) =
--            9999 - target over, target under; multiplier (10000 - edge) / chance;
--            win_payout floor(stake * (10000 - edge) / chance)
--   limbo    {target}: the target multiplier in hundredths, 101 to _limbo_top(edge) (above it no
--            crash point reaches: a win would be impossible); multiplier target / 100;
--            win_payout floor(stake * target / 100)
--   roulette {bet}: _roulette_multiplier; win_payout stake * multiplier
--   plinko   {rows, risk}: rows 8 to 16, risk low, medium or high (_plinko_multipliers); the
--            draw decides the bucket, so multiplier is the table's highest and win_payout
--            floor(stake * it): the best the bet can pay
--   keno     {picks, risk}: 1 to 10 distinct tiles from 1 to 40 (stored in ascending order),
--            risk classic, low, medium or high (_keno_multipliers); multiplier the row's highest
--            (all picks hit), win_payout floor(stake * it)
-- Returns {params (as stored), multiplier (dice: rounded to 4 decimals, for display), win_payout
-- (exact, numeric: it is checked against max profit before anything is cast), and for dice
-- chance}.
-- Raises: invalid_argument.
create or replace function app._house_terms(
    p_game text,
    p_params jsonb,
    p_edge_bps integer,
    p_stake bigint
)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
    v_target bigint;
    v_over boolean;
    v_chance bigint;
    v_bet text;
    v_multiplier integer;
    v_risk text := lower(btrim(p_params ->> 'risk'));
    v_picks integer[];
    v_table integer[];
begin
    if p_game = 'dice' then
        v_target := (p_params ->> 'target')::bigint;
        v_over := (p_params ->> 'over')::boolean;
        if v_over is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'over', 'reason', 'true (a roll above target wins) or false (below)'));
        end if;
        if v_target is null
            or (v_over and v_target not between 0 and 9998)
            or (not v_over and v_target not between 1 and 9999) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'target', 'value', v_target, 'over', v_over,
                'reason', 'hundredths: over 0 to 9998, under 1 to 9999 (a win must be possible)'));
        end if;
        v_chance := case when v_over then 9999 - v_target else v_target end;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('target', v_target, 'over', v_over),
            'chance', v_chance,
            'multiplier', round((10000 - p_edge_bps)::numeric / v_chance, 4),
            'win_payout', div(p_stake::numeric * (10000 - p_edge_bps), v_chance));
    elsif p_game = 'limbo' then
        v_target := (p_params ->> 'target')::bigint;
        if v_target is null or v_target not between 101 and app._limbo_top(p_edge_bps) then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'target_multiplier', 'value', v_target,
                'reason', 'hundredths, from 101 (1.01x) to the highest crash point',
                'maximum', app._limbo_top(p_edge_bps)));
        end if;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('target', v_target),
            'multiplier', round(v_target / 100.0, 2),
            'win_payout', div(p_stake::numeric * v_target, 100));
    elsif p_game = 'roulette' then
        v_bet := lower(btrim(p_params ->> 'bet'));
        v_multiplier := app._roulette_multiplier(v_bet);
        if v_multiplier is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'bet', 'value', p_params -> 'bet',
                'reason', 'a pocket 0 to 36, red, black, odd, even, low, high, dozen1 to dozen3 or '
                || 'column1 to column3'));
        end if;
        return pg_catalog.jsonb_build_object(
            'params', pg_catalog.jsonb_build_object('bet', v_bet),
            'multiplier', v_multiplier,
            'win_payout', p_stake::numeric * v_multiplier);
    elsif p_game = 'plinko' then
        v_target := (p_params ->> 'rows')::bigint;
        if v_target is null or v_target not between 8 and 16 then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'rows', 'value', v_target, 'reason', 'a whole number from 8 to 16'));
        end if;
        v_table := app._plinko_multipliers(v_target::integer, v_risk);
    elsif p_game = 'keno' then
        select case when count(distinct t.tile) = count(*) and bool_and(t.tile between 1 and 40)
            then array_agg(t.tile order by t.tile) end
        into v_picks
        from (
            select case when e.value::text ~ '^[0-9]{1,2}$' then e.value::text::integer end as tile
            from pg_catalog.jsonb_array_elements(
                case when pg_catalog.jsonb_typeof(p_params -> 'picks') = 'array'
                    and pg_catalog.jsonb_array_length(p_params -> 'picks') <= 10
                    then p_params -> 'picks' else '[]' end) as e
        ) as t;
        if coalesce(cardinality(v_picks), 0) not between 1 and 10 then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'picks', 'value', p_params -> 'picks',
                'reason', '1 to 10 distinct tiles, each from 1 to 40'));
        end if;
        v_table := app._keno_multipliers(cardinality(v_picks), v_risk);
    end if;
    if p_game in ('plinko', 'keno') then
        if v_table is null then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', 'risk', 'value', p_params -> 'risk',
                'reason', case when p_game = 'plinko' then 'low, medium or high'
                    else 'classic, low, medium or high' end));
        end if;
        v_multiplier := (select max(m) from unnest(v_table) as m);
        return pg_catalog.jsonb_build_object(
            'params', case when p_game = 'plinko'
                then pg_catalog.jsonb_build_object('rows', v_target, 'risk', v_risk)
                else pg_catalog.jsonb_build_object('picks', v_picks, 'risk', v_risk) end,
            'multiplier', round(v_multiplier / 100.0, 2),
            'win_payout', div(p_stake::numeric * v_multiplier, 100));
    end if;
    perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
        'argument', 'game', 'value', p_game,
        'reason', 'dice, limbo, roulette, plinko or keno'));
    return null;
end
$$;

-- _house_draw: what a bet (its `p_params` as _house_terms stores them) draws from its round,
-- sample 0:
--   dice     {roll}: rng(10000), the roll in hundredths (0.00 to 99.99); won: over ? roll >
--            target : roll < target
--   limbo    {crash}: n = rng(2^32) + 1 (1 to 2^32); crash = max(100, floor(2^32 * (10000 -
--            edge) / (100 * n))) in hundredths; won: crash >= target
--   roulette {pocket, color}: rng(37), the single-zero wheel; won: _roulette_wins
--   plinko   {path, bucket}: samples 0 .. rows - 1, each rng(2) (0 left, 1 right), the path in
--            that order; the bucket is the count of rights (0 to rows)
--   keno     {drawn, hits}: the 10 tiles of _house_shuffle(40, 10) (samples 0 .. 9 with limits
--            40, 39, ..., 31), in the order drawn; hits, how many of the picks were drawn
-- Returns {result, won}; for plinko and keno, whose draw decides what the bet pays, also
-- {multiplier}: the table's for the bucket or the hits (exact, hundredths), and won is then
-- whether it pays more than the stake (multiplier > 1). Used by the plays and by the tests, which
-- redo it in Python.
create or replace function app._house_draw(
    p_game text,
    p_params jsonb,
    p_edge_bps integer,
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_number bigint;
    v_crash bigint;
    v_path integer[];
    v_drawn integer[];
    v_hundredths integer;
begin
    if p_game in ('plinko', 'keno') then
        if p_game = 'plinko' then
            v_path := app._house_samples(p_server_seed, p_client_seed, p_nonce, array_fill(
                2::bigint, array[(p_params ->> 'rows')::integer]))::integer[];
            v_number := (select sum(d) from unnest(v_path) as d);
            v_hundredths := (app._plinko_multipliers(
                (p_params ->> 'rows')::integer, p_params ->> 'risk'))[v_number + 1];
        else
            v_drawn := app._house_shuffle(p_server_seed, p_client_seed, p_nonce, 40, 10);
            v_number := (
                select count(*) from pg_catalog.jsonb_array_elements(p_params -> 'picks') as e
                where (e.value #>> '{}')::integer = any(v_drawn));
            v_hundredths := (app._keno_multipliers(
                pg_catalog.jsonb_array_length(p_params -> 'picks'),
                p_params ->> 'risk'))[v_number + 1];
        end if;
        return pg_catalog.jsonb_build_object(
            'result', case when p_game = 'plinko'
                then pg_catalog.jsonb_build_object('path', v_path, 'bucket', v_number)
                else pg_catalog.jsonb_build_object('drawn', v_drawn, 'hits', v_number) end,
            'multiplier', round(v_hundredths / 100.0, 2),
            'won', v_hundredths > 100);
    elsif p_game = 'dice' then
        v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 10000);
        return pg_catalog.jsonb_build_object(
            'result', pg_catalog.jsonb_build_object('roll', v_number),
            'won', case when (p_params ->> 'over')::boolean
                then v_number > (p_params ->> 'target')::bigint
                else v_number < (p_params ->> 'target')::bigint end);
    elsif p_game = 'limbo' then
        v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 4294967296) + 1;
        v_crash := greatest(100,
            div(4294967296::numeric * (10000 - p_edge_bps), 100 * v_number)::bigint);
        return pg_catalog.jsonb_build_object(
            'result', pg_catalog.jsonb_build_object('crash', v_crash),
            'won', v_crash >= (p_params ->> 'target')::bigint);
    end if;
    v_number := app._house_random(p_server_seed, p_client_seed, p_nonce, 0, 37);
    return pg_catalog.jsonb_build_object(
        'result', pg_catalog.jsonb_build_object(
            'pocket', v_number, 'color', app._roulette_color(v_number::integer)),
        'won', app._roulette_wins(p_params ->> 'bet', v_number::integer));
end
$$;

-- _house_outcome: what a bet of `p_stake` on terms `p_terms` (_house_bet_terms's) pays on draw
-- `p_draw` (_house_draw's): the one rule a play (_play_house_game) and an auto-bet (auto_bet,
-- rpc/82_house_autobet.sql) both apply. Plinko and keno, whose draw decides the multiplier, pay
-- floor(stake * that multiplier) and record it; dice, limbo and roulette pay the terms' win_payout
-- when the draw won, else 0, and record the terms' multiplier. A payout equal to the stake moves
-- no money: the bet has no ledger transaction.
-- Returns {result, payout, multiplier}.
create or replace function app._house_outcome(p_stake bigint, p_terms jsonb, p_draw jsonb)
returns jsonb
language sql immutable strict parallel safe
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'result', p_draw -> 'result',
        'payout', case
            when p_draw ? 'multiplier'
                then floor(p_stake * (p_draw ->> 'multiplier')::numeric)::bigint
            when (p_draw ->> 'won')::boolean then (p_terms ->> 'win_payout')::numeric::bigint
            else 0
        end,
        'multiplier', coalesce(p_draw -> 'multiplier', p_terms -> 'multiplier'))
$$;

-- ==== rpc/80_house_games.sql
reset all;

-- House games (migrations 0021 and 0026; docs/house-games.md): dice, limbo, roulette, plinko and
-- keno, each bet one transaction against the house, drawn from the player's own seed pair
-- (BetService sections 3 and 4; the RNG and the seed pairs: rpc/78_house_fairness.sql; the games'
-- rules: rpc/79_house_rules.sql).
--
-- Bets: play_dice, play_limbo, play_roulette, play_plinko, play_keno. Settings: update_house_game
-- (admins). Reads: the views house_games, house_bets and my_seed_pairs. The guards of the seed
-- pairs' and the bets' history.
--
-- Lock order: the player's seed pair first (it serialises one player's bets and rotations), then
-- accounts by id (the house's and the wallet, as everywhere: rpc/01_core.sql).

drop view if exists public.house_bets;
drop view if exists public.my_seed_pairs;
drop view if exists public.house_games;

-- The guards (the triggers of migration 0021) ---------------------------------------------------

-- _seed_pair_changed: a seed pair is never deleted; its owner, seeds, commitment and created_at
-- never change; a revealed pair stays revealed and draws no more; the nonce moves forward by one
-- bet at a time: by one (a play, which writes its bet next), or by k over the k bets already
-- written with exactly those nonces (an auto-bet's batch, rpc/82_house_autobet.sql). Refused even
-- for the superuser (short of dropping the trigger).
-- Raises: house_history_final.
create or replace function app._seed_pair_changed(
    p_op text,
    p_old app.seed_pairs,
    p_new app.seed_pairs
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE'
        or (p_new.id, p_new.user_id, p_new.server_seed, p_new.server_seed_hash, p_new.client_seed,
            p_new.created_at)
        is distinct from
        (p_old.id, p_old.user_id, p_old.server_seed, p_old.server_seed_hash, p_old.client_seed,
            p_old.created_at)
        or (p_old.revealed_at is not null and (p_new.revealed_at, p_new.next_nonce)
            is distinct from (p_old.revealed_at, p_old.next_nonce))
        or p_new.next_nonce < p_old.next_nonce
        or (p_new.next_nonce > p_old.next_nonce + 1 and (
            select count(*) from app.house_bets as b
            where b.seed_pair_id = p_old.id
                and b.nonce >= p_old.next_nonce and b.nonce < p_new.next_nonce
        ) <> p_new.next_nonce - p_old.next_nonce) then
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'seed_pair_id', p_old.id, 'operation', lower(p_op)));
    end if;
end
$$;

-- _house_bet_changed: a house bet is never deleted, a settled one never changes, and a round's
-- identity (id, player, game, pair, nonce, stake, params, created_at) never changes while it is
-- open. Refused even for the superuser (short of dropping the trigger).
-- Raises: house_history_final.
create or replace function app._house_bet_changed(
    p_op text,
    p_old app.house_bets,
    p_new app.house_bets
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_op = 'DELETE' or p_old.status = 'settled'
        or (p_new.id, p_new.user_id, p_new.game, p_new.seed_pair_id, p_new.server_seed_hash,
            p_new.client_seed, p_new.nonce, p_new.stake, p_new.params, p_new.house_edge_bps,
            p_new.created_at)
        is distinct from
        (p_old.id, p_old.user_id, p_old.game, p_old.seed_pair_id, p_old.server_seed_hash,
            p_old.client_seed, p_old.nonce, p_old.stake, p_old.params, p_old.house_edge_bps,
            p_old.created_at) then
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'bet_id', p_old.id, 'operation', lower(p_op)));
    end if;
end
$$;

-- Settings -------------------------------------------------------------------------------------

-- _house_game_json: a game's settings as update_house_game answers and logs them.
create or replace function app._house_game_json(p_game text)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.to_jsonb(g) from app.house_games as g where g.game = p_game
$$;

-- update_house_game(game, settings): change some of one game's settings, e.g. `{"enabled":
-- false}` or `{"house_edge_bps": 200, "max_profit": 5000000}`; the others keep their values.
--   enabled         true or false: a disabled game refuses every bet (game_disabled)
--   house_edge_bps  dice, limbo and mines: a whole number from 0 to 5000 (roulette's is its
--                   wheel's, plinko's and keno's their tables')
--   max_profit      a whole number of minor units from 1 to 10^15: the most one bet may win above
--                   its stake (a bet that could win more is refused, max_profit_exceeded)
--   round_idle_minutes  mines: an open round expires after this many minutes without a step
--                   (scheduler_tick, rpc/81_house_rounds.sql); null: never
--   ggr_commission_bps  any game: the GGR commission rate, a whole number of basis points from 0
--                   to 10000, stored on each bet as it settles (ggr_commission,
--                   rpc/84_ggr_and_affiliates.sql)
-- A JSON number is required (a string is refused, never converted). A change applies to the bets
-- that start after it commits; a bet keeps the edge it was played at (house_bets.house_edge_bps),
-- and the commission rate of the moment it settled (a round of mines: when it ends).
-- Callers: admins and the service role. Changes: app.house_games; logs update_house_game with the
-- game's settings before and after.
-- Returns the game's settings after the change.
-- Raises: not_admin, invalid_argument (an unknown game; not a JSON object or empty; an unknown
-- setting; a value of the wrong type or out of range; an edge for a game but dice and limbo).
create or replace function public.update_house_game(game text, settings jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_game app.house_games;
    v_key text;
    v_value jsonb;
    v_number numeric;
    v_before jsonb;
    v_after jsonb;
begin
    perform app._require_admin();
    select * into v_game from app.house_games as g where g.game = update_house_game.game
    for update;
    if not found then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'game', 'value', update_house_game.game,
            'reason', 'dice, limbo, roulette, plinko, keno or mines'));
    end if;
    if update_house_game.settings is null
        or pg_catalog.jsonb_typeof(update_house_game.settings) <> 'object'
        or update_house_game.settings = '{}' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'settings', 'reason', 'a JSON object of one or more settings'));
    end if;
    v_before := pg_catalog.to_jsonb(v_game);
    for v_key, v_value in
        select e.key, e.value from pg_catalog.jsonb_each(update_house_game.settings) as e
    loop
        if v_key = 'enabled' then
            if pg_catalog.jsonb_typeof(v_value) <> 'boolean' then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value, 'reason', 'true or false'));
            end if;
            v_game.enabled := (v_value #>> '{}')::boolean;
            continue;
        end if;
        if v_key = 'round_idle_minutes' then
            -- mines (rpc/81_house_rounds.sql): null, never; else 1 minute to a year
            v_number := case when pg_catalog.jsonb_typeof(v_value) = 'number'
                then (v_value #>> '{}')::numeric end;
            if v_game.game <> 'mines' or (v_value <> 'null' and (v_number is null
                or v_number <> trunc(v_number) or v_number not between 1 and 525600)) then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value, 'game', v_game.game,
                    'reason', 'mines only: null (never) or whole minutes from 1 to 525600'));
            end if;
            v_game.round_idle_minutes := v_number::integer;
            continue;
        end if;
        if v_key not in ('house_edge_bps', 'max_profit', 'ggr_commission_bps') then
            perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                'argument', v_key, 'reason', 'unknown setting',
                'known', pg_catalog.jsonb_build_array('enabled', 'house_edge_bps', 'max_profit',
                    'round_idle_minutes', 'ggr_commission_bps')));
        end if;
        v_number := case when pg_catalog.jsonb_typeof(v_value) = 'number'
            then (v_value #>> '{}')::numeric end;
        if v_key = 'ggr_commission_bps' then
            if v_number is null or v_number <> trunc(v_number)
                or v_number not between 0 and 10000 then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of basis points from 0 to 10000'));
            end if;
            v_game.ggr_commission_bps := v_number::integer;
            continue;
        end if;
        if v_key = 'house_edge_bps' then
            if v_game.game not in ('dice', 'limbo', 'mines') then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'game', v_game.game,
                    'reason', 'roulette''s edge is its wheel''s single zero, plinko''s and '
                    || 'keno''s their tables'));
            end if;
            if v_number is null or v_number <> trunc(v_number) or v_number not between 0 and 5000
            then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of basis points from 0 to 5000'));
            end if;
            v_game.house_edge_bps := v_number::integer;
        else
            if v_number is null or v_number <> trunc(v_number) or v_number not between 1 and 1e15
            then
                perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
                    'argument', v_key, 'value', v_value,
                    'reason', 'a whole number of minor units from 1 to 10^15'));
            end if;
            v_game.max_profit := v_number::bigint;
        end if;
    end loop;

    update app.house_games as g
    set enabled = v_game.enabled,
        house_edge_bps = v_game.house_edge_bps,
        max_profit = v_game.max_profit,
        round_idle_minutes = v_game.round_idle_minutes,
        ggr_commission_bps = v_game.ggr_commission_bps,
        updated_at = now()
    where g.game = v_game.game;
    v_after := app._house_game_json(v_game.game);
    perform app._audit('update_house_game', null, null, null, v_before, v_after);
    return v_after;
end
$$;
grant execute on function public.update_house_game(text, jsonb) to authenticated, service_role;

-- Playing --------------------------------------------------------------------------------------

-- _house_bet_json: a bet as the plays answer it: the row (no idempotency key, no GGR figures: the
-- admins'), whether it won (paid more than its stake), its profit (payout - stake), and the
-- chance of a dice bet.
create or replace function app._house_bet_json(p_bet app.house_bets)
returns jsonb
language sql stable
set search_path = ''
as $$
    select (pg_catalog.to_jsonb(p_bet) - array['idempotency_key', 'ggr', 'ggr_commission_bps',
        'ggr_commission']) || pg_catalog.jsonb_build_object(
        'won', p_bet.payout > p_bet.stake,
        'profit', p_bet.payout - p_bet.stake
    )
$$;

-- _house_stake_checks: the first checks a bet of user `p_user` on `p_game` of `p_stake` passes, in
-- place_wager's order, before anything is locked or drawn: refused during a self-exclusion,
-- refused when the game is disabled, the stake checked (_stake_refusal). Shared by every house
-- bet: a play and an auto-bet (through _house_bet_terms) and a round of mines (open_mines,
-- rpc/81_house_rounds.sql). An unknown game passes (its settings are all null): the terms refuse
-- it.
-- Returns the game's settings.
-- Raises: self_excluded, game_disabled, invalid_amount.
create or replace function app._house_stake_checks(p_user uuid, p_game text, p_stake bigint)
returns app.house_games
language plpgsql stable
set search_path = ''
as $$
declare
    v_game app.house_games;
    v_refusal jsonb;
begin
    perform app._require_not_excluded(p_user);
    select * into v_game from app.house_games as g where g.game = p_game;
    if not v_game.enabled then
        perform app._fail('game_disabled', pg_catalog.jsonb_build_object('game', p_game));
    end if;
    v_refusal := app._stake_refusal(p_stake);
    if v_refusal is not null then
        perform app._raise(v_refusal);
    end if;
    return v_game;
end
$$;

-- _house_bet_terms: the checks a one-shot bet of user `p_user` passes before anything is locked
-- or drawn, in place_wager's order: _house_stake_checks (self-exclusion, the game enabled, the
-- stake), then the player's choices (_house_terms) are checked and the win priced (the best the
-- bet can pay: plinko's and keno's table's highest): a win must pay more than the stake, and at
-- most the game's max_profit above it (max_profit_exceeded, refused rather than clamped: a clamp
-- would pay a winner less than the multiplier shown). Shared by a play (_play_house_game) and an
-- auto-bet (auto_bet), whose bets all have the same stake and choices, so the same terms.
-- Returns _house_terms's answer and the game's house_edge_bps.
-- Raises: self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded.
create or replace function app._house_bet_terms(
    p_user uuid,
    p_game text,
    p_stake bigint,
    p_params jsonb
)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_game app.house_games := app._house_stake_checks(p_user, p_game, p_stake);
    v_terms jsonb;
    v_win_payout numeric;
begin
    v_terms := app._house_terms(p_game, p_params, v_game.house_edge_bps, p_stake);
    v_win_payout := (v_terms ->> 'win_payout')::numeric;
    if v_win_payout <= p_stake then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'stake', 'stake', p_stake, 'payout', v_win_payout,
            'reason', 'a win would pay no more than the stake: raise the stake or the multiplier'));
    end if;
    if v_win_payout - p_stake > v_game.max_profit then
        perform app._fail('max_profit_exceeded', pg_catalog.jsonb_build_object(
            'game', p_game, 'stake', p_stake, 'payout', v_win_payout,
            'profit', v_win_payout - p_stake, 'max_profit', v_game.max_profit));
    end if;

    return v_terms || pg_catalog.jsonb_build_object('house_edge_bps', v_game.house_edge_bps);
end
$$;

-- _lock_stake: the locks and checks a house bet's stake passes once the caller holds the player's
-- seed pair (the lock order: the pair, then the accounts by id): the wallet of `p_user` (made on
-- first use) and `p_account` (the house for a one-shot bet, the held rounds for a round of mines)
-- locked in id order; then, under those locks, the daily stake limit (house bets count with
-- wagers), then the funds. Shared by a play (_play_house_game) and open_mines
-- (rpc/81_house_rounds.sql); an auto-bet, which draws between the pair's lock and the accounts'
-- and cuts its run at the limit or the funds, applies the same rules to a run.
-- Returns the wallet's id.
-- Raises: daily_stake_limit_reached, insufficient_funds.
create or replace function app._lock_stake(p_user uuid, p_stake bigint, p_account bigint)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    v_wallet bigint := app._ensure_wallet(p_user);
    v_balance bigint;
begin
    select l.balance into v_balance
    from (
        select a.id, a.balance from app.accounts as a
        where a.id in (p_account, v_wallet) order by a.id for update
    ) as l
    where l.id = v_wallet;
    perform app._require_within_stake_limit(p_user, p_stake);
    if v_balance < p_stake then
        perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', v_balance, 'stake', p_stake));
    end if;
    return v_wallet;
end
$$;

-- _play_house_game: one bet of the caller on one-shot game `p_game`, in this transaction, in the
-- order of place_wager's checks:
--   1. the idempotency key is claimed first (a replay answers the stored bet, replayed: true);
--   2. refused during a self-exclusion; refused when the game is disabled;
--   3. the stake and the player's choices are checked (_stake_refusal, _house_terms), and the
--      win is priced (the best the bet can pay: plinko's and keno's table's highest): a win must
--      pay more than the stake, and at most the game's max_profit above it
--      (max_profit_exceeded, refused rather than clamped: a clamp would pay a winner less than
--      the multiplier shown); all before anything is drawn;
--   4. the caller's active seed pair is locked (made on first use): one player's bets and
--      rotations go one at a time; then the wallet (made on first use) and the house account, in
--      id order;
--   5. under those locks, the daily stake limit (house bets count with wagers), then the funds;
--   6. the pair's next nonce is taken (and the pair's next_nonce moves on by one), the round
--      drawn (_house_draw), and one 'house_bet' ledger transaction moves stake - payout from the
--      wallet to the house (payout - stake the other way for a win; none when the payout is the
--      stake: nothing moves); the bet is written settled. The payout and the multiplier the bet
--      records are _house_outcome's: the win's or 0 (dice, limbo, roulette), or floor(stake *
--      the multiplier the draw decided) (plinko, keno).
-- Every refusal rolls the whole call back: no nonce is used, no money moves, no key is kept.
-- Returns the bet (_house_bet_json) with the wallet's balance and version after it.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function app._play_house_game(
    p_game text,
    p_stake bigint,
    p_params jsonb,
    p_idempotency_key text
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_terms jsonb;
    v_edge integer;
    v_pair app.seed_pairs;
    v_wallet bigint;
    v_house bigint := app._system_account('house');
    v_outcome jsonb;
    v_payout bigint;
    v_id text;
    v_tx bigint;
    v_bet app.house_bets;
    v_result jsonb;
begin
    v_replay := app._idempotency_begin(v_user, p_idempotency_key, 'play_' || p_game,
        pg_catalog.jsonb_build_object('stake', p_stake) || p_params);
    if v_replay is not null then
        return v_replay;
    end if;
    v_terms := app._house_bet_terms(v_user, p_game, p_stake, p_params);
    v_edge := (v_terms ->> 'house_edge_bps')::integer;

    -- the lock order: the seed pair, then the accounts by id
    v_pair := app._active_seed_pair(v_user, true);
    v_wallet := app._lock_stake(v_user, p_stake, v_house);

    -- the round: this pair's next nonce, taken under its lock
    update app.seed_pairs as s
    set next_nonce = s.next_nonce + 1
    where s.id = v_pair.id;
    v_outcome := app._house_outcome(p_stake, v_terms, app._house_draw(p_game,
        v_terms -> 'params', v_edge, v_pair.server_seed, v_pair.client_seed, v_pair.next_nonce));
    v_payout := (v_outcome ->> 'payout')::bigint;
    v_id := app._house_bet_id(v_pair.server_seed_hash, v_pair.client_seed, v_pair.next_nonce);
    v_tx := app._post_transaction('house_bet', array[v_house, v_wallet],
        array[p_stake - v_payout, v_payout - p_stake],
        p_memo => pg_catalog.jsonb_build_object(
            'house_bet_id', v_id, 'game', p_game, 'stake', p_stake, 'payout', v_payout),
        p_actor => v_user);
    insert into app.house_bets (
        id, user_id, game, seed_pair_id, server_seed_hash, client_seed, nonce, stake, params,
        house_edge_bps, result, multiplier, payout, status, transaction_id, idempotency_key,
        settled_at
    )
    values (
        v_id, v_user, p_game, v_pair.id, v_pair.server_seed_hash, v_pair.client_seed,
        v_pair.next_nonce, p_stake, v_terms -> 'params', v_edge,
        v_outcome -> 'result', (v_outcome ->> 'multiplier')::numeric, v_payout, 'settled', v_tx,
        p_idempotency_key, now()
    )
    returning * into v_bet;

    select app._house_bet_json(v_bet)
        || pg_catalog.jsonb_strip_nulls(
            pg_catalog.jsonb_build_object('chance', v_terms -> 'chance'))
        || pg_catalog.jsonb_build_object('balance', a.balance, 'balance_version', a.version)
    into v_result
    from app.accounts as a
    where a.id = v_wallet;
    return app._idempotency_finish(v_user, p_idempotency_key, v_result);
end
$$;

-- play_dice(stake, target, over, idempotency_key): roll 0.00 to 99.99 against `target` (in
-- hundredths): `over` wins on a roll above it (target 0 to 9998), otherwise a roll below it wins
-- (1 to 9999). The win chance is 9999 - target (over) or target (under) hundredths of a percent;
-- a win pays floor(stake * (10000 - edge) / chance), edge the game's house_edge_bps.
-- Callers: authenticated. Changes: see _play_house_game (a house bet, a 'house_bet' ledger
-- transaction, the seed pair's nonce; may create the wallet and the seed pair); notifies balance.
-- Returns the bet (id, game, stake, params, result {roll}, multiplier, payout, won, profit, chance,
-- nonce, seed_pair_id, server_seed_hash, client_seed, ...) and the new balance.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_dice(
    stake bigint,
    target integer,
    over boolean,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('dice', play_dice.stake,
        pg_catalog.jsonb_build_object('target', play_dice.target, 'over', play_dice.over),
        play_dice.idempotency_key);
end
$$;
grant execute on function public.play_dice(bigint, integer, boolean, text) to authenticated;

-- play_limbo(stake, target_multiplier, idempotency_key): a crash point is drawn; the bet wins
-- when it reaches `target_multiplier` (in hundredths, 101 = 1.01x, up to the highest crash point
-- the edge allows) and pays floor(stake * target_multiplier / 100).
-- Callers: authenticated. Changes: see _play_house_game; notifies balance.
-- Returns the bet (result {crash}, in hundredths) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_limbo(
    stake bigint,
    target_multiplier bigint,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('limbo', play_limbo.stake,
        pg_catalog.jsonb_build_object('target', play_limbo.target_multiplier),
        play_limbo.idempotency_key);
end
$$;
grant execute on function public.play_limbo(bigint, bigint, text) to authenticated;

-- play_roulette(stake, bet, idempotency_key): one spin of the single-zero wheel. `bet`: a pocket
-- '0' to '36' (pays 36x), 'dozen1'..'dozen3' or 'column1'..'column3' (3x), 'red', 'black', 'odd',
-- 'even', 'low' (1-18) or 'high' (19-36) (2x; 0 loses them all).
-- Callers: authenticated. Changes: see _play_house_game; notifies balance.
-- Returns the bet (result {pocket, color}) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_roulette(
    stake bigint,
    bet text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('roulette', play_roulette.stake,
        pg_catalog.jsonb_build_object('bet', play_roulette.bet),
        play_roulette.idempotency_key);
end
$$;
grant execute on function public.play_roulette(bigint, text, text) to authenticated;

-- play_plinko(stake, rows, risk, idempotency_key): a ball falls through `rows` rows of pins (8 to
-- 16), each row left or right (a sample of rng(2): 0 left, 1 right); it lands in bucket k, the
-- count of rights, and the bet pays floor(stake * the bucket's multiplier) of the table for
-- (rows, risk), `risk` 'low', 'medium' or 'high' (app._plinko_multipliers; docs/house-games.md).
-- Refused when the table's highest bucket would win more than the game's max profit.
-- Callers: authenticated. Changes: see _play_house_game; notifies balance (unless the bucket paid
-- back exactly the stake: nothing moves).
-- Returns the bet (result {path, bucket}, multiplier: the bucket's, payout) and the new balance,
-- as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_plinko(
    stake bigint,
    rows integer,
    risk text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('plinko', play_plinko.stake,
        pg_catalog.jsonb_build_object('rows', play_plinko.rows, 'risk', play_plinko.risk),
        play_plinko.idempotency_key);
end
$$;
grant execute on function public.play_plinko(bigint, integer, text, text) to authenticated;

-- play_keno(stake, picks, risk, idempotency_key): the player picks 1 to 10 distinct tiles of 40
-- (`picks`, a JSON array of whole numbers from 1 to 40, any order); the engine draws 10 (a
-- Fisher-Yates shuffle, app._house_shuffle), and the bet pays floor(stake * the multiplier of the
-- table for (number of picks, risk) at the number of hits),
-- `risk` 'classic', 'low', 'medium' or 'high' (app._keno_multipliers; docs/house-games.md).
-- Refused when the row's highest multiplier would win more than the game's max profit.
-- Callers: authenticated. Changes: see _play_house_game; notifies balance (unless the hits paid
-- back exactly the stake).
-- Returns the bet (params {picks in ascending order, risk}, result {drawn, hits}, multiplier: the
-- hits', payout) and the new balance, as play_dice.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds.
create or replace function public.play_keno(
    stake bigint,
    picks jsonb,
    risk text,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    return app._play_house_game('keno', play_keno.stake,
        pg_catalog.jsonb_build_object('picks', play_keno.picks, 'risk', play_keno.risk),
        play_keno.idempotency_key);
end
$$;
grant execute on function public.play_keno(bigint, jsonb, text, text) to authenticated;

-- Reading --------------------------------------------------------------------------------------

-- The house games' settings: everyone.
create view public.house_games with (security_invoker = true) as
select
    g.game,
    g.enabled,
    g.house_edge_bps,
    g.max_profit,
    g.round_idle_minutes,
    g.updated_at
from app.house_games as g;

-- The house bets: a bettor their own, an admin (and the service role) every one; the server seed
-- only once its pair is revealed.
create view public.house_bets with (security_invoker = true) as
select
    b.id,
    b.user_id,
    b.game,
    b.status,
    b.stake,
    b.params,
    b.house_edge_bps,
    b.result,
    b.multiplier,
    b.payout,
    b.payout > b.stake as won,
    b.payout - b.stake as profit,
    -- the GGR commission (rpc/84_ggr_and_affiliates.sql): the admins' figures, null for a bettor
    case when (select public.acts_as_admin()) then b.ggr end as ggr,
    case when (select public.acts_as_admin()) then b.ggr_commission_bps end as ggr_commission_bps,
    case when (select public.acts_as_admin()) then b.ggr_commission end as ggr_commission,
    b.seed_pair_id,
    b.nonce,
    b.server_seed_hash,
    b.client_seed,
    app._revealed_server_seed(b.seed_pair_id) as server_seed,
    b.transaction_id,
    b.created_at,
    b.settled_at
from app.house_bets as b;

-- The caller's seed pairs, the active one and those revealed; the server seed only once revealed.
create view public.my_seed_pairs with (security_invoker = true) as
select
    s.id,
    s.user_id,
    s.server_seed_hash,
    s.client_seed,
    s.next_nonce,
    s.revealed,
    s.server_seed,
    s.created_at,
    s.revealed_at
from app._seed_pair_rows() as s;

grant select on public.house_games to anon, authenticated, service_role;
grant select on public.house_bets, public.my_seed_pairs to authenticated, service_role;

-- ==== rpc/81_house_rounds.sql
reset all;

-- Multi-step house rounds (migrations/0027_house_rounds.sql; docs/house-games.md, "Mines"): a
-- round is opened with its stake held, played one step per call, and settled once (BetService
-- section 2: createBet, then settleBet). Mines is the game: a 5x5 grid, cells 0 to 24 row by row
-- (row = cell / 5, column = cell % 5), 1 to 24 mines.
--
-- The mines of a round are the seed's getRandomMines over the round's nonce, drawn in full when
-- it opens and redrawn at every step (_mines_positions): a partial Fisher-Yates shuffle of the
-- cells 0..24, sample k (cursors 0, 1, ..., mines - 1) with limit 25 - k, keno's _house_shuffle.
-- They are never stored while the round is open (the server seed they come from is readable by no
-- client role), and are written into the round's result when it settles.
--
-- Calls: open_mines, reveal_mines_cell, cashout_mines, get_mines_round (the player);
-- settle_house_round (admins); expire_house_rounds (the scheduler, through scheduler_tick).
--
-- Lock order, as in rpc/80_house_games.sql: the player's seed pair first, then the round's row,
-- then the accounts by id. rotate_seed locks the pair and refuses while a round of the player's
-- is open (round_in_progress), so a round never outlives the pair it draws from; steps of one round
-- (and of one player) go one at a time, and the second of two racing steps sees the first's
-- outcome.

-- The game ------------------------------------------------------------------------------------

-- _mines_positions: the mines of round `p_nonce` with `p_mines` mines (1 to 24), sorted: the seed's
-- getRandomMines, a partial Fisher-Yates (Durstenfeld) shuffle of the cells 0..24, which is
-- keno's app._house_shuffle (rpc/78_house_fairness.sql) of 25 with the cells numbered from 0: for
-- k = 0 .. mines - 1, j = k + sample k with limit 25 - k (the limit shrinks by one per mine: 25,
-- 24, ...), swap cells k and j; the mines are the first `mines` cells. Its samples take one HMAC
-- per 8 (at most 3 for 24 mines), and every step redraws them. Null for a count out of range.
create or replace function app._mines_positions(
    p_server_seed text,
    p_client_seed text,
    p_nonce bigint,
    p_mines integer
)
returns integer[]
language sql stable strict parallel safe
set search_path = ''
as $$
    select case when p_mines between 1 and 24 then array(
        select t.tile - 1
        from unnest(app._house_shuffle(p_server_seed, p_client_seed, p_nonce, 25, p_mines))
            as t (tile)
        order by t.tile
    ) end
$$;

-- _binomial: C(n, k), exact, for 0 <= k <= n <= 25.
create or replace function app._binomial(p_n integer, p_k integer)
returns numeric
language sql immutable strict parallel safe
set search_path = ''
as $$
    select div(factorial(p_n), factorial(p_k) * factorial(p_n - p_k))
$$;

-- _mines_win: what a stake pays after `p_revealed` safe cells of a round of `p_mines` mines at
-- edge `p_edge_bps`, exactly: floor(stake * (10000 - edge) * C(25, n) / (10000 * C(25 - mines,
-- n))), the standard (1 - edge) * C(25, n) / C(25 - mines, n) times the stake, floored once.
-- With `p_stake` 1 and no floor it would be the multiplier; _mines_multiplier rounds that.
-- Numeric: it may pass bigint (10^15 times C(25, 12)); a payout is checked against max profit
-- before it is cast.
create or replace function app._mines_win(
    p_stake bigint,
    p_edge_bps integer,
    p_mines integer,
    p_revealed integer
)
returns numeric
language sql immutable strict parallel safe
set search_path = ''
as $$
    select div(
        p_stake::numeric * (10000 - p_edge_bps) * app._binomial(25, p_revealed),
        10000 * app._binomial(25 - p_mines, p_revealed))
$$;

-- _mines_multiplier: (1 - edge) * C(25, n) / C(25 - mines, n), rounded to 4 decimals (half away
-- from zero): what the round shows; payouts come from _mines_win, never from this.
create or replace function app._mines_multiplier(
    p_edge_bps integer,
    p_mines integer,
    p_revealed integer
)
returns numeric
language sql immutable strict parallel safe
set search_path = ''
as $$
    select round(
        (10000 - p_edge_bps)::numeric * app._binomial(25, p_revealed)
        / (10000 * app._binomial(25 - p_mines, p_revealed)), 4)
$$;

-- _mines_state: a round as every call answers it: the bet (_house_bet_json) with mines (the
-- count), revealed (the cells in the order revealed), safe_left, multiplier (now, rounded),
-- cashout_payout (what cashout_mines would pay now; null before the first safe cell),
-- next_multiplier and next_payout (after one more safe cell; null when none is left), and the
-- wallet's balance and version. Once settled, result holds the mines and how the round ended.
create or replace function app._mines_state(p_bet app.house_bets)
returns jsonb
language sql stable
set search_path = ''
as $$
    with r as (
        select
            (p_bet.params ->> 'mines')::integer as mines,
            pg_catalog.jsonb_array_length(p_bet.moves) as n
    )

    select app._house_bet_json(p_bet) || pg_catalog.jsonb_build_object(
        'mines', r.mines,
        'revealed', p_bet.moves,
        'safe_left', 25 - r.mines - r.n,
        'cashout_payout', case when p_bet.status = 'created' and r.n > 0
            then app._mines_win(p_bet.stake, p_bet.house_edge_bps, r.mines, r.n) end,
        'next_multiplier', case when p_bet.status = 'created' and r.n < 25 - r.mines
            then app._mines_multiplier(p_bet.house_edge_bps, r.mines, r.n + 1) end,
        'next_payout', case when p_bet.status = 'created' and r.n < 25 - r.mines
            then app._mines_win(p_bet.stake, p_bet.house_edge_bps, r.mines, r.n + 1) end,
        'balance', a.balance,
        'balance_version', a.version
    )
    from r
    left join app.accounts as a on a.user_id = p_bet.user_id and a.kind = 'user'
$$;

-- _house_round_changed: the guard of migration 0027: a round's hold (open_transaction_id) never
-- changes and its moves only grow (the old ones stay, in order). Refused even for the superuser.
-- Raises: house_history_final.
create or replace function app._house_round_changed(p_old app.house_bets, p_new app.house_bets)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_new.open_transaction_id is distinct from p_old.open_transaction_id
        or (p_old.moves is not null and (p_new.moves is null or p_old.moves is distinct from (
            select coalesce(pg_catalog.jsonb_agg(m.value order by m.at), '[]'::jsonb)
            from pg_catalog.jsonb_array_elements(p_new.moves) with ordinality as m (value, at)
            where m.at <= pg_catalog.jsonb_array_length(p_old.moves)
        ))) then
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'bet_id', p_old.id, 'operation', 'update'));
    end if;
end
$$;

-- Settling ------------------------------------------------------------------------------------

-- _settle_house_round: settle open round `p_bet` (its pair and row locked by the caller) with
-- `p_payout`: one 'house_round_settle' ledger transaction moves the stake from the held rounds to
-- the house and the payout from the house to the wallet; the row becomes settled with its result
-- (the mines, `p_ended` and the extra facts in `p_result`) and `p_multiplier`.
-- Returns the settled row. Callers: the steps, settle_house_round, expire_house_rounds.
create or replace function app._settle_house_round(
    p_bet app.house_bets,
    p_payout bigint,
    p_multiplier numeric,
    p_ended text,
    p_result jsonb
)
returns app.house_bets
language plpgsql
set search_path = ''
as $$
declare
    v_pair app.seed_pairs;
    v_tx bigint;
    v_bet app.house_bets;
begin
    select * into v_pair from app.seed_pairs as s where s.id = p_bet.seed_pair_id;
    v_tx := app._post_transaction('house_round_settle',
        array[app._system_account('house_rounds'), app._system_account('house'),
            app._ensure_wallet(p_bet.user_id)],
        array[-p_bet.stake, p_bet.stake - p_payout, p_payout],
        p_memo => pg_catalog.jsonb_build_object(
            'house_bet_id', p_bet.id, 'game', p_bet.game, 'stake', p_bet.stake,
            'payout', p_payout, 'ended', p_ended));
    update app.house_bets as b
    set status = 'settled',
        payout = p_payout,
        multiplier = p_multiplier,
        transaction_id = v_tx,
        result = pg_catalog.jsonb_build_object(
            'mines', app._mines_positions(v_pair.server_seed, v_pair.client_seed, p_bet.nonce,
                (p_bet.params ->> 'mines')::integer),
            'ended', p_ended) || p_result,
        settled_at = now()
    where b.id = p_bet.id
    returning * into v_bet;
    return v_bet;
end
$$;

-- _settle_abandoned: settle open round `p_bet` (locked by the caller) as an abandoned one, `p_ended`
-- 'admin' or 'expired': cashed out at its current multiplier after one safe cell or more (the
-- player is paid what they could have taken); with none, its stake is refunded (multiplier 1,
-- result.refunded true): nothing was at stake yet.
create or replace function app._settle_abandoned(p_bet app.house_bets, p_ended text)
returns app.house_bets
language plpgsql
set search_path = ''
as $$
declare
    v_mines integer := (p_bet.params ->> 'mines')::integer;
    v_n integer := pg_catalog.jsonb_array_length(p_bet.moves);
begin
    if v_n = 0 then
        return app._settle_house_round(p_bet, p_bet.stake, 1, p_ended,
            '{"refunded": true}'::jsonb);
    end if;
    return app._settle_house_round(p_bet,
        app._mines_win(p_bet.stake, p_bet.house_edge_bps, v_mines, v_n)::bigint,
        app._mines_multiplier(p_bet.house_edge_bps, v_mines, v_n), p_ended, '{}'::jsonb);
end
$$;

-- _lock_round: round `p_round_id` of user `p_user` (any user's when null), locked in the lock
-- order: its seed pair first, then its row. Raises round_not_found when there is no such round of
-- that user (another player's round is refused exactly like an unknown id); house_history_final
-- for an open round whose pair is revealed, which rotate_seed makes impossible.
create or replace function app._lock_round(p_round_id text, p_user uuid)
returns app.house_bets
language plpgsql
set search_path = ''
as $$
declare
    v_pair bigint;
    v_revealed timestamptz;
    v_bet app.house_bets;
begin
    select b.seed_pair_id into v_pair
    from app.house_bets as b
    where b.id = p_round_id and b.game = 'mines' and (p_user is null or b.user_id = p_user);
    if v_pair is null then
        perform app._fail('round_not_found', pg_catalog.jsonb_build_object('round_id', p_round_id));
    end if;
    select s.revealed_at into v_revealed from app.seed_pairs as s where s.id = v_pair for update;
    select * into v_bet from app.house_bets as b where b.id = p_round_id for update;
    if v_bet.status = 'created' and v_revealed is not null then
        -- never: rotate_seed refuses under an open round, with the pair locked
        perform app._fail('house_history_final', pg_catalog.jsonb_build_object(
            'bet_id', v_bet.id, 'seed_pair_id', v_pair, 'reason', 'open round on a revealed pair'));
    end if;
    return v_bet;
end
$$;

-- _require_open_round: refuse a round that has settled. Raises: round_closed.
create or replace function app._require_open_round(p_bet app.house_bets)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if p_bet.status <> 'created' then
        perform app._fail('round_closed', pg_catalog.jsonb_build_object(
            'round_id', p_bet.id, 'ended', p_bet.result ->> 'ended', 'payout', p_bet.payout));
    end if;
end
$$;

-- Playing ---------------------------------------------------------------------------------------

-- open_mines(stake, mines, idempotency_key): open a round of mines with `mines` mines (1 to 24)
-- among the 25 cells. In place_wager's order of checks: the idempotency key first (a replay answers
-- the round as it was opened), self-exclusion, the game enabled, the stake (_house_stake_checks,
-- as every house bet), the mines, max profit (the first safe cell must be able to pay: its win at
-- most max_profit above the stake); then, the caller's seed pair locked (made on first use), one
-- open round per player (round_in_progress), then the wallet and the held rounds' account in id
-- order: the daily stake limit and the funds (_lock_stake, as a play).
-- The round takes the pair's next nonce; its stake moves from the wallet to the held rounds in one
-- 'house_round_open' ledger transaction; the bet is written 'created'.
-- Callers: authenticated. Changes: a house bet (created), a ledger transaction, the pair's nonce;
-- may create the wallet and the seed pair; notifies balance.
-- Returns the round (_mines_state): id, status created, stake, mines, revealed [], multiplier,
-- next_multiplier, next_payout, nonce, seed pair reference, balance.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- self_excluded, game_disabled, invalid_amount, invalid_argument, max_profit_exceeded,
-- round_in_progress, daily_stake_limit_reached, insufficient_funds.
create or replace function public.open_mines(
    stake bigint,
    mines integer,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_stake bigint := open_mines.stake;
    v_mines integer := open_mines.mines;
    v_replay jsonb;
    v_game app.house_games;
    v_first numeric;
    v_open text;
    v_pair app.seed_pairs;
    v_wallet bigint;
    v_held bigint := app._system_account('house_rounds');
    v_id text;
    v_tx bigint;
    v_bet app.house_bets;
begin
    v_replay := app._idempotency_begin(v_user, open_mines.idempotency_key, 'open_mines',
        pg_catalog.jsonb_build_object('stake', v_stake, 'mines', v_mines));
    if v_replay is not null then
        return v_replay;
    end if;
    v_game := app._house_stake_checks(v_user, 'mines', v_stake);
    if v_mines is null or v_mines not between 1 and 24 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'mines', 'value', v_mines, 'reason', '1 to 24 of the 25 cells'));
    end if;
    v_first := app._mines_win(v_stake, v_game.house_edge_bps, v_mines, 1);
    if v_first - v_stake > v_game.max_profit then
        perform app._fail('max_profit_exceeded', pg_catalog.jsonb_build_object(
            'game', 'mines', 'stake', v_stake, 'payout', v_first, 'profit', v_first - v_stake,
            'max_profit', v_game.max_profit, 'revealed', 1));
    end if;

    -- the lock order: the seed pair, then the accounts by id
    v_pair := app._active_seed_pair(v_user, true);
    select b.id into v_open
    from app.house_bets as b
    where b.user_id = v_user and b.game = 'mines' and b.status = 'created';
    if v_open is not null then
        perform app._fail('round_in_progress', pg_catalog.jsonb_build_object(
            'bet_id', v_open, 'game', 'mines'));
    end if;
    v_wallet := app._lock_stake(v_user, v_stake, v_held);

    update app.seed_pairs as s
    set next_nonce = s.next_nonce + 1
    where s.id = v_pair.id;
    v_id := app._house_bet_id(v_pair.server_seed_hash, v_pair.client_seed, v_pair.next_nonce);
    v_tx := app._post_transaction('house_round_open', array[v_wallet, v_held],
        array[-v_stake, v_stake],
        p_memo => pg_catalog.jsonb_build_object(
            'house_bet_id', v_id, 'game', 'mines', 'stake', v_stake),
        p_actor => v_user);
    insert into app.house_bets (
        id, user_id, game, seed_pair_id, server_seed_hash, client_seed, nonce, stake, params,
        house_edge_bps, multiplier, status, open_transaction_id, moves, moved_at, idempotency_key
    )
    values (
        v_id, v_user, 'mines', v_pair.id, v_pair.server_seed_hash, v_pair.client_seed,
        v_pair.next_nonce, v_stake, pg_catalog.jsonb_build_object('mines', v_mines),
        v_game.house_edge_bps, app._mines_multiplier(v_game.house_edge_bps, v_mines, 0),
        'created', v_tx, '[]'::jsonb, now(), open_mines.idempotency_key
    )
    returning * into v_bet;
    return app._idempotency_finish(v_user, open_mines.idempotency_key, app._mines_state(v_bet));
end
$$;
grant execute on function public.open_mines(bigint, integer, text) to authenticated;

-- reveal_mines_cell(round_id, cell, idempotency_key): reveal cell `cell` (0 to 24, row * 5 +
-- column) of the caller's open round. Refused before anything is drawn: a cell out of range or
-- revealed already, a closed round, and a reveal whose win would pay more than the game's
-- max_profit above the stake (max_profit_exceeded: the player cashes out instead; refused rather
-- than clamped, so every multiplier shown is paid). Then the round's mines are redrawn: a mine
-- ends the round lost (payout 0); a safe cell raises the multiplier, and the last safe cell cashes
-- the round out at once ('all_safe'). Settling is one 'house_round_settle' ledger transaction.
-- Callers: authenticated, on their own rounds. Changes: the round (its moves, multiplier; settled
-- with its result and transaction when it ends); notifies balance when it settles.
-- Returns the round (_mines_state): revealed, multiplier, next_multiplier, ...; once settled, its
-- result {mines, ended: mine | all_safe, mine (the cell hit)}, payout and balance.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- invalid_argument, round_not_found, round_closed, cell_already_revealed, max_profit_exceeded.
create or replace function public.reveal_mines_cell(
    round_id text,
    cell integer,
    idempotency_key text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_cell integer := reveal_mines_cell.cell;
    v_replay jsonb;
    v_bet app.house_bets;
    v_pair app.seed_pairs;
    v_mines integer;
    v_n integer;
    v_next numeric;
    v_max_profit bigint;
begin
    v_replay := app._idempotency_begin(v_user, reveal_mines_cell.idempotency_key,
        'reveal_mines_cell', pg_catalog.jsonb_build_object(
            'round_id', reveal_mines_cell.round_id, 'cell', v_cell));
    if v_replay is not null then
        return v_replay;
    end if;
    if v_cell is null or v_cell not between 0 and 24 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'cell', 'value', v_cell, 'reason', '0 to 24: row * 5 + column'));
    end if;
    v_bet := app._lock_round(reveal_mines_cell.round_id, v_user);
    perform app._require_open_round(v_bet);
    if v_bet.moves @> pg_catalog.to_jsonb(v_cell) then
        perform app._fail('cell_already_revealed', pg_catalog.jsonb_build_object(
            'round_id', v_bet.id, 'cell', v_cell, 'revealed', v_bet.moves));
    end if;
    v_mines := (v_bet.params ->> 'mines')::integer;
    v_n := pg_catalog.jsonb_array_length(v_bet.moves);
    v_next := app._mines_win(v_bet.stake, v_bet.house_edge_bps, v_mines, v_n + 1);
    select g.max_profit into v_max_profit from app.house_games as g where g.game = 'mines';
    if v_next - v_bet.stake > v_max_profit then
        perform app._fail('max_profit_exceeded', pg_catalog.jsonb_build_object(
            'game', 'mines', 'stake', v_bet.stake, 'payout', v_next,
            'profit', v_next - v_bet.stake, 'max_profit', v_max_profit, 'revealed', v_n + 1));
    end if;

    select * into v_pair from app.seed_pairs as s where s.id = v_bet.seed_pair_id;
    if v_cell = any(app._mines_positions(v_pair.server_seed, v_pair.client_seed, v_bet.nonce,
        v_mines)) then
        v_bet := app._settle_house_round(v_bet, 0, v_bet.multiplier, 'mine',
            pg_catalog.jsonb_build_object('mine', v_cell));
    elsif v_n + 1 = 25 - v_mines then
        update app.house_bets as b
        set moves = b.moves || pg_catalog.to_jsonb(v_cell), moved_at = now()
        where b.id = v_bet.id
        returning * into v_bet;
        v_bet := app._settle_house_round(v_bet, v_next::bigint,
            app._mines_multiplier(v_bet.house_edge_bps, v_mines, v_n + 1), 'all_safe',
            '{}'::jsonb);
    else
        update app.house_bets as b
        set moves = b.moves || pg_catalog.to_jsonb(v_cell),
            multiplier = app._mines_multiplier(b.house_edge_bps, v_mines, v_n + 1),
            moved_at = now()
        where b.id = v_bet.id
        returning * into v_bet;
    end if;
    return app._idempotency_finish(v_user, reveal_mines_cell.idempotency_key,
        app._mines_state(v_bet));
end
$$;
grant execute on function public.reveal_mines_cell(text, integer, text) to authenticated;

-- cashout_mines(round_id): settle the caller's open round at its multiplier: pays
-- floor(stake * (1 - edge) * C(25, n) / C(25 - mines, n)) for its n safe cells (at least one:
-- nothing_to_cash_out before the first) in one 'house_round_settle' ledger transaction. A second
-- cash-out, or one racing a reveal that ended the round, is refused (round_closed): a round pays
-- once.
-- Callers: authenticated, on their own rounds. Changes: the round settled, the ledger; notifies
-- balance.
-- Returns the round (_mines_state) with result {mines, ended: cashout}, payout and balance.
-- Raises: not_authenticated, unknown_user, round_not_found, round_closed, nothing_to_cash_out.
create or replace function public.cashout_mines(round_id text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_bet app.house_bets := app._lock_round(cashout_mines.round_id, v_user);
    v_mines integer := (v_bet.params ->> 'mines')::integer;
    v_n integer := pg_catalog.jsonb_array_length(v_bet.moves);
begin
    perform app._require_open_round(v_bet);
    if v_n = 0 then
        perform app._fail('nothing_to_cash_out', pg_catalog.jsonb_build_object(
            'round_id', v_bet.id));
    end if;
    v_bet := app._settle_house_round(v_bet,
        app._mines_win(v_bet.stake, v_bet.house_edge_bps, v_mines, v_n)::bigint,
        v_bet.multiplier, 'cashout', '{}'::jsonb);
    return app._mines_state(v_bet);
end
$$;
grant execute on function public.cashout_mines(text) to authenticated;

-- get_mines_round(round_id): a round of the caller's as the steps answer it; without an id, their
-- open round of mines (null when they have none).
-- Callers: authenticated. Changes: nothing.
-- Raises: not_authenticated, unknown_user, round_not_found.
create or replace function public.get_mines_round(round_id text default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_bet app.house_bets;
begin
    select * into v_bet
    from app.house_bets as b
    where b.user_id = v_user and b.game = 'mines' and case
        when get_mines_round.round_id is null then b.status = 'created'
        else b.id = get_mines_round.round_id
    end;
    if not found then
        if get_mines_round.round_id is null then
            return null;
        end if;
        perform app._fail('round_not_found', pg_catalog.jsonb_build_object(
            'round_id', get_mines_round.round_id));
    end if;
    return app._mines_state(v_bet);
end
$$;
grant execute on function public.get_mines_round(text) to authenticated;

-- Abandoned rounds ------------------------------------------------------------------------------

-- settle_house_round(round_id, reason): an admin settles a player's open round (abandoned, say)
-- by the one rule for abandoned rounds (_settle_abandoned): cashed out at its multiplier after a
-- safe cell or more, its stake refunded before any. Logged in admin_actions (settle_house_round,
-- the reason, the round before and after).
-- Callers: admins and the service role. Changes: the round settled, the ledger; notifies balance.
-- Returns the round (_mines_state) with result {mines, ended: admin, refunded when refunded}.
-- Raises: not_admin, invalid_argument (no reason), round_not_found, round_closed.
create or replace function public.settle_house_round(round_id text, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_before app.house_bets;
    v_bet app.house_bets;
begin
    perform app._require_admin();
    if nullif(btrim(settle_house_round.reason), '') is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'reason', 'reason', 'say why the round is settled'));
    end if;
    v_before := app._lock_round(settle_house_round.round_id, null);
    perform app._require_open_round(v_before);
    v_bet := app._settle_abandoned(v_before, 'admin');
    perform app._audit('settle_house_round', null, null, settle_house_round.reason,
        pg_catalog.to_jsonb(v_before) - 'idempotency_key',
        pg_catalog.to_jsonb(v_bet) - 'idempotency_key');
    return app._mines_state(v_bet);
end
$$;
grant execute on function public.settle_house_round(text, text) to authenticated, service_role;

-- expire_house_rounds(): settle every open round idle longer than its game's round_idle_minutes
-- (no step since moved_at) by the rule for abandoned rounds, result.ended 'expired', logged in
-- admin_actions (settle_house_round, actor_role 'scheduler', reason 'idle'). In the lock order,
-- without waiting: a round whose pair or row another transaction holds (a step in flight) is
-- left to the next tick, and the idle time is checked again under the locks. At most 1000 rounds
-- a tick; each in a subtransaction: one that fails is rolled back alone, raised as a warning and
-- tried again next tick.
-- Callers: the scheduler (through scheduler_tick), never a client role.
-- Returns the ids of the rounds settled.
create or replace function app.expire_house_rounds()
returns text[]
language plpgsql
set search_path = ''
as $$
declare
    v_candidate record;
    v_bet app.house_bets;
    v_settled app.house_bets;
    v_expired text[] := '{}';
    v_error text;
    v_detail text;
begin
    for v_candidate in
        select b.id, b.seed_pair_id
        from app.house_bets as b
        inner join app.house_games as g on g.game = b.game
        where b.status = 'created' and g.round_idle_minutes is not null
            and b.moved_at < now() - pg_catalog.make_interval(mins => g.round_idle_minutes)
        order by b.moved_at
        limit 1000
    loop
        perform 1 from app.seed_pairs as s where s.id = v_candidate.seed_pair_id
        for update skip locked;
        if not found then
            continue;
        end if;
        select b.* into v_bet
        from app.house_bets as b
        inner join app.house_games as g on g.game = b.game
        where b.id = v_candidate.id and b.status = 'created'
            and b.moved_at < now() - pg_catalog.make_interval(mins => g.round_idle_minutes)
        for update of b skip locked;
        if not found then
            continue;
        end if;
        begin
            v_settled := app._settle_abandoned(v_bet, 'expired');
            perform app._audit('settle_house_round', null, null, 'idle',
                pg_catalog.to_jsonb(v_bet) - 'idempotency_key',
                pg_catalog.to_jsonb(v_settled) - 'idempotency_key', 'scheduler');
            v_expired := v_expired || v_settled.id;
        exception when others then
            -- one round that fails is rolled back alone and tried again next tick
            get stacked diagnostics v_error = message_text, v_detail = pg_exception_detail;
            raise warning 'house round % was not expired: % %', v_bet.id, v_error, v_detail;
        end;
    end loop;
    return v_expired;
end
$$;

-- ==== rpc/82_house_autobet.sql
reset all;

-- Auto-bet (issue 18 item 5; docs/house-games.md, "Auto-bet"; migration 0028): up to
-- app.config.auto_bet_max_count bets of one one-shot house game in one call, decided in a batch,
-- each bet exactly the bet a play_<game> call would have made at its nonce.
--
-- Generic over the one-shot games: the terms and the draws are a play's (_house_bet_terms,
-- rpc/80_house_games.sql; _house_draw, rpc/79_house_rules.sql), so every game those know is
-- auto-bet as it is played.
--
-- Lock order: as a play's (rpc/80_house_games.sql): the player's seed pair, then the accounts
-- (the house's and the wallet) in id order, all held to the end of the call.

-- _auto_bet_stop: how many bets of an auto-bet of `p_count` are made, and why it stopped there,
-- given where each reason would stop it (null: never): `p_allowed` the bets the daily stake limit
-- allows, `p_broke_at` the first bet (0-based) the wallet could not pay, `p_profit_at` and
-- `p_loss_at` the first bet after which stop_on_profit or stop_on_loss was met (never both after
-- one bet: a run's profit and loss are not both positive). A stop condition met after a bet ends
-- the run before the next bet is checked; the stake limit is checked before the funds, as a play
-- checks them.
-- Returns {placed, reason: count | stop_on_profit | stop_on_loss | daily_stake_limit_reached |
-- insufficient_funds}.
create or replace function app._auto_bet_stop(
    p_count integer,
    p_allowed integer,
    p_broke_at integer,
    p_profit_at integer,
    p_loss_at integer
)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'placed', least(p_allowed, p_broke_at, p_profit_at + 1, p_loss_at + 1),
        'reason', case
            when least(p_profit_at, p_loss_at) < coalesce(p_broke_at, p_count) then
                case when p_profit_at < coalesce(p_loss_at, p_count)
                    then 'stop_on_profit' else 'stop_on_loss' end
            when p_broke_at is not null then 'insufficient_funds'
            when p_allowed < p_count then 'daily_stake_limit_reached'
            else 'count'
        end)
$$;

-- auto_bet(game, stake, params, count, idempotency_key, stop_on_profit, stop_on_loss): up to
-- `count` bets of `stake` on one-shot game `game` with the same choices `params` (as house_bets
-- stores them: dice {target, over}, limbo {target}, roulette {bet}, plinko {rows, risk}, keno
-- {picks, risk}), what an auto-bet screen
-- runs, in one call and one transaction:
--   1. the idempotency key is claimed first (a replay answers the stored result, replayed: true);
--      `count` is 1 to app.config.auto_bet_max_count, each stop 1 or more (or null: none);
--   2. the checks and terms of a play, once (app._house_bet_terms: self-exclusion, the game
--      enabled, the stake, the choices, the win above the stake and within max_profit): the
--      stake and choices are the same for every bet, so are the terms;
--   3. the seed pair is locked (made on first use), and `count` bets drawn at its next nonces,
--      one each, consecutive (_house_draw); then the wallet and the house account are locked,
--      once, in id order, as a play locks them (the draws are made before, so that the house
--      account, which every house bet updates, is held for the writes alone);
--   4. the run is cut at the first bet that would be refused, the bets before it standing: the
--      daily stake limit (house bets count with wagers), then the funds (the balance after the
--      bets before it); or after the first bet past a stop condition: stop_on_profit (the run's
--      profit, payouts less stakes, reaches it) or stop_on_loss (its loss reaches it); else
--      after `count` bets. When the first bet itself is refused the call is refused as the play
--      would be, and nothing happens;
--   5. the bets are written set-based, each as a play writes it: its payout and multiplier by
--      the play's rule (app._house_outcome), its own 'house_bet' ledger transaction (the stake
--      and payout between the wallet and the house, the entries' balances and versions one bet
--      after another; none for a bet that paid back exactly its stake, as a play), its own
--      house_bets row (id derived from its round, the call's idempotency key); the accounts'
--      balances and versions and the pair's next_nonce move once, by the run's totals.
-- One balance message for the player (reason house_bet, delta the run's profit, bets: how many,
-- transaction_id the last bet's) and one profit message for admins, at the end (none when no bet
-- moved money). Refusals roll the whole call back. Bounded by the count setting and the caller's
-- statement_timeout (8 s for authenticated): a call that runs past it rolls back whole.
-- Callers: authenticated. Changes: house bets, 'house_bet' ledger transactions, the wallet's and
-- the house's balances, the seed pair's nonce (may create the wallet and the pair).
-- Returns {game, stake, params, multiplier, chance (dice), house_edge_bps, count (asked), placed,
-- stopped (why: count, stop_on_profit, stop_on_loss, daily_stake_limit_reached or
-- insufficient_funds), seed_pair_id, server_seed_hash, client_seed, first_nonce, wagered,
-- paid, profit, balance, balance_version, bets: [{id, nonce, result, multiplier, payout, won,
-- balance, transaction_id}]}.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict,
-- invalid_argument, self_excluded, game_disabled, invalid_amount, max_profit_exceeded,
-- daily_stake_limit_reached, insufficient_funds (the last two only for the first bet).
create or replace function public.auto_bet(
    game text,
    stake bigint,
    params jsonb,
    count integer,
    idempotency_key text default null,
    stop_on_profit bigint default null,
    stop_on_loss bigint default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_stake bigint := auto_bet.stake;
    v_replay jsonb;
    v_maximum integer;
    v_terms jsonb;
    v_edge integer;
    v_pair app.seed_pairs;
    v_wallet bigint;
    v_house bigint := app._system_account('house');
    v_balance bigint;
    v_version bigint;
    v_house_balance bigint;
    v_house_version bigint;
    v_limit bigint;
    v_used bigint;
    v_allowed integer;
    v_results jsonb[];
    v_payouts bigint[];
    v_multipliers numeric[];
    v_stopped jsonb;
    v_placed integer;
    v_moved integer;
    v_net bigint;
    v_paid bigint;
    v_bets jsonb;
    v_last_tx bigint;
    v_result jsonb;
begin
    v_replay := app._idempotency_begin(v_user, auto_bet.idempotency_key, 'auto_bet',
        pg_catalog.jsonb_build_object(
            'game', auto_bet.game, 'stake', v_stake, 'params', auto_bet.params,
            'count', auto_bet.count, 'stop_on_profit', auto_bet.stop_on_profit,
            'stop_on_loss', auto_bet.stop_on_loss));
    if v_replay is not null then
        return v_replay;
    end if;
    select c.auto_bet_max_count into v_maximum from app.config as c;
    if auto_bet.count is null or auto_bet.count not between 1 and v_maximum then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'count', 'value', auto_bet.count, 'maximum', v_maximum,
            'reason', 'the number of bets, 1 to the setting auto_bet_max_count'));
    end if;
    if auto_bet.stop_on_profit <= 0 or auto_bet.stop_on_loss <= 0 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', case when auto_bet.stop_on_profit <= 0
                then 'stop_on_profit' else 'stop_on_loss' end,
            'reason', 'minor units, 1 or more (or null: no such stop)'));
    end if;
    v_terms := app._house_bet_terms(v_user, auto_bet.game, v_stake, auto_bet.params);
    v_edge := (v_terms ->> 'house_edge_bps')::integer;

    -- the lock order: the seed pair, then the accounts by id. The draws need only the pair's
    -- lock (its nonces are this call's from now on), so they are made before the accounts are
    -- locked: the house account, which every house bet updates, is held for the writes alone.
    v_pair := app._active_seed_pair(v_user, true);
    with drawn as materialized (  -- materialized: each bet drawn once, not once per use
        select
            g.k,
            app._house_outcome(v_stake, v_terms, app._house_draw(auto_bet.game,
                v_terms -> 'params', v_edge, v_pair.server_seed, v_pair.client_seed,
                v_pair.next_nonce + g.k)) as outcome
        from generate_series(0, auto_bet.count - 1) as g (k)
    )
    select
        pg_catalog.array_agg(d.outcome -> 'result' order by d.k),
        pg_catalog.array_agg((d.outcome ->> 'payout')::bigint order by d.k),
        pg_catalog.array_agg((d.outcome ->> 'multiplier')::numeric order by d.k)
    into v_results, v_payouts, v_multipliers
    from drawn as d;

    v_wallet := app._ensure_wallet(v_user);
    select
        max(l.balance) filter (where l.id = v_wallet),
        max(l.version) filter (where l.id = v_wallet),
        max(l.balance) filter (where l.id = v_house),
        max(l.version) filter (where l.id = v_house)
    into v_balance, v_version, v_house_balance, v_house_version
    from (
        select a.id, a.balance, a.version from app.accounts as a
        where a.id in (v_house, v_wallet) order by a.id for update
    ) as l;

    -- the first bet is refused as a play would be; later ones end the run
    select f.daily_stake_limit, f.stake_used into v_limit, v_used
    from app.play_limits_in_force as f
    where f.user_id = v_user;
    v_allowed := case when v_limit is null then auto_bet.count
        else least(auto_bet.count, greatest(0, (v_limit - v_used) / v_stake)) end;
    if v_allowed = 0 then
        perform app._require_within_stake_limit(v_user, v_stake);
    end if;
    if v_balance < v_stake then
        perform app._fail('insufficient_funds', pg_catalog.jsonb_build_object(
            'balance', v_balance, 'stake', v_stake));
    end if;

    -- where the limit, the funds or a stop condition end the run
    select app._auto_bet_stop(auto_bet.count, v_allowed,
        (min(r.k) filter (where v_balance + r.net - (r.payout - v_stake) < v_stake))::integer,
        (min(r.k) filter (where r.net >= auto_bet.stop_on_profit))::integer,
        (min(r.k) filter (where -r.net >= auto_bet.stop_on_loss))::integer)
    into v_stopped
    from (
        select p.k - 1 as k, p.payout, sum(p.payout - v_stake) over (order by p.k) as net
        from unnest(v_payouts[1:v_allowed]) with ordinality as p (payout, k)
    ) as r;
    v_placed := (v_stopped ->> 'placed')::integer;

    -- the bets, each its own ledger transaction (none for a bet that paid back exactly its
    -- stake: nothing moved, as a play writes it) and row, in one statement; `moved` counts the
    -- bets with a transaction so far, which the accounts' versions follow
    with bets as (
        select
            b.k - 1 as k,
            v_pair.next_nonce + b.k - 1 as nonce,
            b.result,
            b.payout,
            b.multiplier,
            app._house_bet_id(v_pair.server_seed_hash, v_pair.client_seed,
                v_pair.next_nonce + b.k - 1) as id,
            sum(b.payout - v_stake) over (order by b.k) as net,
            count(*) filter (where b.payout <> v_stake) over (order by b.k) as moved
        from unnest(v_results[1:v_placed], v_payouts[1:v_placed], v_multipliers[1:v_placed])
            with ordinality as b (result, payout, multiplier, k)
    ),
    transactions as (
        insert into app.ledger_transactions (kind, actor, memo)
        select 'house_bet', v_user, pg_catalog.jsonb_build_object(
            'house_bet_id', b.id, 'game', auto_bet.game, 'stake', v_stake, 'payout', b.payout)
        from bets as b
        where b.payout <> v_stake
        order by b.k
        returning id, memo ->> 'house_bet_id' as bet_id
    ),
    entries as (
        insert into app.ledger_entries (
            transaction_id, account_id, user_id, kind, amount, balance_before, balance_after,
            account_version
        )
        select t.id, e.account_id, e.user_id, 'house_bet', e.amount, e.after - e.amount,
            e.after, e.version
        from bets as b
        inner join transactions as t on b.id = t.bet_id
        cross join lateral (values
            (v_house, null::uuid, v_stake - b.payout, v_house_balance - b.net,
                v_house_version + b.moved),
            (v_wallet, v_user, b.payout - v_stake, v_balance + b.net, v_version + b.moved)
        ) as e (account_id, user_id, amount, after, version)
        returning transaction_id
    ),
    written as (
        insert into app.house_bets (
            id, user_id, game, seed_pair_id, server_seed_hash, client_seed, nonce, stake,
            params, house_edge_bps, result, multiplier, payout, status, transaction_id,
            idempotency_key, settled_at
        )
        select
            b.id, v_user, auto_bet.game, v_pair.id, v_pair.server_seed_hash,
            v_pair.client_seed, b.nonce, v_stake, v_terms -> 'params', v_edge, b.result,
            b.multiplier, b.payout, 'settled', t.id, auto_bet.idempotency_key, now()
        from bets as b
        left join transactions as t on b.id = t.bet_id
        returning id, nonce, result, multiplier, payout, transaction_id
    )
    select
        pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'id', w.id, 'nonce', w.nonce, 'result', w.result, 'multiplier', w.multiplier,
            'payout', w.payout, 'won', w.payout > v_stake, 'balance', v_balance + b.net,
            'transaction_id', w.transaction_id
        ) order by w.nonce),
        max(w.transaction_id),
        sum(w.payout),
        sum(w.payout - v_stake),
        count(w.transaction_id)
    into v_bets, v_last_tx, v_paid, v_net, v_moved
    from written as w
    inner join bets as b on w.id = b.id;

    update app.accounts as a
    set balance = a.balance + case when a.id = v_wallet then v_net else -v_net end,
        version = a.version + v_moved
    where a.id in (v_wallet, v_house) and v_moved > 0;
    -- the pair's nonce moves over the bets just written (app._seed_pair_changed checks them)
    update app.seed_pairs as s
    set next_nonce = s.next_nonce + v_placed
    where s.id = v_pair.id;

    if v_moved > 0 then  -- as a play: no message when no bet moved money
        perform app._notify('wagerbase_user', pg_catalog.jsonb_build_object(
            'type', 'balance', 'user_id', v_user, 'balance', v_balance + v_net,
            'version', v_version + v_moved, 'delta', v_net, 'reason', 'house_bet',
            'transaction_id', v_last_tx, 'market_id', null, 'wager_id', null, 'bets', v_placed));
        perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object('type', 'profit')
            || app._house_figures());
    end if;

    v_result := pg_catalog.jsonb_build_object(
        'game', auto_bet.game,
        'stake', v_stake,
        'params', v_terms -> 'params',
        'multiplier', v_terms -> 'multiplier',
        'house_edge_bps', v_edge,
        'count', auto_bet.count,
        'placed', v_placed,
        'stopped', v_stopped -> 'reason',
        'seed_pair_id', v_pair.id,
        'server_seed_hash', v_pair.server_seed_hash,
        'client_seed', v_pair.client_seed,
        'first_nonce', v_pair.next_nonce,
        'wagered', v_stake * v_placed,
        'paid', v_paid,
        'profit', v_net,
        'balance', v_balance + v_net,
        'balance_version', v_version + v_moved,
        'bets', v_bets
    ) || pg_catalog.jsonb_strip_nulls(
        pg_catalog.jsonb_build_object('chance', v_terms -> 'chance'));
    return app._idempotency_finish(v_user, auto_bet.idempotency_key, v_result);
end
$$;
grant execute on function public.auto_bet(text, bigint, jsonb, integer, text, bigint, bigint)
to authenticated;

-- ==== rpc/83_house_effects.sql
reset all;

-- The side effects of house bets (migrations/0029_house_effects.sql; docs/side-effects.md, "House
-- bets"): XP and levels, rakeback, the live-bets feed and the volume per game, as jobs of the
-- outbox of rpc/70_side_effects.sql keyed per user. A trigger on app.house_bets enqueues, in the
-- transaction that settles the bets; app._run_side_effect hands a user's job to
-- app._run_house_effect, which consumes the user's pending rows of its handler and applies them
-- in the same transaction, so each bet counts once.

-- The parts of a minor unit app.rakeback counts in: 37 * 10^8 (see the migration).
create or replace function app._rakeback_parts_per_unit()
returns numeric
language sql immutable
set search_path = ''
as $$
    select 3700000000::numeric
$$;

-- _rakeback_parts: what bet `p_bet` accrues, in parts (37 * 10^8 a minor unit): stake x the edge
-- it was played at x rakeback_bps / 10000. A game with a house_edge_bps setting (dice, limbo,
-- mines) uses the bet's edge (edge_bps / 10000); roulette, which has none, its single zero's edge
-- of 1/37 (an RTP of 36/37); plinko and keno, whose payouts come from tables, a nominal edge of
-- 1% (100 bps): plinko's every table pays exactly 99%, keno's 98.65% to 99.07% (docs/side-effects.md,
-- "House bets", says why one nominal edge). Exact: stake * edge_bps * 37 * rate_bps, or
-- stake * 10^4 * rate_bps for roulette.
-- Raises: invalid_argument for a game with none of these (a new game must say what its edge is).
create or replace function app._rakeback_parts(p_bet app.house_bets, p_rate_bps integer)
returns numeric
language plpgsql immutable
set search_path = ''
as $$
begin
    if p_bet.house_edge_bps is not null then
        return p_bet.stake::numeric * p_bet.house_edge_bps * 37 * p_rate_bps;
    elsif p_bet.game = 'roulette' then
        return p_bet.stake::numeric * 10000 * p_rate_bps;
    elsif p_bet.game in ('plinko', 'keno') then
        return p_bet.stake::numeric * 100 * 37 * p_rate_bps;
    end if;
    perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
        'argument', 'game', 'game', p_bet.game, 'reason', 'no house edge for rakeback'));
end
$$;

-- _house_handlers: the handlers every settled house bet goes to, in the order BetService runs
-- them (XP before rakeback, then the affiliate commission; the feed and the game's volume after).
-- house_affiliate only takes the bets of a player who has a referrer (_enqueue_house_effects).
create or replace function app._house_handlers()
returns text[]
language sql immutable
set search_path = ''
as $$
    select array['house_xp', 'house_rakeback', 'house_affiliate', 'house_feed', 'house_game_stats']
$$;

-- _enqueue_house_effects: for the bets `p_bet_ids` just settled, one pending row per (house
-- handler, bet) and one job per (house handler, user). A round refunded unplayed (mines settled
-- by an admin or the idle expiry before any cell: result.refunded) is no bet: nothing was at
-- risk, so it earns no XP or rakeback and is not in the feed or the volume. A bet of a player
-- without a referrer (app.referrals, rpc/84_ggr_and_affiliates.sql) does not go to
-- house_affiliate. Callers: the trigger below, in the transaction that settled the bets.
create or replace function app._enqueue_house_effects(p_bet_ids text[])
returns void
language sql
set search_path = ''
as $$
    insert into app.house_effects_pending (handler, bet_id, user_id)
    select h.handler, b.id, b.user_id
    from app.house_bets as b
    cross join unnest(app._house_handlers()) as h (handler)
    where b.id = any(p_bet_ids) and b.result ->> 'refunded' is distinct from 'true'
        and (h.handler <> 'house_affiliate'
            or exists (select 1 from app.referrals as r where r.user_id = b.user_id))
    order by h.handler, b.id
    on conflict (handler, bet_id) do nothing;
    insert into app.side_effect_jobs (handler, user_id, event)
    select distinct h.handler, b.user_id, 'settled'
    from app.house_bets as b
    cross join unnest(app._house_handlers()) as h (handler)
    where b.id = any(p_bet_ids) and b.result ->> 'refunded' is distinct from 'true'
        and (h.handler <> 'house_affiliate'
            or exists (select 1 from app.referrals as r where r.user_id = b.user_id))
$$;

-- _house_bets_settled: the statement-level trigger of app.house_bets: the bets the statement
-- inserted settled, or moved to settled, go to _enqueue_house_effects (one call per statement, so
-- a batch of auto-bets is enqueued set-based).
create or replace function app._house_bets_settled()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        perform app._enqueue_house_effects(array(
            select n.id from new_bets as n where n.status = 'settled'));
    else
        perform app._enqueue_house_effects(array(
            select n.id from new_bets as n
            inner join old_bets as o on n.id = o.id
            where n.status = 'settled' and o.status is distinct from 'settled'));
    end if;
    return null;
end
$$;

drop trigger if exists house_bets_settled_insert on app.house_bets;
create trigger house_bets_settled_insert
after insert on app.house_bets
referencing new table as new_bets
for each statement execute function app._house_bets_settled();

drop trigger if exists house_bets_settled_update on app.house_bets;
create trigger house_bets_settled_update
after update on app.house_bets
referencing old table as old_bets new table as new_bets
for each statement execute function app._house_bets_settled();

-- _run_house_effect: run house job `p_job`: take (delete) its user's pending rows of its handler
-- and apply those bets, in the job's transaction: a row is counted by the job that deletes it,
-- and a second job, or the same job again, finds nothing (a concurrent one waits for the rows,
-- then skips them). Returns how many bets it counted.
-- Callers: app._run_side_effect. Changes: app.house_effects_pending, app.player_xp,
-- app.rakeback, app.affiliate_commission, app.live_bets or app.house_game_stats.
-- Raises: what its statements raise (lock_not_available past the lock timeout).
create or replace function app._run_house_effect(p_job app.side_effect_jobs)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_config app.config;
    v_bets app.house_bets[];
begin
    select * into v_config from app.config;
    with taken as (
        delete from app.house_effects_pending as p
        where p.handler = p_job.handler and p.user_id = p_job.user_id
        returning p.bet_id
    )
    select coalesce(array_agg(b order by b.id), '{}') into v_bets
    from app.house_bets as b
    where b.id in (select t.bet_id from taken as t);
    if cardinality(v_bets) = 0 then
        return 0;
    end if;
    case p_job.handler
        when 'house_xp' then
            insert into app.player_xp as x (user_id, player, xp, bets)
            select p_job.user_id, app._player_name(p_job.user_id),
                sum(b.stake::numeric * v_config.xp_per_major_unit / 100), count(*)
            from unnest(v_bets) as b
            on conflict (user_id) do update
            set xp = x.xp + excluded.xp, bets = x.bets + excluded.bets, player = excluded.player,
                updated_at = now();
        when 'house_rakeback' then
            insert into app.rakeback as r (user_id, accrued_parts, bets)
            select p_job.user_id, sum(app._rakeback_parts(b, v_config.rakeback_bps)), count(*)
            from unnest(v_bets) as b
            on conflict (user_id) do update
            set accrued_parts = r.accrued_parts + excluded.accrued_parts,
                bets = r.bets + excluded.bets, updated_at = now();
        when 'house_affiliate' then
            perform app._affiliate_accrue(p_job.user_id, v_bets);
        when 'house_feed' then
            insert into app.live_bets (
                bet_id, game, player, stake, multiplier, payout, settled_at
            )
            select
                b.id, b.game, app._player_name(b.user_id), b.stake, b.multiplier, b.payout,
                b.settled_at
            from unnest(v_bets) as b
            on conflict (bet_id) do nothing;
            -- keep the newest live_bets_kept
            delete from app.live_bets as l
            where (l.settled_at, l.bet_id) < (
                select k.settled_at, k.bet_id from app.live_bets as k
                order by k.settled_at desc, k.bet_id desc
                offset v_config.live_bets_kept - 1 limit 1
            );
        when 'house_game_stats' then
            -- the games' rows in key order, so two jobs never deadlock
            insert into app.house_game_stats as g (game)
            select distinct b.game from unnest(v_bets) as b order by b.game
            on conflict (game) do nothing;
            perform 1
            from app.house_game_stats as g
            where g.game in (select b.game from unnest(v_bets) as b)
            order by g.game
            for update;
            update app.house_game_stats as g
            set bets = g.bets + d.bets, wins = g.wins + d.wins, staked = g.staked + d.staked,
                paid = g.paid + d.paid, updated_at = now()
            from (
                select
                    b.game,
                    count(*) as bets,
                    count(*) filter (where b.payout > 0) as wins,
                    sum(b.stake) as staked,
                    sum(b.payout) as paid
                from unnest(v_bets) as b
                group by b.game
            ) as d
            where g.game = d.game;
    end case;
    return cardinality(v_bets);
end
$$;

-- _level_of: the level XP `p_xp` reaches, with its threshold and the next level's (null at the
-- top).
create or replace function app._level_of(p_xp bigint)
returns table (level integer, level_min_xp bigint, next_level_xp bigint)
language sql stable
set search_path = ''
as $$
    select
        l.level,
        l.min_xp,
        (select min(n.min_xp) from app.levels as n where n.min_xp > l.min_xp)
    from app.levels as l
    where l.min_xp <= p_xp
    order by l.min_xp desc
    limit 1
$$;

-- get_level(): the caller's XP, level, and rakeback.
-- Callers: authenticated. Changes: nothing. Returns {xp, bets, level, level_min_xp,
-- next_level_xp, rakeback_accrued (minor units, floored), rakeback_paid, rakeback_claimable}.
-- Raises: not_authenticated.
create or replace function public.get_level()
returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_xp bigint := coalesce(
        (select floor(x.xp)::bigint from app.player_xp as x where x.user_id = v_user), 0);
    v_rakeback app.rakeback;
    v_accrued bigint;
begin
    select * into v_rakeback from app.rakeback as r where r.user_id = v_user;
    v_accrued := coalesce(floor(v_rakeback.accrued_parts / app._rakeback_parts_per_unit()), 0);
    return (
        select pg_catalog.jsonb_build_object(
            'xp', v_xp,
            'bets', coalesce((select x.bets from app.player_xp as x where x.user_id = v_user), 0),
            'level', l.level, 'level_min_xp', l.level_min_xp, 'next_level_xp', l.next_level_xp,
            'rakeback_accrued', v_accrued,
            'rakeback_paid', coalesce(v_rakeback.paid, 0),
            'rakeback_claimable', v_accrued - coalesce(v_rakeback.paid, 0))
        from app._level_of(v_xp) as l
    );
end
$$;
grant execute on function public.get_level() to authenticated;

-- _pay_claim: pay `p_amount` minor units from the house to wallet `p_wallet` of user `p_user`, in
-- one balanced ledger transaction of kind `p_kind` (memo {p_kind: amount}); nothing for 0. The
-- caller has claimed its idempotency key and locked the row it pays from. Callers:
-- claim_rakeback, claim_affiliate_commission (rpc/84_ggr_and_affiliates.sql). Changes: the
-- wallet and the house account; notifies balance. Returns {paid, transaction_id (null for 0),
-- balance, balance_version}.
create or replace function app._pay_claim(
    p_user uuid, p_wallet bigint, p_kind text, p_amount bigint
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_tx bigint;
begin
    if p_amount > 0 then
        v_tx := app._post_transaction(p_kind, array[app._system_account('house'), p_wallet],
            array[-p_amount, p_amount],
            p_memo => pg_catalog.jsonb_build_object(p_kind, p_amount), p_actor => p_user);
    end if;
    return (
        select pg_catalog.jsonb_build_object(
            'paid', p_amount, 'transaction_id', v_tx, 'balance', a.balance,
            'balance_version', a.version)
        from app.accounts as a
        where a.id = p_wallet);
end
$$;

-- claim_rakeback(idempotency_key): pay the caller's claimable rakeback (everything accrued, in
-- whole minor units, not yet paid) from the house to their wallet, in one 'rakeback' ledger
-- transaction (app._pay_claim). The key is claimed first (a replay returns the first answer); the
-- rakeback row is locked, so two claims at once pay once: the second finds nothing left and pays
-- 0 (no ledger transaction). Callers: authenticated. Changes: app.rakeback.paid, the wallet and
-- the house account (a ledger transaction; may create the wallet); notifies balance.
-- Returns {paid, rakeback_paid, transaction_id, balance, balance_version}.
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict.
create or replace function public.claim_rakeback(idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_rakeback app.rakeback;
    v_amount bigint := 0;
    v_wallet bigint;
    v_paid jsonb;
begin
    v_replay := app._idempotency_begin(v_user, claim_rakeback.idempotency_key, 'claim_rakeback',
        '{}'::jsonb);
    if v_replay is not null then
        return v_replay;
    end if;
    v_wallet := app._ensure_wallet(v_user);
    select * into v_rakeback from app.rakeback as r where r.user_id = v_user for update;
    if found then
        v_amount := floor(v_rakeback.accrued_parts / app._rakeback_parts_per_unit())::bigint
            - v_rakeback.paid;
    end if;
    v_paid := app._pay_claim(v_user, v_wallet, 'rakeback', v_amount);
    if v_amount > 0 then
        update app.rakeback as r
        set paid = r.paid + v_amount, updated_at = now()
        where r.user_id = v_user
        returning * into v_rakeback;
    end if;
    return app._idempotency_finish(v_user, claim_rakeback.idempotency_key, v_paid
        || pg_catalog.jsonb_build_object('rakeback_paid', coalesce(v_rakeback.paid, 0)));
end
$$;
grant execute on function public.claim_rakeback(text) to authenticated;

-- The read side (policies/75_house_effects.sql decides who reads what).
drop view if exists public.xp_leaderboard;
drop view if exists public.live_bets;
drop view if exists public.house_game_volume;
drop view if exists public.levels;

-- Anyone: the levels and their XP thresholds.
create view public.levels with (security_invoker = true) as
select
    l.level,
    l.min_xp
from app.levels as l
order by l.level;

-- Anyone: players ranked by XP (floored), by public name, with their level.
create view public.xp_leaderboard with (security_invoker = true) as
select
    rank() over (order by floor(x.xp) desc) as rank,
    x.player,
    floor(x.xp)::bigint as xp,
    (
        select max(l.level) from app.levels as l
        where l.min_xp <= floor(x.xp)
    ) as level,
    x.bets
from app.player_xp as x
where x.bets > 0;

-- Anyone: the newest settled house bets, newest first, by public name (never an email or a user
-- id): the live-bets feed.
create view public.live_bets with (security_invoker = true) as
select
    l.bet_id,
    l.game,
    l.player,
    l.stake,
    l.multiplier,
    l.payout,
    l.payout - l.stake as profit,
    l.settled_at
from app.live_bets as l
order by l.settled_at desc, l.bet_id desc;

-- Anyone: each game's volume: settled bets, wins and what they staked. What the house won on a
-- game (paid, GGR) is the admins' (house_game_results).
create view public.house_game_volume with (security_invoker = true) as
select
    g.game,
    coalesce(s.bets, 0) as bets,
    coalesce(s.wins, 0) as wins,
    coalesce(s.staked, 0) as staked
from app.house_games as g
left join app.house_game_stats as s on g.game = s.game;

grant select on public.levels, public.xp_leaderboard, public.live_bets, public.house_game_volume
to anon, authenticated, service_role;

-- ==== rpc/84_ggr_and_affiliates.sql
reset all;

-- The GGR commission stored on each settled house bet, and the affiliate program (migration 0030;
-- docs/house-games.md, "GGR commission"; docs/side-effects.md, "Affiliate commission"): a referral
-- code per player, set_referrer once before the first bet, the referrer's share of their
-- referred players' GGR accrued by the house_affiliate handler (rpc/83_house_effects.sql) and
-- claimed through the ledger.

-- GGR commission --------------------------------------------------------------------------------

-- _house_bet_ggr: the BEFORE trigger of app.house_bets, for each row, whoever writes: when a bet is
-- written settled (a one-shot play, a batch of auto-bets: each row of the set-based insert) or
-- moves to settled (a round), its ggr (stake - payout), the game's ggr_commission_bps at that
-- moment, and the commission ggr * bps / 10000, exact (at most 4 decimals of a minor unit; never
-- rounded); while a round is open all three are null whatever the writer sent. A settled bet
-- never changes (the guard trigger, house_bets_guard, runs after this one and refuses it).
create or replace function app._house_bet_ggr()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and old.status = 'settled' then
        return new;
    end if;
    if new.status = 'settled' then
        new.ggr := new.stake - new.payout;
        new.ggr_commission_bps := (
            select g.ggr_commission_bps from app.house_games as g where g.game = new.game);
        new.ggr_commission := new.ggr::numeric * new.ggr_commission_bps / 10000;
    else
        new.ggr := null;
        new.ggr_commission_bps := null;
        new.ggr_commission := null;
    end if;
    return new;
end
$$;

drop trigger if exists house_bets_ggr on app.house_bets;
create trigger house_bets_ggr
before insert or update on app.house_bets
for each row execute function app._house_bet_ggr();

-- Affiliates ------------------------------------------------------------------------------------

-- _referral_code: user `p_user`'s referral code, made on first use: 10 uppercase hex characters
-- from gen_random_uuid (40 random bits; a clash with another code is a unique violation).
create or replace function app._referral_code(p_user uuid)
returns text
language plpgsql
set search_path = ''
as $$
begin
    insert into app.referral_codes (user_id, code)
    values (p_user, upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 10)))
    on conflict (user_id) do nothing;
    return (select c.code from app.referral_codes as c where c.user_id = p_user);
end
$$;

-- _affiliate_parts_per_unit: the parts of a minor unit app.affiliate_commission counts in.
create or replace function app._affiliate_parts_per_unit()
returns numeric
language sql immutable
set search_path = ''
as $$
    select 10000::numeric
$$;

-- _affiliate_accrue: credit referrer of user `p_user` with the bets `p_bets` (that user's, settled):
-- their GGR, and GGR x affiliate_share_bps parts (signed). Callers: app._run_house_effect (the
-- house_affiliate job, which took the bets from app.house_effects_pending). Changes:
-- app.affiliate_commission. A user without a referrer credits no one.
create or replace function app._affiliate_accrue(p_user uuid, p_bets app.house_bets[])
returns void
language sql
set search_path = ''
as $$
    insert into app.affiliate_commission as a (referrer_id, ggr, accrued_parts, bets)
    select r.referrer_id, sum(b.ggr), sum(b.ggr::numeric * c.affiliate_share_bps), count(*)
    from app.referrals as r
    cross join app.config as c
    cross join unnest(p_bets) as b
    where r.user_id = p_user
    group by r.referrer_id
    on conflict (referrer_id) do update
    set ggr = a.ggr + excluded.ggr, accrued_parts = a.accrued_parts + excluded.accrued_parts,
        bets = a.bets + excluded.bets, updated_at = now()
$$;

-- set_referrer(code): name who referred the caller, by their referral code. Once: a second call
-- with the same code answers as the first; another code is refused. Only before the caller's
-- first bet (a house bet or a market wager): the caller's wallet is locked first (a bet locks it
-- too: app._lock_stake, place_wager), so a bet racing the call either commits first and the call
-- is refused, or waits and is counted for the referrer. Never oneself, nor one's own referred
-- player (no pair referring each other: a lock on the pair takes two such calls in turn).
-- Callers: authenticated. Changes: app.referrals (may create the caller's wallet).
-- Returns {referrer (their public name), since}.
-- Raises: not_authenticated, unknown_user, invalid_argument (no code), referral_code_not_found,
-- referrer_refused (detail.reason says which rule: self; mutual; already_set; after_first_bet).
create or replace function public.set_referrer(code text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_referrer uuid;
    v_existing app.referrals;
    v_wallet bigint;
begin
    if set_referrer.code is null or length(set_referrer.code) not between 1 and 64 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'code', 'reason', 'a referral code (get_affiliate shows yours)'));
    end if;
    select c.user_id into v_referrer from app.referral_codes as c
    where c.code = upper(btrim(set_referrer.code));
    if v_referrer is null then
        perform app._fail('referral_code_not_found', pg_catalog.jsonb_build_object(
            'code', set_referrer.code));
    end if;
    if v_referrer = v_user then
        perform app._fail('referrer_refused', '{"reason": "self"}');
    end if;
    v_wallet := app._ensure_wallet(v_user);
    perform 1 from app.accounts as a where a.id = v_wallet for update;
    -- the pair's lock: two players naming each other at once are taken one after the other
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'referral:' || least(v_user, v_referrer)::text || greatest(v_user, v_referrer)::text, 0));
    select * into v_existing from app.referrals as r where r.user_id = v_user;
    if found then
        if v_existing.referrer_id <> v_referrer then
            perform app._fail('referrer_refused', '{"reason": "already_set"}');
        end if;
    else
        if exists (select 1 from app.house_bets as b where b.user_id = v_user)
            or exists (select 1 from app.wagers as w where w.user_id = v_user) then
            perform app._fail('referrer_refused', '{"reason": "after_first_bet"}');
        end if;
        if exists (
            select 1 from app.referrals as r
            where r.user_id = v_referrer and r.referrer_id = v_user
        ) then
            perform app._fail('referrer_refused', '{"reason": "mutual"}');
        end if;
        insert into app.referrals (user_id, referrer_id) values (v_user, v_referrer)
        on conflict (user_id) do nothing
        returning * into v_existing;
        if v_existing.user_id is null then
            -- a concurrent call of the caller's won
            select * into v_existing from app.referrals as r where r.user_id = v_user;
            if v_existing.referrer_id <> v_referrer then
                perform app._fail('referrer_refused', '{"reason": "already_set"}');
            end if;
        end if;
    end if;
    return pg_catalog.jsonb_build_object(
        'referrer', app._player_name(v_referrer), 'since', v_existing.created_at);
end
$$;
grant execute on function public.set_referrer(text) to authenticated;

-- _affiliate_json: user `p_user`'s affiliate figures: accrued (floored minor units; negative
-- while their players' wins exceed their losses), paid, claimable.
create or replace function app._affiliate_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'ggr', coalesce(a.ggr, 0),
        'bets', coalesce(a.bets, 0),
        'accrued', coalesce(floor(a.accrued_parts / app._affiliate_parts_per_unit()), 0),
        'paid', coalesce(a.paid, 0),
        'claimable', greatest(coalesce(
            floor(a.accrued_parts / app._affiliate_parts_per_unit())::bigint - a.paid, 0), 0))
    from (select 1) as one
    left join app.affiliate_commission as a on a.referrer_id = p_user
$$;

-- get_affiliate(): the caller's referral code (made on the first call), who referred them, how
-- many players they referred, the share, and their commission (_affiliate_json).
-- Callers: authenticated. Changes: app.referral_codes (the caller's code, once).
-- Returns {code, referred_by (a public name or null), referred_players, share_bps, ggr, bets,
-- accrued, paid, claimable}.
-- Raises: not_authenticated, unknown_user.
create or replace function public.get_affiliate()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
begin
    return pg_catalog.jsonb_build_object(
        'code', app._referral_code(v_user),
        'referred_by', (select app._player_name(r.referrer_id) from app.referrals as r
            where r.user_id = v_user),
        'referred_players', (select count(*) from app.referrals as r
            where r.referrer_id = v_user),
        'share_bps', (select c.affiliate_share_bps from app.config as c))
        || app._affiliate_json(v_user);
end
$$;
grant execute on function public.get_affiliate() to authenticated;

-- claim_affiliate_commission(idempotency_key): pay the caller's claimable commission
-- (greatest(floor(accrued) - paid, 0)) from the house to their wallet in one
-- 'affiliate_commission' ledger transaction (app._pay_claim). The key is claimed first (a replay
-- returns the first answer); the commission row is locked, so two claims at once pay once: the
-- second finds nothing left and pays 0 (no ledger transaction). Callers: authenticated. Changes:
-- app.affiliate_commission.paid, the wallet and the house account (a ledger transaction; may
-- create the wallet); notifies balance.
-- Returns {paid (by this claim), commission_paid (ever), transaction_id, balance,
-- balance_version} and _affiliate_json's other figures after it (ggr, bets, accrued, claimable).
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict.
create or replace function public.claim_affiliate_commission(idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_row app.affiliate_commission;
    v_amount bigint := 0;
    v_wallet bigint;
    v_paid jsonb;
    v_figures jsonb;
begin
    v_replay := app._idempotency_begin(v_user, claim_affiliate_commission.idempotency_key,
        'claim_affiliate_commission', '{}'::jsonb);
    if v_replay is not null then
        return v_replay;
    end if;
    v_wallet := app._ensure_wallet(v_user);
    select * into v_row from app.affiliate_commission as a where a.referrer_id = v_user
    for update;
    if found then
        v_amount := greatest(
            floor(v_row.accrued_parts / app._affiliate_parts_per_unit())::bigint - v_row.paid, 0);
    end if;
    v_paid := app._pay_claim(v_user, v_wallet, 'affiliate_commission', v_amount);
    if v_amount > 0 then
        update app.affiliate_commission as a
        set paid = a.paid + v_amount, updated_at = now()
        where a.referrer_id = v_user;
    end if;
    v_figures := app._affiliate_json(v_user);
    return app._idempotency_finish(v_user, claim_affiliate_commission.idempotency_key,
        (v_figures - 'paid') || v_paid
        || pg_catalog.jsonb_build_object('commission_paid', v_figures -> 'paid'));
end
$$;
grant execute on function public.claim_affiliate_commission(text) to authenticated;

-- ==== rpc/85_house_game_results.sql
reset all;

-- The house games' result per game (docs/house-games.md, the admin console's Casino screen): for
-- each game, its settled bets, what they staked and were paid, and the gross gaming revenue
-- (GGR = stakes - payouts, the house's side), summed by the database over app.house_bets; the
-- game's GGR commission rate now, and the sum of the commissions stored on its bets as each
-- settled (rpc/84_ggr_and_affiliates.sql: exact, at the rate of the day each bet settled).
-- Admins and the service role read every game's row; a bettor is allowed the select and reads no
-- row (not even sums of their own bets: the house's revenue is the house's business).

drop view if exists public.house_game_results;

-- Every game of app.house_games has a row, with zeros when it has no settled bet yet. Security
-- invoker: an admin's RLS on app.house_bets lets them read every bet, and the filter on
-- acts_as_admin() (the service role, or a current admin) leaves a bettor nothing. The filter
-- stands for a policy (a bettor's RLS would let them sum their own bets), so it binds whom RLS
-- binds: a role that bypasses RLS (the superuser, the owner's maintenance) reads every row, as it
-- reads every table's.
create view public.house_game_results with (security_invoker = true) as
select
    g.game,
    count(b.id) as bets,
    count(b.id) filter (where b.payout > 0) as wins,
    coalesce(sum(b.stake), 0)::bigint as staked,
    coalesce(sum(b.payout), 0)::bigint as paid,
    coalesce(sum(b.stake - b.payout), 0)::bigint as ggr,
    g.ggr_commission_bps,
    coalesce(sum(b.ggr_commission), 0) as ggr_commission
from app.house_games as g
left join app.house_bets as b on g.game = b.game and b.status = 'settled'
where (select public.acts_as_admin())
    or exists (
        select 1 from pg_catalog.pg_roles as r
        where r.rolname = current_user and (r.rolsuper or r.rolbypassrls)
    )
group by g.game, g.ggr_commission_bps;

grant select on public.house_game_results to authenticated, service_role;

-- ==== rpc/90_views.sql
reset all;

-- The read side: views in the exposed schema. Each is security_invoker, so the caller's role and
-- the RLS policies on the app tables (policies/) decide which rows come back. `my_*` views narrow
-- to the caller's own rows; the plain ones show an admin every row and a bettor their own.
-- Column lists change only by dropping a view, so each view is dropped and created again.

drop view if exists public.my_wallet;
drop view if exists public.my_wagers;
drop view if exists public.my_ledger;
drop view if exists public.markets;
drop view if exists public.outcomes;
drop view if exists public.settlements;
drop view if exists public.wallets;
drop view if exists public.wagers;
drop view if exists public.ledger;
drop view if exists public.admin_actions;
drop view if exists public.quote_telemetry;
drop view if exists public.settings;
drop view if exists public.pool_snapshots;
drop view if exists public.wager_results;
drop view if exists public.my_withdrawals;
drop view if exists public.withdrawals;

-- Every market anyone may see (drafts: admins only), with live odds, caps and pools, whether
-- its settlement needs a second admin (settlement review: propose, then another admin confirms),
-- whether it takes wagers now (accepting_wagers) and whether it is a BetMarket game
-- (betmarket_game): rpc/02_market_facts.sql.
create view public.markets with (security_invoker = true) as
select
    m.id,
    m.title,
    m.description,
    m.kind,
    m.category,
    m.status,
    m.closes_at,
    app._accepting_wagers(m.status, m.closes_at) as accepting_wagers,
    app._betmarket_game(m.kind, m.outcome_count) as betmarket_game,
    m.total_pool,
    m.version,
    m.outcome_count,
    m.requires_approval,
    m.settlement_requires_confirmation,
    m.virtual_stake,
    m.commission_bps,
    m.margin,
    m.min_cap,
    m.rake_bps,
    m.max_payout,
    m.winning_outcome_id,
    m.void_reason,
    m.created_at,
    m.opened_at,
    m.closed_at,
    m.settled_at,
    m.voided_at,
    (
        select
            jsonb_agg(jsonb_build_object(
                'outcome_id', q.outcome_id, 'position', q.position, 'label', q.label,
                'color', q.color, 'abbreviation', q.abbreviation, 'pool', q.pool,
                'share', q.share, 'odds', q.odds, 'cap', q.cap, 'wager_count', q.wager_count
            ) order by q.position)
        from app.outcome_quotes as q
        where q.market_id = m.id
    ) as outcomes
from app.markets as m;

-- Every outcome of a visible market, with its live odds, cap, pool and share.
create view public.outcomes with (security_invoker = true) as
select
    q.outcome_id as id,
    q.market_id,
    q.position,
    q.label,
    q.color,
    q.abbreviation,
    q.pool,
    q.share,
    q.odds,
    q.cap,
    q.wager_count,
    q.market_version
from app.outcome_quotes as q;

-- Settlement records: public, the ground truth of every payout.
create view public.settlements with (security_invoker = true) as
select
    s.market_id,
    s.winning_outcome_id,
    s.kind,
    s.total_pool,
    s.rake,
    s.net_pool,
    s.winning_pool,
    s.total_paid,
    s.dust,
    s.house_result,
    s.refunded,
    s.winners_count,
    s.losers_count,
    s.winning_users,
    s.settled_at
from app.settlements as s;

-- Wallets: a bettor sees their own, an admin every one.
create view public.wallets with (security_invoker = true) as
select
    a.user_id,
    a.balance,
    a.version,
    a.created_at
from app.accounts as a
where a.kind = 'user';

create view public.my_wallet with (security_invoker = true) as
select
    w.user_id,
    w.balance,
    w.version,
    w.created_at
from public.wallets as w
where w.user_id = (select auth.uid());

-- Wagers with their market and outcome: a bettor sees their own, an admin every one. `is_big`:
-- the stake reached app.config.big_wager_min_stake (read now, so a new setting re-flags them all).
create view public.wagers with (security_invoker = true) as
select
    w.id,
    w.user_id,
    w.market_id,
    m.title as market_title,
    m.kind,
    m.category,
    m.status as market_status,
    m.winning_outcome_id,
    w.outcome_id,
    o.label as outcome_label,
    o.position,
    w.stake,
    w.stake >= (select c.big_wager_min_stake from app.config as c) as is_big,
    w.odds,
    w.potential_payout,
    w.expected_odds,
    w.approval,
    w.settlement,
    w.payout,
    w.payout - w.stake as profit,
    w.reject_reason,
    w.idempotency_key,
    w.created_at,
    w.decided_at,
    w.settled_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcomes as o on w.outcome_id = o.id;

create view public.my_wagers with (security_invoker = true) as
select w.*
from public.wagers as w
where w.user_id = (select auth.uid());

-- Each settled wager's result and the bettor's running profit or loss: one row per wager that won
-- or lost (those user_stats counts; a void or refunded wager moves nothing, payout = stake), with
-- `profit` = payout - stake and `running_profit` = the sum of profit over the same user's won and
-- lost wagers up to this one, in the order (settled_at, id). RLS on app.wagers runs before the
-- sum: a bettor's rows and totals are their own, an admin's are every bettor's, each summed per
-- user. Filtering on user_id narrows the rows first; any other filter leaves the totals whole.
-- An unsettled wager is open again and leaves the sum.
create view public.wager_results with (security_invoker = true) as
select
    w.id,
    w.user_id,
    w.market_id,
    m.title as market_title,
    w.outcome_id,
    o.label as outcome_label,
    w.settlement,
    w.stake,
    w.payout,
    w.payout - w.stake as profit,
    (sum(w.payout - w.stake) over (
        partition by w.user_id order by w.settled_at, w.id
        rows between unbounded preceding and current row
    ))::bigint as running_profit,
    w.settled_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcomes as o on w.outcome_id = o.id
where w.settlement in ('won', 'lost');

-- Ledger entries on user wallets: a bettor sees their own, an admin every one.
create view public.ledger with (security_invoker = true) as
select
    e.id,
    e.transaction_id,
    e.user_id,
    e.kind,
    e.market_id,
    e.amount,
    e.balance_before,
    e.balance_after,
    e.account_version as version,
    e.created_at
from app.ledger_entries as e
where e.user_id is not null;

create view public.my_ledger with (security_invoker = true) as
select l.*
from public.ledger as l
where l.user_id = (select auth.uid());

-- The admin actions log and the quote telemetry: admins only (RLS).
create view public.admin_actions with (security_invoker = true) as
select
    a.id,
    a.actor,
    a.actor_role,
    a.action,
    a.market_id,
    a.wager_id,
    a.reason,
    a.before,
    a.after,
    a.created_at
from app.admin_actions as a;

create view public.quote_telemetry with (security_invoker = true) as
select
    t.id,
    t.market_id,
    t.outcome_id,
    t.user_id,
    t.stake,
    t.baseline_odds,
    t.effective_odds,
    t.price_impact_pp,
    t.share_after,
    t.created_at
from app.quote_telemetry as t;

-- Pool snapshots (migration 0007; docs/depth.md): every outcome's pool, share and odds each time
-- the scheduler took them and at close, one row per outcome per snapshot, for any span
-- (get_market_depth answers the last hour at most). RLS (policies/40_depth.sql): anyone reads the
-- snapshots of a market they can see, so a draft's only admins. Filter on market_id and taken_at
-- (indexed together).
create view public.pool_snapshots with (security_invoker = true) as
select
    s.id,
    s.market_id,
    s.outcome_id,
    s.reason,
    s.market_version,
    s.outcome_pool,
    s.total_pool,
    s.takeout,
    s.share,
    s.odds,
    s.taken_at
from app.pool_snapshots as s;

-- The engine's settings a client may read (app.config's one row; only the database owner changes
-- them): the wallet's amounts, odds locking, the defaults of a new market, the cooling-off before
-- a loosened play limit applies (also in whole seconds, for clients without an interval type),
-- the depth settings, the thresholds of a big wager and a big win, whether bettors may deposit
-- and whether withdrawals wait for an admin (the real-money profile, docs/operations.md), and the
-- limits per client address on sign-ins, sign-ups and token refreshes with their window (also in
-- whole seconds) (see docs/engine.md, "Settings"), whether anonymous sign-ins are on and the
-- refresh-token reuse interval (docs/api.md, "Auth"), the most bets one auto_bet call may ask for
-- (docs/house-games.md, "Auto-bet"). The side-effect workers' tuning is left
-- out: no surface of the API shows it. Admins change the money settings and anonymous_sign_ins
-- with update_settings (rpc/07_settings.sql).
create view public.settings with (security_invoker = true) as
select
    c.initial_balance,
    c.max_deposit,
    c.max_withdrawal,
    c.odds_tolerance,
    c.default_virtual_stake,
    c.default_commission_bps,
    c.default_margin,
    c.default_min_cap,
    c.default_rake_bps,
    c.default_max_payout,
    c.play_limit_cooling_off,
    extract(epoch from c.play_limit_cooling_off)::bigint as play_limit_cooling_off_seconds,
    c.snapshot_interval_seconds,
    c.depth_impact_threshold_pp,
    c.big_wager_min_stake,
    c.big_win_min_profit,
    c.self_service_deposits,
    c.withdrawals_require_approval,
    c.sign_in_limit_per_address,
    c.sign_up_limit_per_address,
    c.refresh_limit_per_address,
    c.address_limit_window,
    extract(epoch from c.address_limit_window)::bigint as address_limit_window_seconds,
    c.anonymous_sign_ins,
    c.refresh_token_reuse_seconds,
    c.auto_bet_max_count
from app.config as c;

-- Withdrawals that waited for an admin (migration 0016, rpc/11_withdrawals.sql): a bettor sees
-- their own, an admin every one; pending, approved, or rejected with the reason.
create view public.withdrawals with (security_invoker = true) as
select
    w.id,
    w.user_id,
    p.username,
    w.amount,
    w.status,
    w.reason,
    w.idempotency_key,
    w.request_transaction_id,
    w.decision_transaction_id,
    w.requested_at,
    w.decided_at
from app.withdrawals as w
left join app.profiles as p on w.user_id = p.user_id;

create view public.my_withdrawals with (security_invoker = true) as
select w.*
from public.withdrawals as w
where w.user_id = (select auth.uid());

grant select on public.markets, public.outcomes, public.settlements, public.settings,
public.pool_snapshots
to anon, authenticated, service_role;
grant select on public.wallets, public.my_wallet, public.wagers, public.my_wagers,
public.wager_results, public.ledger, public.my_ledger, public.admin_actions,
public.quote_telemetry, public.withdrawals, public.my_withdrawals
to authenticated, service_role;

-- ==== rpc/95_server.sql
reset all;

-- What an API node calls as itself: sign-up, sign-in, sessions and the scheduler's rounds.
--
-- A node logs in as `authenticator` (sql/roles.sql), which may use schema `server` and nothing
-- private: policies/05_server.sql grants it every function of this schema and no other role any.
-- Each function here is security definer (it runs as the schema's owner) and does one thing by
-- calling the private function of `app` that holds the rule, so the node reaches exactly these
-- doors and no table. Passwords arrive already hashed (argon2, in Python); refresh tokens as
-- SHA-256 digests only.

-- create_user(email, username, password_hash, user_metadata): a new user and its profile, for
-- sign-up (never an admin: app_metadata is not an argument, so a node cannot set a role);
-- user_metadata is GoTrue's `data`, the user's own.
-- Who: the API node. Changes: auth.users and app.profiles (app._create_user).
-- Raises: invalid_argument (neither given, a bad email, username or user_metadata), user_exists.
drop function if exists server.create_user(text, text, text);
create or replace function server.create_user(
    p_email text, p_username text, p_password_hash text, p_user_metadata jsonb default '{}'
)
returns uuid
language sql
security definer
set search_path = ''
as $$
    select app._create_user(p_email, p_username, p_password_hash, '{}', p_user_metadata)
$$;

-- create_anonymous_user(user_metadata): a new anonymous user, for GoTrue's anonymous sign-in,
-- while the setting anonymous_sign_ins is on (app._create_anonymous_user).
-- Who: the API node. Changes: auth.users.
-- Raises: anonymous_sign_ins_disabled, invalid_argument (a bad user_metadata).
create or replace function server.create_anonymous_user(p_user_metadata jsonb)
returns uuid
language sql
security definer
set search_path = ''
as $$
    select app._create_anonymous_user(p_user_metadata)
$$;

-- current_password_hash(claims): the password hash of the token's user (null for an anonymous
-- one), whose session must be live (server.check_session), so that a node can refuse a new
-- password equal to the old one (GoTrue's same_password) before it hashes it.
-- Who: the API node. Changes: nothing.
-- Raises: those of server.check_session (unknown_user, session_ended), not_authenticated (claims
-- that name no user).
create or replace function server.current_password_hash(p_claims jsonb)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    perform server.check_session(p_claims);
    if p_claims ->> 'sub' is null then
        perform app._fail('not_authenticated');
    end if;
    return (select u.encrypted_password from auth.users as u where u.id = (p_claims ->> 'sub')::uuid);
end
$$;

-- update_user(claims, email, password_hash, data): GoTrue's PUT /auth/v1/user for the token's
-- user, whose session must be live (server.check_session): a new email, a new password (the
-- user's other sessions end) or user_metadata merged (app._update_user). Returns the user's
-- GoTrue JSON.
-- Who: the API node. Changes: auth.users, app.sessions (a password change).
-- Raises: those of server.check_session (unknown_user, session_ended), not_authenticated (claims
-- that name no user), those of app._update_user (invalid_argument, user_exists, anonymous_user).
create or replace function server.update_user(
    p_claims jsonb, p_email text, p_password_hash text, p_data jsonb
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform server.check_session(p_claims);
    if p_claims ->> 'sub' is null then
        perform app._fail('not_authenticated');
    end if;
    return app._update_user(
        (p_claims ->> 'sub')::uuid, (p_claims ->> 'session_id')::uuid, p_email,
        p_password_hash, p_data);
end
$$;

-- admin_list_users(page, per_page), admin_create_user(email, password_hash, user_metadata,
-- app_metadata), admin_update_user(user, email, password_hash, user_metadata, app_metadata),
-- admin_delete_user(user): GoTrue's admin API (`/auth/v1/admin/users`) for a request the node
-- found to carry the service key (app._admin_list_users and the others, rpc/05_users.sql). These
-- set app_metadata, and so the admin role, which sign-up never can: the node holds the JWT
-- secret, so it could act as the service role (which acts as an admin) anyway.
-- Who: the API node. Changes: auth.users, app.profiles, app.sessions (a password change, a
-- deletion), app.admin_actions (every change, by the service role).
-- Raises: invalid_argument, user_exists, user_not_found, anonymous_user.
create or replace function server.admin_list_users(p_page integer, p_per_page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
    select app._admin_list_users(p_page, p_per_page)
$$;

create or replace function server.admin_create_user(
    p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._admin_create_user(p_email, p_password_hash, p_user_metadata, p_app_metadata)
$$;

create or replace function server.admin_update_user(
    p_user uuid, p_email text, p_password_hash text, p_user_metadata jsonb, p_app_metadata jsonb
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._admin_update_user(
        p_user, p_email, p_password_hash, p_user_metadata, p_app_metadata)
$$;

create or replace function server.admin_delete_user(p_user uuid)
returns void
language sql
security definer
set search_path = ''
as $$
    select app._admin_delete_user(p_user)
$$;

-- start_session(user, session, token_hash): a new session with its first refresh token, for a
-- user who just signed up or proved their password; returns the user's GoTrue JSON
-- (app._start_session).
-- Who: the API node. Changes: app.sessions, app.refresh_tokens, auth.users.last_sign_in_at.
-- Raises: nothing of its own (an unknown user or a reused session id breaks a constraint).
create or replace function server.start_session(
    p_user uuid, p_session uuid, p_token_hash text
)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._start_session(p_user, p_session, p_token_hash)
$$;

-- refresh_session(token_hash, new_hash): use up a refresh token and issue the next one; returns
-- {status, user, session_id}, a reused token ending its session (app._refresh_session).
-- Who: the API node. Changes: app.refresh_tokens, app.sessions. Raises: nothing (refusals are a
-- status, so that ending a session on reuse is committed).
create or replace function server.refresh_session(p_token_hash text, p_new_hash text)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._refresh_session(p_token_hash, p_new_hash)
$$;

-- end_sessions(user, session, scope): sign out ('local' this session, 'others', 'global');
-- returns how many sessions ended (app._end_sessions).
-- Who: the API node, for a verified token's user. Changes: app.sessions.ended_at. Raises: nothing.
create or replace function server.end_sessions(p_user uuid, p_session uuid, p_scope text)
returns integer
language sql
security definer
set search_path = ''
as $$
    select app._end_sessions(p_user, p_session, p_scope)
$$;

-- user_json(user): the GoTrue User object; null for a deleted or unknown user (app._user_json).
-- Who: the API node. Changes: nothing. Raises: nothing.
create or replace function server.user_json(p_user uuid)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
    select app._user_json(p_user)
$$;

-- acts_as_admin(user): whether a token issued now for the user acts as an admin now: the engine's
-- rule (app._is_admin, the one public.acts_as_admin() applies to a caller) asked about the claims
-- such a token carries (its sub and the user's app_metadata, app._user_json), so that a sign-in's
-- answer says what the engine will enforce; false for a deleted or unknown user.
-- Who: the API node, for a user who just signed in or up. Changes: nothing. Raises: nothing.
create or replace function server.acts_as_admin(p_user uuid)
returns boolean
language sql stable
security definer
set search_path = ''
as $$
    select coalesce(app._is_admin(pg_catalog.jsonb_build_object(
        'sub', p_user::text, 'app_metadata', app._user_json(p_user) -> 'app_metadata'
    )), false)
$$;

-- scheduler_tick(): one round of the node's scheduler (app.scheduler_tick, rpc/60_depth.sql):
-- under an advisory lock, close due markets, settle drawn virtual markets, take due snapshots,
-- prune snapshots, quote telemetry and live events past their retention (a batch of each).
-- Who: the API node's scheduler. Changes: what app.scheduler_tick changes (markets, wagers and
-- ledger of the settled draws, app.pool_snapshots, app.quote_telemetry, app.admin_actions,
-- app.events).
-- Raises: nothing of its own (a draw that fails is reported in the answer).
create or replace function server.scheduler_tick()
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app.scheduler_tick()
$$;

-- read_events(cursor, limit): the live events committed since the hub's cursor, and its next
-- cursor (app._read_events, rpc/03_events.sql); a null cursor starts at the current end.
-- Who: the API node's hub (its relay). Changes: nothing. Raises: invalid_argument (a limit not
-- between 1 and 10000, a malformed cursor).
create or replace function server.read_events(p_cursor jsonb, p_limit integer)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app._read_events(p_cursor, p_limit)
$$;

-- work_side_effect(): run the oldest due side-effect job once (app.work_side_effect,
-- rpc/70_side_effects.sql); null when none is due.
-- Who: the API node's side-effect worker. Changes: app.side_effect_jobs and what the job's
-- handler changes. Raises: nothing of its own (a failing job is recorded, not raised).
create or replace function server.work_side_effect()
returns jsonb
language sql
security definer
set search_path = ''
as $$
    select app.work_side_effect()
$$;

-- ==== rpc/96_realtime.sql
reset all;

-- Client broadcasts and presence on the Realtime socket (migrations/0022; docs/live.md,
-- "Broadcast and presence"). What one client sends the others is written as an event of the
-- stream (channel `wagerbase_realtime`, app._notify), so every API node's hub reads it as it reads
-- the engine's messages and hands it to its own sockets. The presences themselves live in
-- app.realtime_presences, so a node joining a channel reads every node's; each node says it is
-- alive in app.realtime_nodes, and the presences of a node silent for longer than its
-- `ttl_seconds` are removed by the next node that beats. The engine's own topics are refused
-- here as well as by the API: no client message ever carries one of them.

-- _engine_topic(topic): whether a Realtime topic (the name after `realtime:`) is the engine's:
-- its first part before a colon is market, markets, admin, user, users or wagerbase. The engine's
-- messages go there (market:{id}, markets, admin); a client may not broadcast, track a presence or
-- join a private channel on any of them. Changes nothing; raises nothing.
create or replace function app._engine_topic(p_topic text)
returns boolean
language sql immutable
set search_path = ''
as $$
    select pg_catalog.split_part(coalesce(p_topic, ''), ':', 1)
        in ('market', 'markets', 'admin', 'user', 'users', 'wagerbase')
$$;

-- _realtime_topic_lock(topic, private): the transaction-level lock every presence change of one
-- channel takes, so that its count is exact and its diffs are written in the order they happen.
-- Changes nothing; raises nothing.
create or replace function app._realtime_topic_lock(p_topic text, p_private boolean)
returns void
language sql
set search_path = ''
as $$
    select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'wagerbase.realtime:' || p_private::text || ':' || p_topic, 0))
$$;

-- _realtime_metas(rows): presences as Phoenix groups them, {key: {metas: [meta + phx_ref]}}.
-- `p_rows` is a JSON array of {key, ref, meta}. Changes nothing; raises nothing.
create or replace function app._realtime_metas(p_rows jsonb)
returns jsonb
language sql immutable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_object_agg(k.key, pg_catalog.jsonb_build_object('metas', k.metas)), '{}')
    from (
        select
            r.value ->> 'key' as key,
            pg_catalog.jsonb_agg(
                (r.value -> 'meta') || pg_catalog.jsonb_build_object('phx_ref', r.value ->> 'ref')
                order by r.position
            ) as metas
        from pg_catalog.jsonb_array_elements(coalesce(p_rows, '[]')) with ordinality as r (value, position)
        group by r.value ->> 'key'
    ) as k
$$;

-- _realtime_diff(topic, private, joins, leaves): one presence_diff event for the channel, from
-- JSON arrays of {key, ref, meta} (nothing when both are empty). Changes: app.events. Raises
-- nothing.
create or replace function app._realtime_diff(
    p_topic text, p_private boolean, p_joins jsonb, p_leaves jsonb
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    if coalesce(pg_catalog.jsonb_array_length(p_joins), 0) = 0
        and coalesce(pg_catalog.jsonb_array_length(p_leaves), 0) = 0 then
        return;
    end if;
    perform app._notify('wagerbase_realtime', pg_catalog.jsonb_build_object(
        'type', 'presence_diff', 'topic', p_topic, 'private', p_private,
        'joins', app._realtime_metas(p_joins), 'leaves', app._realtime_metas(p_leaves)));
end
$$;

-- _realtime_broadcast(item): a client's broadcast, {topic, private, event, payload, sender},
-- as an event of the stream. Returns 'ok', or 'engine_topic' for a topic of the engine's (or
-- none): nothing is written then. Changes: app.events. Raises nothing.
create or replace function app._realtime_broadcast(p_item jsonb)
returns text
language plpgsql
set search_path = ''
as $$
begin
    if coalesce(p_item ->> 'topic', '') = '' or app._engine_topic(p_item ->> 'topic') then
        return 'engine_topic';
    end if;
    perform app._notify('wagerbase_realtime', pg_catalog.jsonb_build_object(
        'type', 'broadcast',
        'topic', p_item ->> 'topic',
        'private', coalesce((p_item ->> 'private')::boolean, false),
        'event', p_item ->> 'event',
        'payload', p_item -> 'payload',
        'sender', p_item ->> 'sender'));
    return 'ok';
end
$$;

-- _realtime_track(node, item, most): a presence tracked by a socket of `node`,
-- {ref, prev, topic, private, key, meta}: the row `prev` (the socket's previous presence on the
-- channel, if any) is replaced by `ref`, and the channel's subscribers get one diff (the join,
-- and the leave of `prev`). A ref already there is left as it is (the node saying again what
-- it holds). Returns 'ok', 'engine_topic', 'invalid_presence' (no ref or key, or a meta that is
-- not an object), or 'too_many_presences' when the channel already holds `most` presences
-- (nothing changes then). Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_track(p_node uuid, p_item jsonb, p_most integer)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_topic text := p_item ->> 'topic';
    v_private boolean := coalesce((p_item ->> 'private')::boolean, false);
    v_ref text := p_item ->> 'ref';
    v_prev text := p_item ->> 'prev';
    v_join jsonb;
    v_leave jsonb;
begin
    if coalesce(v_topic, '') = '' or app._engine_topic(v_topic) then
        return 'engine_topic';
    end if;
    if coalesce(v_ref, '') = '' or coalesce(p_item ->> 'key', '') = ''
        or pg_catalog.jsonb_typeof(p_item -> 'meta') is distinct from 'object' then
        return 'invalid_presence';
    end if;
    perform app._realtime_topic_lock(v_topic, v_private);
    if exists (select 1 from app.realtime_presences as p where p.ref = v_ref) then
        return 'ok';
    end if;
    if (
        select count(*)
        from app.realtime_presences as p
        where p.topic = v_topic and p.private = v_private and p.ref is distinct from v_prev
    ) >= p_most then
        return 'too_many_presences';
    end if;
    delete from app.realtime_presences as p
    where p.ref = v_prev and p.node = p_node
    returning pg_catalog.jsonb_build_object('key', p.key, 'ref', p.ref, 'meta', p.meta) into v_leave;
    v_join := pg_catalog.jsonb_build_object(
        'key', p_item ->> 'key',
        'ref', v_ref,
        'meta', (p_item -> 'meta') || case
            when v_leave is null then '{}'::jsonb
            else pg_catalog.jsonb_build_object('phx_ref_prev', v_prev)
        end);
    insert into app.realtime_presences (ref, node, topic, private, key, meta)
    values (v_ref, p_node, v_topic, v_private, p_item ->> 'key', p_item -> 'meta');
    perform app._realtime_diff(
        v_topic, v_private, pg_catalog.jsonb_build_array(v_join),
        case when v_leave is null then '[]'::jsonb else pg_catalog.jsonb_build_array(v_leave) end);
    return 'ok';
end
$$;

-- _realtime_untrack(node, ref): the presence `ref` of a socket of `node` ends (untrack, a leave,
-- the socket closed); its channel gets the leave. Returns 'ok' (also for a ref no longer there).
-- Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_untrack(p_node uuid, p_ref text)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_row app.realtime_presences;
begin
    select p.* into v_row from app.realtime_presences as p where p.ref = p_ref and p.node = p_node;
    if not found then
        return 'ok';
    end if;
    perform app._realtime_topic_lock(v_row.topic, v_row.private);
    delete from app.realtime_presences as p where p.ref = p_ref and p.node = p_node;
    if found then
        perform app._realtime_diff(v_row.topic, v_row.private, '[]', pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('key', v_row.key, 'ref', v_row.ref, 'meta', v_row.meta)));
    end if;
    return 'ok';
end
$$;

-- _realtime_remove(refs): remove these presences and tell each of their channels, in one leave
-- diff a channel. Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_remove(p_refs text[])
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_channel record;
begin
    for v_channel in
        with gone as (
            delete from app.realtime_presences as p
            where p.ref = any(p_refs)
            returning p.topic, p.private, p.key, p.ref, p.meta, p.tracked_at
        )

        select
            g.topic,
            g.private,
            pg_catalog.jsonb_agg(
                pg_catalog.jsonb_build_object('key', g.key, 'ref', g.ref, 'meta', g.meta)
                order by g.tracked_at, g.ref
            ) as leaves
        from gone as g
        group by g.topic, g.private
        order by g.topic, g.private
    loop
        perform app._realtime_diff(v_channel.topic, v_channel.private, '[]', v_channel.leaves);
    end loop;
end
$$;

-- _realtime_reconcile(node, presences): make the node's rows what it holds: `p_presences` is a
-- JSON array of {ref, topic, private, key, meta}, every presence the node's sockets hold; rows of
-- the node not in it are removed (leaves), and those missing are written (joins), whatever the
-- channels' counts (they were tracked once already). The node runs it when its rows differ from
-- what it holds: after another node removed them while it could not beat, after a failover lost
-- a write. Returns 'ok'. Changes: app.realtime_presences, app.events. Raises nothing.
create or replace function app._realtime_reconcile(p_node uuid, p_presences jsonb)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_channel record;
begin
    perform app._realtime_remove(array(
        select p.ref
        from app.realtime_presences as p
        where p.node = p_node
            and p.ref not in (
                select h.value ->> 'ref'
                from pg_catalog.jsonb_array_elements(p_presences) as h (value)
                where h.value ->> 'ref' is not null
            )
    ));
    for v_channel in
        with held as (
            select
                h.value ->> 'ref' as ref,
                h.value ->> 'topic' as topic,
                coalesce((h.value ->> 'private')::boolean, false) as private,
                h.value ->> 'key' as key,
                h.value -> 'meta' as meta,
                h.position
            from pg_catalog.jsonb_array_elements(p_presences) with ordinality as h (value, position)
            where pg_catalog.jsonb_typeof(h.value -> 'meta') = 'object'
                and coalesce(h.value ->> 'ref', '') <> ''
                and coalesce(h.value ->> 'key', '') <> ''
                and coalesce(h.value ->> 'topic', '') <> ''
                and not app._engine_topic(h.value ->> 'topic')
        ),
        added as (
            insert into app.realtime_presences (ref, node, topic, private, key, meta)
            select h.ref, p_node, h.topic, h.private, h.key, h.meta
            from held as h
            order by h.position
            on conflict (ref) do nothing
            returning ref, topic, private, key, meta
        )

        select
            a.topic,
            a.private,
            pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'key', a.key, 'ref', a.ref, 'meta', a.meta) order by a.ref) as joins
        from added as a
        group by a.topic, a.private
        order by a.topic, a.private
    loop
        perform app._realtime_diff(v_channel.topic, v_channel.private, v_channel.joins, '[]');
    end loop;
    return 'ok';
end
$$;

-- _realtime_sweep(): remove the presences of the nodes that have not said they are alive for
-- longer than their own ttl_seconds (the node died, or lost the database), with a leave for each
-- channel, and those nodes; also presences of no node at all. Changes: app.realtime_presences,
-- app.realtime_nodes, app.events. Raises nothing.
create or replace function app._realtime_sweep()
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_dead uuid[];
begin
    with dead as (
        delete from app.realtime_nodes as n
        where n.seen_at < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => n.ttl_seconds)
        returning n.node
    )

    select coalesce(pg_catalog.array_agg(d.node), '{}') into v_dead from dead as d;
    perform app._realtime_remove(array(
        select p.ref
        from app.realtime_presences as p
        where p.node = any(v_dead)
            or not exists (select 1 from app.realtime_nodes as n where n.node = p.node)
    ));
end
$$;

-- _realtime_seen(node, ttl): the node is alive, and may stay silent `ttl` seconds. Returns
-- whether its row is new (first beat, or another node removed it and its presences meanwhile).
-- Changes: app.realtime_nodes. Raises: invalid_argument (ttl not between 1 and 3600).
create or replace function app._realtime_seen(p_node uuid, p_ttl integer)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    v_new boolean;
begin
    if p_ttl is null or p_ttl not between 1 and 3600 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'ttl_seconds', 'reason', 'between 1 and 3600'));
    end if;
    insert into app.realtime_nodes as n (node, ttl_seconds)
    values (p_node, p_ttl)
    on conflict (node) do update
        set seen_at = pg_catalog.clock_timestamp(), ttl_seconds = excluded.ttl_seconds
    returning n.xmax = 0 into v_new;
    return v_new;
end
$$;

-- realtime_write(node, ttl, items, most): what a node's sockets sent, in the order sent, in one
-- transaction: `p_items` is a JSON array of
--   {op: broadcast, topic, private, event, payload, sender}    a client broadcast
--   {op: track, ref, prev, topic, private, key, meta}          a presence tracked (or replaced)
--   {op: untrack, ref}                                         a presence ended
--   {op: reconcile, presences: [...]}                          every presence the node holds
-- Returns a JSON array with each item's outcome: 'ok', 'engine_topic', 'invalid_presence',
-- 'too_many_presences' (at most `most` presences a channel) or 'unknown_op'. An item refused
-- changes nothing; the others are written.
-- Who: the API node (surfaces/realtime/rooms.py). Changes: app.events, app.realtime_presences,
-- app.realtime_nodes (the node's row, when an item is about presence).
-- Raises: invalid_argument (ttl not between 1 and 3600, items not an array).
create or replace function server.realtime_write(
    p_node uuid, p_ttl integer, p_items jsonb, p_most integer
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_item jsonb;
    v_results jsonb := '[]';
begin
    if pg_catalog.jsonb_typeof(p_items) is distinct from 'array' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'items', 'reason', 'a JSON array'));
    end if;
    if exists (
        select 1 from pg_catalog.jsonb_array_elements(p_items) as i (value)
        where i.value ->> 'op' in ('track', 'untrack', 'reconcile')
    ) then
        perform app._realtime_seen(p_node, p_ttl);
    end if;
    for v_item in
        select i.value from pg_catalog.jsonb_array_elements(p_items) with ordinality as i (value, position)
        order by i.position
    loop
        v_results := v_results || pg_catalog.to_jsonb(case v_item ->> 'op'
            when 'broadcast' then app._realtime_broadcast(v_item)
            when 'track' then app._realtime_track(p_node, v_item, p_most)
            when 'untrack' then app._realtime_untrack(p_node, v_item ->> 'ref')
            when 'reconcile' then app._realtime_reconcile(p_node, coalesce(v_item -> 'presences', '[]'))
            else 'unknown_op'
        end);
    end loop;
    return v_results;
end
$$;

-- realtime_beat(node, ttl): the node says it is alive (it may stay silent `ttl` seconds), and
-- removes the presences of nodes silent for longer than theirs (_realtime_sweep). Returns
-- {new: whether the node's row was new, digest: md5 of the node's presence refs, sorted and
-- joined by commas}: the node compares them with what it holds and reconciles when they differ.
-- Who: the API node, every ttl/3 seconds while it serves Realtime. Changes: app.realtime_nodes,
-- app.realtime_presences, app.events. Raises: invalid_argument (ttl not between 1 and 3600).
create or replace function server.realtime_beat(p_node uuid, p_ttl integer)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_new boolean;
begin
    v_new := app._realtime_seen(p_node, p_ttl);
    perform app._realtime_sweep();
    return pg_catalog.jsonb_build_object(
        'new', v_new,
        'digest', (
            select pg_catalog.md5(coalesce(pg_catalog.string_agg(p.ref, ',' order by p.ref collate "C"), ''))
            from app.realtime_presences as p
            where p.node = p_node
        ));
end
$$;

-- realtime_gone(node): the node stops: its presences end (a leave for each channel) and its row
-- goes. Who: the API node, as it shuts down. Changes: app.realtime_presences,
-- app.realtime_nodes, app.events. Raises nothing.
create or replace function server.realtime_gone(p_node uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform app._realtime_remove(array(
        select p.ref from app.realtime_presences as p where p.node = p_node
    ));
    delete from app.realtime_nodes as n where n.node = p_node;
end
$$;

-- realtime_presence_state(topic, private): the channel's presences, every node's, as Phoenix's
-- presence_state: {key: {metas: [meta + phx_ref]}}, in the order they were tracked.
-- Who: the API node, when a socket joins a channel with presence. Changes nothing. Raises nothing.
create or replace function server.realtime_presence_state(p_topic text, p_private boolean)
returns jsonb
language sql stable
security definer
set search_path = ''
as $$
    select app._realtime_metas(coalesce(pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object('key', p.key, 'ref', p.ref, 'meta', p.meta)
        order by p.tracked_at, p.ref
    ), '[]'))
    from app.realtime_presences as p
    where p.topic = p_topic and p.private = p_private
$$;

-- realtime_probe(topic, ids): the start of an authorization check of a private channel, as
-- Supabase Realtime makes one: `realtime.topic` is set to `topic` for the transaction, and two
-- rows of realtime.messages are written as the owner (ids[1] for broadcast, ids[2] for presence),
-- for the caller's SELECT policies to show or hide once the transaction becomes the caller's. The
-- check rolls back (and realtime.messages keeps no row: migrations/0022).
-- Who: the API node, in a transaction it then runs as the caller and rolls back
-- (surfaces/realtime/policies.py). Changes: realtime.messages, until the rollback.
-- Raises: insufficient_privilege where realtime.messages is not the engine's (a Supabase project:
-- its own Realtime serves private channels there).
create or replace function server.realtime_probe(p_topic text, p_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform pg_catalog.set_config('realtime.topic', p_topic, true);
    insert into realtime.messages (id, topic, extension, private)
    values (p_ids[1], p_topic, 'broadcast', true), (p_ids[2], p_topic, 'presence', true);
end
$$;

-- ==== policies/05_server.sql
reset all;

-- Schema `server`: what an API node calls as itself (rpc/95_server.sql and any other function
-- created in it), re-applied on every migrate.
--
-- The API's login role, `authenticator` (sql/roles.sql), may use this schema and execute every
-- function in it; no other role may use it. The grant covers every function of the schema each
-- time the code layers are applied (after rpc/ and any new migration), and the default
-- privileges cover a function the owner creates later, so a function added to `server` needs no
-- grant line of its own. Everything a function here reaches, it reaches as the schema's owner
-- (security definer): the role gets no right on a table or a private function.

revoke all on schema server from public, anon, authenticated, service_role;
grant usage on schema server to authenticator;

revoke all on all functions in schema server from public, anon, authenticated, service_role;
grant execute on all functions in schema server to authenticator;

-- (sql/roles.sql already takes execute from public by default, for every schema)
alter default privileges in schema server grant execute on functions to authenticator;

-- ==== policies/10_tables.sql
reset all;

-- Grants and RLS policies on the private tables, re-applied on every migrate.
--
-- Client roles may read (never write) the tables behind the views, and RLS picks their rows.
-- Every write goes through a security definer function in rpc/. The views in rpc/90_views.sql run
-- as the caller, so these policies are what decides visibility everywhere.

-- Start from nothing: no table or private function is reachable unless granted below.
revoke all on all tables in schema app from public, anon, authenticated, service_role;
revoke all on all functions in schema app from public, anon, authenticated, service_role;
revoke all on all sequences in schema app from public, anon, authenticated, service_role;
revoke all on auth.users from public, anon, authenticated, service_role;
grant usage on schema app to anon, authenticated, service_role;

-- What the views read.
grant select on app.markets, app.outcomes, app.settlements, app.config, app.outcome_quotes
to anon, authenticated, service_role;
grant select on app.accounts, app.wagers, app.ledger_entries, app.admin_actions,
app.quote_telemetry, app.profiles, app.ledger_transactions
to authenticated, service_role;
grant execute on function
app._fixed_odds(bigint, bigint, integer, bigint, integer),
app._fixed_cap(bigint, bigint, bigint, numeric, bigint),
app._pari_odds(bigint, bigint, integer),
app._share(bigint, bigint),
app._odds(text, bigint, bigint, integer, bigint, integer, integer),
app._cap(text, bigint, bigint, bigint, numeric, bigint),
app._accepting_wagers(text, timestamptz),
app._betmarket_game(text, integer),
app._is_admin(jsonb)
to anon, authenticated, service_role;

-- Drop every policy on the app tables, so that a renamed or removed one does not linger.
do $drop$
declare
    v_policy record;
begin
    for v_policy in
        select p.policyname, p.tablename from pg_catalog.pg_policies as p where p.schemaname = 'app'
    loop
        execute format('drop policy %I on app.%I', v_policy.policyname, v_policy.tablename);
    end loop;
end
$drop$;

create policy "anyone reads the settings" on app.config
for select using (true);

create policy "anyone reads markets but drafts; admins read drafts too" on app.markets
for select using (status <> 'draft' or (select app._is_admin()));

create policy "anyone reads the outcomes of a market they can read" on app.outcomes
for select using (exists (
    select 1 from app.markets as m
    where m.id = outcomes.market_id
));

create policy "anyone reads settlements" on app.settlements
for select using (true);

create policy "users read their own wallet; admins read every account" on app.accounts
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "users read their own ledger entries; admins read all" on app.ledger_entries
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read ledger transactions" on app.ledger_transactions
for select using ((select app._is_admin()));

create policy "users read their own wagers; admins read all" on app.wagers
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "users read their own profile; admins read all" on app.profiles
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read the admin actions log" on app.admin_actions
for select using ((select app._is_admin()));

create policy "admins read quote telemetry" on app.quote_telemetry
for select using ((select app._is_admin()));

-- app.idempotency_keys has no policy: nobody reads it but the functions.

-- ==== policies/20_settlement_review.sql
reset all;

-- Grants and RLS for settlement review (migrations/0003_settlement_review.sql), re-applied on every
-- migrate after policies/10_tables.sql (which revokes everything and drops every policy first).
-- Clients read proposals only through public.settlement_proposals; only the functions of
-- rpc/45_settlement_review.sql write them.

grant select on app.settlement_proposals to authenticated, service_role;

create policy "admins read settlement proposals" on app.settlement_proposals
for select using ((select app._is_admin()));

-- ==== policies/30_limits.sql
reset all;

-- Grants and RLS policies for responsible play (migrations/0004, rpc/15_limits.sql), re-applied
-- on every migrate after policies/10_tables.sql (which revoked everything and dropped every policy
-- on the app tables).
--
-- Client roles read (never write) the limits and their history through the public views, which
-- run as the caller: a bettor sees their own rows, an admin every row (for support). Nobody but
-- the user changes a user's limits, and only through the set_* functions.

grant select on app.play_limits, app.play_limits_in_force, app.play_limit_changes
to authenticated, service_role;

drop policy if exists "users read their own play limits; admins read all" on app.play_limits;
create policy "users read their own play limits; admins read all" on app.play_limits
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

drop policy if exists "users read their own play limit changes; admins read all"
on app.play_limit_changes;
create policy "users read their own play limit changes; admins read all" on app.play_limit_changes
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

-- ==== policies/40_depth.sql
reset all;

-- Pool snapshots (migration 0007): readable by anyone for the markets they can see (the policy on
-- app.markets hides drafts from non-admins), written only by the scheduler's functions in
-- rpc/60_depth.sql. get_market_depth is the usual way to read them.

grant select on app.pool_snapshots to anon, authenticated, service_role;

create policy "anyone reads the snapshots of a market they can see" on app.pool_snapshots
for select to anon, authenticated, service_role
using (exists (
    select 1 from app.markets as m
    where m.id = pool_snapshots.market_id
));

-- ==== policies/50_corrections.sql
reset all;

-- Grants and RLS for corrections (migrations/0006_corrections.sql), re-applied on every migrate
-- after policies/10_tables.sql (which revokes everything and drops every policy first). Only the
-- functions of rpc/50_corrections.sql write these tables; admins read them.

grant select on app.user_debts, app.ledger_reversals, app.settlement_history
to authenticated, service_role;

create policy "admins read user debts" on app.user_debts
for select using ((select app._is_admin()));

create policy "admins read ledger reversals" on app.ledger_reversals
for select using ((select app._is_admin()));

create policy "admins read settlement history" on app.settlement_history
for select using ((select app._is_admin()));

-- ==== policies/55_side_effects.sql
reset all;

-- Grants and RLS for the side effects after settlement (migrations/0009_side_effects.sql),
-- re-applied on every migrate after policies/10_tables.sql (which revokes everything and drops
-- every policy first). Only the functions of rpc/70_side_effects.sql write these tables.

-- The public figures: anyone. The leaderboard's user_id is not granted; `player` names the user.
grant select (period, period_start, player, wagers, wins, wagered, won, profit)
on app.leaderboard to anon, authenticated, service_role;
grant select (wager_id, market_id, outcome_id, player, stake, payout, profit, settled_at)
on app.big_wins to anon, authenticated, service_role;
grant select on app.market_stats to anon, authenticated, service_role;

create policy "anyone reads the leaderboard" on app.leaderboard
for select using (true);

create policy "anyone reads the big wins" on app.big_wins
for select using (true);

create policy "anyone reads the market statistics" on app.market_stats
for select using (true);

-- A bettor's own statistics; admins read everyone's, and the jobs.
grant select on app.user_stats, app.side_effect_jobs to authenticated, service_role;

create policy "users read their own statistics; admins read all" on app.user_stats
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

create policy "admins read the side-effect jobs" on app.side_effect_jobs
for select using ((select app._is_admin()));

-- ==== policies/60_virtual.sql
reset all;

-- Grants for provably-fair virtual markets (migrations/0010_virtual_markets.sql), re-applied on
-- every migrate after policies/10_tables.sql (which revokes everything and drops every policy
-- first). app.virtual_draws gets no grant and no policy: no client role reads it, admins
-- included, since it holds the unrevealed seeds. The view public.virtual_draws reads it through
-- this security definer function, which shows a seed only once it is revealed.

grant execute on function app._virtual_draw_rows() to anon, authenticated, service_role;

-- ==== policies/65_withdrawals.sql
reset all;

-- Grants and RLS policies for withdrawals that wait for an admin (migration 0016,
-- rpc/11_withdrawals.sql), re-applied on every migrate after policies/10_tables.sql (which revoked
-- everything and dropped every policy on the app tables).
--
-- Client roles read (never write) them through the `withdrawals` and `my_withdrawals` views, which
-- run as the caller: a bettor sees their own, an admin every one. Only withdraw,
-- approve_withdrawal and reject_withdrawal write them.

grant select on app.withdrawals to authenticated, service_role;

create policy "users read their own withdrawals; admins read all" on app.withdrawals
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

-- ==== policies/70_house_games.sql
reset all;

-- Grants and RLS policies for house games (migration 0021, rpc/80_house_games.sql), re-applied on
-- every migrate after policies/10_tables.sql (which revokes everything and drops every policy
-- first).
--
-- app.seed_pairs gets no grant and no policy: no client role reads it, admins and the service role
-- included, since it holds the server seeds of active pairs. The view public.my_seed_pairs reads it
-- through app._seed_pair_rows and public.house_bets shows a bet's server seed through
-- app._revealed_server_seed, both security definer functions that show a seed only once revealed.
-- The bets and the games' settings hold no secret: the bets are read like wagers (a bettor their
-- own, an admin all), the settings by everyone. Only the functions of rpc/80_house_games.sql write
-- them.

grant select on app.house_games to anon, authenticated, service_role;
grant select on app.house_bets to authenticated, service_role;
grant execute on function app._seed_pair_rows(), app._revealed_server_seed(bigint)
to authenticated, service_role;

create policy "anyone reads the house games' settings" on app.house_games
for select using (true);

create policy "users read their own house bets; admins read all" on app.house_bets
for select using (user_id = (select auth.uid()) or (select app._is_admin()));

-- ==== policies/75_house_effects.sql
reset all;

-- Grants and RLS for the side effects of house bets (migrations/0029_house_effects.sql),
-- re-applied on every migrate after policies/10_tables.sql. Only the functions of
-- rpc/83_house_effects.sql write these tables; app.house_effects_pending and app.rakeback are
-- read by no client role (a player reads their own rakeback through get_level).

-- Anyone: the levels, and the XP ranking by public name (user_id is not granted).
grant select on app.levels to anon, authenticated, service_role;
grant select (player, xp, bets) on app.player_xp to anon, authenticated, service_role;

create policy "anyone reads the levels" on app.levels
for select using (true);

create policy "anyone reads the XP ranking" on app.player_xp
for select using (true);

-- Anyone: the live-bets feed (by public name) and each game's volume (paid is not granted: what
-- the house won is the admins', in house_game_results).
grant select (bet_id, game, player, stake, multiplier, payout, settled_at)
on app.live_bets to anon, authenticated, service_role;
grant select (game, bets, wins, staked) on app.house_game_stats to anon, authenticated, service_role;

create policy "anyone reads the live bets" on app.live_bets
for select using (true);

create policy "anyone reads the games' volume" on app.house_game_stats
for select using (true);

-- ==== sql/console.sql
reset all;

-- Console helpers for an admin at a `psql` prompt (`wagerbase psql`), applied on every migrate.
--
-- Act as any user for the rest of a transaction, exactly as an API request would (the same role
-- switch, the same JWT claims and the same limits: both go through server.begin_request, so the
-- role's statement_timeout and lock_timeout apply at the prompt too), so every rule and every RLS
-- policy applies as it would to them:
--
--   begin;
--   select console.act_as('admin');          -- by username, email or user id
--   select public.settle_market(3, 7);
--   commit;
--
-- console.act_as_anon() does the same for a caller without a token. Only the database owner (the
-- superuser `wagerbase psql` connects as) can call these; no client role can.
--
-- A call that may run longer than the role allows (settling a market of a million wagers as an
-- admin: authenticated statements stop after 8 s) gets its function's own limit through the API,
-- which applies it before the call. At the prompt, give it the same after act_as:
--   set local statement_timeout = '5min';

create schema if not exists console;
revoke all on schema console from public;

-- act_as(who): become the user named by username, email or id until the transaction ends.
-- Returns the claims now in force. Raises: user_not_found.
create or replace function console.act_as(who text)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    v_user auth.users;
    v_claims jsonb;
begin
    select u.* into v_user from auth.users as u where u.id = app._find_user(act_as.who);
    if not found then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('name', act_as.who));
    end if;
    v_claims := pg_catalog.jsonb_build_object(
        'sub', v_user.id,
        'role', 'authenticated',
        'aud', 'authenticated',
        'email', v_user.email,
        'app_metadata', v_user.raw_app_meta_data,
        'user_metadata', v_user.raw_user_meta_data
    );
    perform server.begin_request('authenticated', v_claims::text);
    return v_claims;
end
$$;

-- act_as_anon(): become a caller without a token until the transaction ends.
create or replace function console.act_as_anon()
returns jsonb
language plpgsql
set search_path = ''
as $$
begin
    perform server.begin_request('anon', '{"role": "anon"}');
    return '{"role": "anon"}'::jsonb;
end
$$;

revoke all on function console.act_as(text), console.act_as_anon() from public;
