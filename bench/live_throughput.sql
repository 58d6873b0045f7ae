-- name: market_versions
-- The version of each market of the range: each odds update a wager makes raises it by one.
select id, version from app.markets where id between %(first)s and %(last)s

-- name: wager_count
-- The wagers on the markets of the range: all of them, and the accepted ones.
select count(*), count(*) filter (where approval = 'accepted') from app.wagers
where market_id between %(first)s and %(last)s
