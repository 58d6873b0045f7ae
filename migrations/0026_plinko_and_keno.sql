-- 0026: plinko and keno (issue 18 item 3; BetService sections 3 and 4.2), one-shot house games
-- like dice, limbo and roulette (migration 0021, rpc/80_house_games.sql, docs/house-games.md).
--
-- Their draw decides the multiplier (a plinko bucket, a keno row's hits), which may be below 1:
-- a bet records the multiplier it drew (0 for a keno miss, 0.5 for a plinko bucket of 0.5x), and
-- a bet that pays back exactly its stake (a 1x bucket) moves no money, so it has no ledger
-- transaction. Their edge is their tables' (99% RTP for plinko exactly, keno's per table: see
-- docs/house-games.md), so house_edge_bps stays null for them, as for roulette (0021's
-- house_games_edge_where_it_applies: an edge for dice and limbo alone).

alter table app.house_games drop constraint house_games_game_known;
alter table app.house_games
add constraint house_games_game_known check (
    game in ('dice', 'limbo', 'roulette', 'plinko', 'keno')
);
insert into app.house_games (game, house_edge_bps, max_profit) values
('plinko', null, 10000000),
('keno', null, 10000000);

alter table app.house_bets drop constraint house_bets_game_known;
alter table app.house_bets
add constraint house_bets_game_known check (
    game in ('dice', 'limbo', 'roulette', 'plinko', 'keno')
);

-- dice, limbo, roulette: what a win pays per unit (above 1); plinko, keno: what the draw paid (0
-- for a keno miss, below 1 for some plinko buckets)
alter table app.house_bets drop constraint house_bets_multiplier_above_one;
alter table app.house_bets
add constraint house_bets_multiplier_above_one check (multiplier > 1 or game in ('plinko', 'keno')),
add constraint house_bets_multiplier_non_negative check (multiplier >= 0);

-- a settled bet has its ledger transaction, unless it paid back exactly its stake (nothing moved)
alter table app.house_bets drop constraint house_bets_settled_all_at_once;
alter table app.house_bets
add constraint house_bets_settled_all_at_once check (
    status <> 'settled' or (
        result is not null and payout is not null and settled_at is not null
        and (transaction_id is null) = (payout = stake)
    )
);
