-- Written by `wagerbase supabase` from migrations/0019_settlement_room.sql: edit that, not this.

-- 0019: room on each page of app.wagers for the row settlement writes (issue 15).
--
-- Settlement rewrites every wager of its market (settlement, payout, settled_at). With the table
-- filled to 100%, the new version of a row rarely fits on its page, so almost every update went
-- to another page and added an entry to each of the table's indexes: settling 10,000 wagers made
-- 9,934 such updates and 66 HOT ones (docs/performance.md). None of the columns settlement sets
-- is indexed, so an update whose new version stays on its page is a HOT update: no index entry,
-- far less WAL. A wager row is about 150 bytes and its settled version about the same, so a page
-- half filled by placements has room for every one of its wagers to be settled in place; the old
-- versions are pruned later and the room serves the next correction (unsettle, resettle).
-- Measured on 20,000 wagers (docs/performance.md, "Settlement"): at fillfactor 100 no update was
-- HOT; at 50, 96%; at 45, all of them. The price is the table's size: about twice the pages.
--
-- The setting applies to pages written from now on. An existing deployment's wagers keep their
-- pages until the table is rewritten (`vacuum full app.wagers`, or pg_repack without the lock);
-- docs/operations.md says when that is worth it.

alter table app.wagers set (fillfactor = 50);
