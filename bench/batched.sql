-- name: open_sessions
-- A live session for every bench user n, its id the prefix and n in 12 digits (each request's
-- session is checked).
insert into app.sessions (id, user_id)
select (%(prefix)s || lpad(n::text, 12, '0'))::uuid,
       ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid
from generate_series(1, %(users)s) as n
on conflict do nothing

-- name: place_wager
-- One wager as its own call of place_wager, with its idempotency key: the result as JSON text.
select public.place_wager(market_id => %(market_id)s, outcome_id => %(outcome_id)s,
                          stake => %(stake)s,
                          idempotency_key => %(idempotency_key)s)::text as result
