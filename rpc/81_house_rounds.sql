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
