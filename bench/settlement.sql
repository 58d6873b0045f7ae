-- name: settle_market
-- The admin settles the market, the outcome given winning (timed from the call to its commit).
select public.settle_market(market_id => %(market_id)s, outcome_id => %(outcome_id)s)

-- name: work_side_effect
-- One side-effect job the settlement wrote, run as a node's worker runs it (one job per
-- transaction); null when none is due.
select app.work_side_effect()
