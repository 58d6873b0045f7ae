-- One wager, placed the way an API request places it (see bench/README.md):
-- a transaction that takes the `authenticated` role and the user's JWT claims, then calls
-- public.place_wager. Variables from `pgbench -D`: users, market_first, markets, outcome_first,
-- outcomes, stake. Markets are numbered market_first .. market_first + markets - 1, and the
-- outcomes of the i-th market are outcome_first + i * outcomes + 0 .. outcomes - 1 (bench/run.py
-- checks this before it starts). User n is 00000000-0000-0000-0000-<n as 12 digits>.
\set uid random(1, :users)
\set market_index random(0, :markets - 1)
\set position random(0, :outcomes - 1)
\set market_id :market_first + :market_index
\set outcome_id :outcome_first + :market_index * :outcomes + :position
begin;
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', json_build_object(
        'sub', '00000000-0000-0000-0000-' || lpad(:uid::text, 12, '0'),
        'role', 'authenticated',
        'aud', 'authenticated'
    )::text, true);
select public.place_wager(market_id => :market_id, outcome_id => :outcome_id, stake => :stake);
commit;
