-- One auto-bet of `bets` dice bets (over 50.00), as play_dice.sql plays one: a random user's
-- transaction calls public.auto_bet. Variables from `pgbench -D`: users, stake, bets.
\set uid random(1, :users)
begin;
select
    set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', json_build_object(
        'sub', '00000000-0000-0000-0000-' || lpad(:uid::text, 12, '0'),
        'role', 'authenticated',
        'aud', 'authenticated'
    )::text, true);
select public.auto_bet(
    game => 'dice', stake => :stake, params => '{"target": 5000, "over": true}', count => :bets
);
commit;
