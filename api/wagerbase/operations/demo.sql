-- name: act_as
-- Act as a demo user, as a request of theirs would (console.act_as: their role and claims).
select console.act_as(%(name)s)

-- name: reset_role
reset role

-- name: market_titled
-- A demo market already loaded: the titles are the demo's own keys.
select id from app.markets where title = %(title)s

-- name: create_market
-- As the demo admin.
select public.create_market(%(title)s, %(outcomes)s, %(kind)s, %(options)s)

-- name: place_wager
-- As a demo bettor.
select public.place_wager(
    market_id => %(market_id)s, outcome_id => %(outcome_id)s, stake => %(stake)s
)
