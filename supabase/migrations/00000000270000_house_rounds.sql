-- Written by `wagerbase supabase` from migrations/0027_house_rounds.sql: edit that, not this.

-- 0027: multi-step house rounds (issue 18 item 4; BetService section 2), mines the example: a
-- round opens (its stake held), the player reveals cells one call at a time, and the round settles
-- when they cash out, hit a mine, reveal every safe cell, or an admin or the idle expiry settles
-- it. The functions are in rpc/81_house_rounds.sql; docs/house-games.md and docs/lifecycle.md.
--
-- Money: opening moves the stake from the wallet to the system account 'house_rounds' (one
-- 'house_round_open' transaction), which holds exactly the stakes of the open rounds (a checked
-- invariant); settling moves it from there to the house and the payout from the house to the
-- wallet (one 'house_round_settle' transaction).
--
-- A round is an app.house_bets row in status 'created' (BetService's CREATED) until it settles.
-- Its mines are never stored while it is open: every step redraws them from the seed pair, whose
-- server seed no client role reads; they are written into `result` when the round settles.

alter table app.ledger_transactions drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment',
    'withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection',
    'house_bet', 'house_round_open', 'house_round_settle'
));

-- The stakes of open rounds: a system account that, like an escrow, never goes negative.
alter table app.accounts drop constraint accounts_kind_known;
alter table app.accounts
add constraint accounts_kind_known check (
    kind in ('user', 'escrow', 'house', 'world', 'grants', 'withdrawals_pending', 'house_rounds')
);
drop index app.accounts_one_per_system_kind;
create unique index accounts_one_per_system_kind on app.accounts (kind)
where kind in ('house', 'world', 'grants', 'withdrawals_pending', 'house_rounds');
insert into app.accounts (kind) values ('house_rounds');

-- Mines joins the games (after plinko and keno, migration 0026), with an edge as dice and limbo
-- have: roulette's, plinko's and keno's are their wheel's and tables'.
alter table app.house_games drop constraint house_games_game_known;
alter table app.house_games
add constraint house_games_game_known check (
    game in ('dice', 'limbo', 'roulette', 'plinko', 'keno', 'mines')
);
alter table app.house_games drop constraint house_games_edge_where_it_applies;
alter table app.house_games
add constraint house_games_edge_where_it_applies check (
    (game in ('dice', 'limbo', 'mines')) = (house_edge_bps is not null)
);
-- a multi-step game's open rounds expire after this many minutes without a step (null: never)
alter table app.house_games add column round_idle_minutes integer;
alter table app.house_games
add constraint house_games_round_idle_minutes check (
    round_idle_minutes is null or (game = 'mines' and round_idle_minutes between 1 and 525600)
);
insert into app.house_games (game, house_edge_bps, max_profit, round_idle_minutes)
values ('mines', 100, 10000000, 1440);

alter table app.house_bets drop constraint house_bets_game_known;
alter table app.house_bets
add constraint house_bets_game_known check (
    game in ('dice', 'limbo', 'roulette', 'plinko', 'keno', 'mines')
);
-- a round's multiplier is its cash-out's so far: below 1 before the first safe cell (0026's
-- house_bets_multiplier_non_negative stays); a round settles with its settling transaction even
-- when it pays back its stake (a refund), so only a one-shot bet may settle without one
alter table app.house_bets drop constraint house_bets_multiplier_above_one;
alter table app.house_bets drop constraint house_bets_settled_all_at_once;
alter table app.house_bets
add constraint house_bets_multiplier_above_one check (
    multiplier > 1 or game in ('plinko', 'keno', 'mines')
),
-- the stake's hold (house_round_open) of a multi-step round; null for a one-shot bet
add column open_transaction_id bigint references app.ledger_transactions (id),
-- the player's steps so far, in order: mines, the cells revealed (0 to 24)
add column moves jsonb,
-- when the round opened or last moved: what the idle expiry counts from
add column moved_at timestamptz,
add constraint house_bets_rounds_are_mines check (
    (game = 'mines') = (open_transaction_id is not null)
    and (game = 'mines') = (moves is not null)
    and (game = 'mines') = (moved_at is not null)
),
add constraint house_bets_settled_all_at_once check (
    status <> 'settled' or (
        result is not null and payout is not null and settled_at is not null
        and (transaction_id is null) = (payout = stake and open_transaction_id is null)
    )
),
add constraint house_bets_open_round_unsettled check (
    status <> 'created' or (
        open_transaction_id is not null and transaction_id is null and payout is null
        and result is null and settled_at is null
    )
);
-- one open round per player per game
create unique index house_bets_one_open_round on app.house_bets (user_id, game)
where status = 'created';
create index house_bets_idle_rounds_idx on app.house_bets (game, moved_at)
where status = 'created';
create index house_bets_open_transaction_idx on app.house_bets (open_transaction_id);

-- A round's guard (rules in rpc/81_house_rounds.sql): its hold never changes and its moves only
-- grow, whoever writes; the superuser too. The guard of 0021 keeps the rest of its identity.
create function app._house_rounds_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._house_round_changed(old, new);
    return new;
end
$$;

create trigger house_rounds_guard
before update on app.house_bets
for each row execute function app._house_rounds_trigger();
