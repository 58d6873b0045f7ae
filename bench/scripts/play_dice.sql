-- One dice bet of a house game, played the way an API request plays it (see bench/README.md):
-- a transaction that takes the `authenticated` role and a random user's JWT claims, then calls
-- public.play_dice (over 50.00: a win pays 1.98x the stake). Variables from `pgbench -D`: users,
-- stake. User n is 00000000-0000-0000-0000-<n as 12 digits>.
\set uid random(1, :users)
begin;
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', json_build_object(
        'sub', '00000000-0000-0000-0000-' || lpad(:uid::text, 12, '0'),
        'role', 'authenticated',
        'aud', 'authenticated'
    )::text, true);
select public.play_dice(stake => :stake, target => 5000, over => true);
commit;
