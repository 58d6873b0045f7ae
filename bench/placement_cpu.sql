-- name: place_wager
-- One wager of 1.00 as a request places it (the caller's role and claims already set).
select public.place_wager(market_id => %(market_id)s, outcome_id => %(outcome_id)s, stake => 100)

-- name: place_wagers
-- A batch of wagers on one market through the engine's batched placement (what
-- server.place_wagers runs for an API node's batches): one answer per wager.
select app._place_wagers(%(market_id)s, %(wagers)s::jsonb)

-- name: play_dice
-- One house bet of 1.00 on dice, over 50.00 (--house): a play and everything it sets off in its
-- transaction (the side effects' pending rows and jobs, the GGR).
select public.play_dice(stake => 100, target => 5000, over => true)
