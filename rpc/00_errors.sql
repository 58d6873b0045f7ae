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
