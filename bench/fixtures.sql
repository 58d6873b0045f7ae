-- name: act_as
-- For the rest of the current transaction, act as the caller these claims describe.
select set_config('role', %(role)s, true), set_config('request.jwt.claims', %(claims)s, true)

-- name: create_users
-- Users 1..users, as sign-up makes them: user n's id is 00000000-0000-0000-0000-<n in 12
-- digits>, as bench/scripts/place_wager.sql builds it.
insert into auth.users (id, email, raw_app_meta_data)
select ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
       'bench' || n || '@example.test',
       '{"provider": "email", "providers": ["email"]}'
from generate_series(1, %(users)s) as n

-- name: create_profiles
-- The profile of each of users 1..users.
insert into app.profiles (user_id, username)
select ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid,
       'bench_' || lpad(n::text, 6, '0')
from generate_series(1, %(users)s) as n

-- name: create_admin
-- The admin, as sign-up makes a user, with the admin role in its app metadata.
insert into auth.users (id, email, raw_app_meta_data)
values (%(admin_id)s, 'bench-admin@example.test',
        '{"provider": "email", "providers": ["email"], "role": "admin"}')

-- name: create_admin_profile
-- The admin's profile.
insert into app.profiles (user_id, username) values (%(admin_id)s, 'bench_admin')

-- name: set_initial_balance
-- The balance a wallet opens with (in minor units), raised so that no benchmark runs out.
update app.config set initial_balance = %(balance)s

-- name: set_users
-- How many users open_wallets opens a wallet for, for the rest of the transaction.
select set_config('bench.users', %(users)s, true)

-- name: open_wallets
-- Each user's wallet, opened by the user's first call (public.get_wallet), as that user.
do $wallets$
declare
    v_users integer := current_setting('bench.users')::integer;
begin
    perform set_config('role', 'authenticated', true);
    for v_n in 1 .. v_users loop
        perform set_config('request.jwt.claims', json_build_object(
            'sub', '00000000-0000-0000-0000-' || lpad(v_n::text, 12, '0'),
            'role', 'authenticated', 'aud', 'authenticated')::text, true);
        perform public.get_wallet();
    end loop;
end
$wallets$

-- name: wallets
-- The users' wallets: how many, and the money in them.
select count(*), coalesce(sum(balance), 0) from app.accounts where kind = 'user'

-- name: start_sessions
-- A session for each of users 1..users (in that order), as a password sign-in starts one: its id,
-- started with app._start_session with a refresh token nobody will use; its user.
select s.session_id, app._start_session(s.user_id, s.session_id, s.refresh_hash)
from (
    select n,
           ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid as user_id,
           gen_random_uuid() as session_id,
           md5(gen_random_uuid()::text) as refresh_hash
    from generate_series(1, %(users)s) as n
) as s
order by s.n

-- name: create_markets
-- `count` open markets of one kind, made by the admin through public.create_market in one
-- statement (so their ids, and their outcomes' ids, are consecutive): their ids.
select (public.create_market(
            title => %(title)s || ' ' || i, outcomes => %(labels)s, kind => %(kind)s,
            options => %(options)s
        ) ->> 'id')::bigint
from generate_series(1, %(count)s) as i

-- name: first_outcome
-- The id of the market's first outcome.
select min(id) from app.outcomes where market_id = %(market_id)s

-- name: layout
-- The markets of the range and their outcomes, in order: (market, outcome, position).
select m.id, o.id, o.position
from app.markets as m
inner join app.outcomes as o on o.market_id = m.id
where m.id between %(first)s and %(last)s
order by m.id, o.position

-- name: count_wagers
-- The wagers on the markets of the range: all of them, and the accepted ones.
select count(*), count(*) filter (where approval = 'accepted')
from app.wagers where market_id between %(first)s and %(last)s

-- name: set_setting
-- One of the load_chunk's settings (bench.first, bench.count...), for the rest of the transaction.
select set_config(%(name)s, %(value)s, true)

-- name: load_chunk
-- Places wagers number bench.first .. bench.first + bench.count - 1 on one market in one batch
-- of the engine's batched placement (app._place_wagers, what server.place_wagers runs for the
-- API's batches): each wager decided as its own call of place_wager would have been, by the same
-- rules, and written set-based. Wager i is user 1 + (i * 7919) mod users (7919 is prime, so the
-- users take turns) on the outcome ((i mod 7) * outcomes) / 7: with three outcomes 3/7, 2/7 and
-- 2/7 of the wagers, with two 3/7 and 4/7. i mod 7 and i mod users vary independently, so every
-- user wins some wagers and loses others. A wager refused fails the load (none should be).
do $load$
declare
    v_first bigint := current_setting('bench.first')::bigint;
    v_count bigint := current_setting('bench.count')::bigint;
    v_market bigint := current_setting('bench.market_id')::bigint;
    v_outcome_first bigint := current_setting('bench.outcome_first')::bigint;
    v_outcomes integer := current_setting('bench.outcomes')::integer;
    v_users integer := current_setting('bench.users')::integer;
    v_stake bigint := current_setting('bench.stake')::bigint;
    v_refused jsonb;
begin
    select a.answer into v_refused
    from jsonb_array_elements(app._place_wagers(v_market, (
        select jsonb_agg(jsonb_build_object(
                'user_id', w.user_id,
                'claims', jsonb_build_object(
                    'sub', w.user_id, 'role', 'authenticated', 'aud', 'authenticated'),
                'outcome_id', v_outcome_first + ((w.i % 7) * v_outcomes) / 7,
                'stake', v_stake
            ) order by w.i)
        from (
            -- i is a bigint: past wager 271,183 its product with 7919 overflows an integer
            select g.i, ('00000000-0000-0000-0000-'
                    || lpad((1 + (g.i * 7919) % v_users)::text, 12, '0'))::uuid as user_id
            from generate_series(v_first, v_first + v_count - 1) as g (i)
        ) as w
    ))) as a (answer)
    where not a.answer ? 'result'
    limit 1;
    if v_refused is not null then
        raise exception 'a wager of the loader was refused: %', v_refused;
    end if;
end
$load$
