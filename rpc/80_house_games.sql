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
