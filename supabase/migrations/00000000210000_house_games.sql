-- Written by `wagerbase supabase` from migrations/0021_house_games.sql: edit that, not this.

-- 0021: house games (issue 18 items 1-3; BetService sections 3 and 4): dice, limbo and roulette
-- played against the house in one transaction each, drawn from a seed pair of the player's own.
--
-- A seed pair is a server seed (secret until the player rotates it; its SHA-256 is shown from the
-- start), a client seed the player chooses, and a nonce that counts the bets drawn from it. Each
-- bet draws from HMAC-SHA256(server seed, client seed || ':' || nonce || ':' || round), and its
-- id is derived from the round it drew. app.seed_pairs holds the pairs: no client role reads it
-- (admins and the service role included), and the read side (rpc/80_house_games.sql) shows a
-- server seed only once its pair is revealed. app.house_bets holds the bets; app.house_games the
-- settings an admin edits per game. See docs/house-games.md.
--
-- The guard triggers below wrap rules of rpc/80_house_games.sql: a pair's commitment never
-- changes, its reveal is final, its nonce moves forward one bet at a time; a settled bet is final;
-- nothing is deleted.

-- A house bet's money: one transaction, wallet <-> house, for the stake and the payout together.
alter table app.ledger_transactions drop constraint ledger_transactions_kind_known;
alter table app.ledger_transactions
add constraint ledger_transactions_kind_known check (kind in (
    'grant', 'deposit', 'withdrawal', 'stake', 'refund', 'settlement', 'void',
    'unsettlement', 'wager_void', 'debt_repayment',
    'withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection',
    'house_bet'
));

-- The settings of each house game, one row per game; public.update_house_game changes them.
create table app.house_games (
    game text primary key,
    enabled boolean not null default true,
    -- dice and limbo: the house edge in basis points (100 = 1%, an RTP of 99%); roulette: null
    -- (its edge is the wheel's single zero, 1/37)
    house_edge_bps integer,
    -- the most a single bet may win above its stake, in minor units; a bet that could win more is
    -- refused before it is drawn
    max_profit bigint not null,
    updated_at timestamptz not null default now(),
    constraint house_games_game_known check (game in ('dice', 'limbo', 'roulette')),
    constraint house_games_edge_range check (house_edge_bps between 0 and 5000),
    constraint house_games_edge_where_it_applies check (
        (game in ('dice', 'limbo')) = (house_edge_bps is not null)
    ),
    constraint house_games_max_profit_range check (max_profit between 1 and 1000000000000000)
);
alter table app.house_games enable row level security;
insert into app.house_games (game, house_edge_bps, max_profit) values
('dice', 100, 10000000),
('limbo', 100, 10000000),
('roulette', null, 10000000);

-- A player's seed pairs: at most one active (revealed_at null) per user, made on first use.
create table app.seed_pairs (
    id bigint generated always as identity primary key,
    user_id uuid not null references auth.users (id),
    -- 64 lowercase hex characters (32 random bytes); its text is the HMAC key
    server_seed text not null,
    -- the commitment: lowercase hex SHA-256 of the seed's text, shown before any bet
    server_seed_hash text not null,
    -- the player's: 1 to 64 printable ASCII characters
    client_seed text not null,
    -- the nonce of the next bet drawn from this pair: 0, 1, 2, ... one per bet, no gap
    next_nonce bigint not null default 0,
    created_at timestamptz not null default now(),
    -- when the player rotated it: from then on its server seed is readable, and it draws no more
    revealed_at timestamptz,
    constraint seed_pairs_seed_shape check (server_seed ~ '^[0-9a-f]{64}$'),
    constraint seed_pairs_commitment check (
        server_seed_hash = encode(sha256(convert_to(server_seed, 'UTF8')), 'hex')
    ),
    constraint seed_pairs_client_seed_shape check (client_seed ~ '^[ -~]{1,64}$'),
    constraint seed_pairs_nonce_non_negative check (next_nonce >= 0),
    constraint seed_pairs_hash_unique unique (server_seed_hash),
    -- what a bet copies of its pair (house_bets_round_of_its_pair)
    constraint seed_pairs_round_key unique (id, server_seed_hash, client_seed)
);
create unique index seed_pairs_one_active_per_user on app.seed_pairs (user_id)
where revealed_at is null;
alter table app.seed_pairs enable row level security;

-- The bets. A one-shot game's bet is written settled; `created` is reserved for the rounds of
-- multi-step games (mines), which the player plays on before it settles.
create table app.house_bets (
    -- 'bet-' || the round's uuid: the first 16 bytes of
    -- sha256(server_seed_hash || ':' || client_seed || ':' || nonce), as a uuid
    id text primary key,
    user_id uuid not null references auth.users (id),
    game text not null,
    seed_pair_id bigint not null,
    -- the pair's commitment and client seed, copied so that a bet reads alone; the foreign key
    -- below keeps them its pair's
    server_seed_hash text not null,
    client_seed text not null,
    nonce bigint not null,
    stake bigint not null,
    -- the player's choices: dice {target, over}, limbo {target}, roulette {bet}
    params jsonb not null,
    -- the edge the bet was played at (dice, limbo; the crash point of limbo depends on it)
    house_edge_bps integer,
    -- what was drawn: dice {roll}, limbo {crash}, roulette {pocket, color}
    result jsonb,
    -- what a win pays per unit staked, as shown before the bet (rounded to 4 decimals for dice;
    -- the payout is computed exactly from integers, see docs/house-games.md)
    multiplier numeric not null,
    payout bigint,
    status text not null,
    transaction_id bigint references app.ledger_transactions (id),
    idempotency_key text,
    created_at timestamptz not null default now(),
    settled_at timestamptz,
    constraint house_bets_id_shape check (
        id ~ '^bet-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    ),
    constraint house_bets_game_known check (game in ('dice', 'limbo', 'roulette')),
    constraint house_bets_round_of_its_pair foreign key (
        seed_pair_id, server_seed_hash, client_seed
    ) references app.seed_pairs (id, server_seed_hash, client_seed),
    constraint house_bets_one_per_round unique (seed_pair_id, nonce),
    constraint house_bets_stake_positive check (stake > 0),
    constraint house_bets_payout_non_negative check (payout >= 0),
    constraint house_bets_multiplier_above_one check (multiplier > 1),
    constraint house_bets_status_known check (status in ('created', 'settled')),
    constraint house_bets_settled_all_at_once check (
        status <> 'settled' or (
            result is not null and payout is not null and transaction_id is not null
            and settled_at is not null
        )
    )
);
create index house_bets_user_idx on app.house_bets (user_id, created_at desc);
create index house_bets_open_rounds_idx on app.house_bets (user_id) where status = 'created';
create index house_bets_transaction_idx on app.house_bets (transaction_id);
alter table app.house_bets enable row level security;

-- Guards (rules in rpc/80_house_games.sql), whoever writes: the superuser too.
create function app._seed_pairs_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._seed_pair_changed(tg_op, old, new);
    return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger seed_pairs_guard
before update or delete on app.seed_pairs
for each row execute function app._seed_pairs_trigger();

create function app._house_bets_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._house_bet_changed(tg_op, old, new);
    return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger house_bets_guard
before update or delete on app.house_bets
for each row execute function app._house_bets_trigger();
