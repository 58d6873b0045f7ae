-- name: fill_events
-- What an odds message of a three-outcome market looks like, `count` of them in a transaction.
insert into app.events (channel, payload)
select 'wagerbase_market', jsonb_build_object('type', 'odds', 'market_id', g,
       'version', g, 'outcomes', jsonb_build_array(1, 2, 3))
from generate_series(1, %(count)s) as g
