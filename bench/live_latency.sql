-- name: act_as_bettor
-- For the rest of the transaction, act as the bettor whose claims these are, as a request does.
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', %(claims)s, true)

-- name: place_wager
-- One wager, as a request places it (committed after, and timed).
select public.place_wager(market_id => %(market_id)s, outcome_id => %(outcome_id)s,
                          stake => %(stake)s)
