-- Written by `wagerbase supabase` from migrations/0028_auto_bet.sql: edit that, not this.

-- 0028: auto-bet (issue 18 item 5; docs/house-games.md, "Auto-bet"): a player runs up to N bets of
-- one house game in one call, public.auto_bet (rpc/82_house_autobet.sql), decided in a batch.
--
-- auto_bet_max_count: the most bets one auto_bet call may ask for. It bounds what a single call
-- writes and how long it holds the player's seed pair and wallet (and the house account), inside
-- the authenticated role's statement_timeout. Only the database owner changes it; the `settings`
-- view shows it.
alter table app.config
add column auto_bet_max_count integer not null default 1000,
add constraint config_auto_bet_max_count_range check (auto_bet_max_count between 1 and 10000);
