-- Written by `wagerbase supabase` from migrations/0011_big_wagers.sql: edit that, not this.

-- 0011: big wagers (issue 6): the stake from which the admin console flags a wager as big.
--
-- A wager is big when its stake is at least big_wager_min_stake (100.00 by default), whatever its
-- approval or settlement: the `wagers` view shows it as `is_big` (rpc/90_views.sql), read against
-- the setting at the moment of the read, so changing the setting re-flags every wager at once.
-- Like big_win_min_profit (0009), it changes no money and is changed only by the database owner.
-- See docs/engine.md ("Settings").

alter table app.config
add column big_wager_min_stake bigint not null default 10000,
add constraint config_big_wager_min_stake_positive check (big_wager_min_stake > 0);
