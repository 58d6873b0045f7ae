-- name: game_rows
-- The games, as BetMarket shows them: the visible markets the engine calls BetMarket games (the
-- markets view's betmarket_game: two outcomes, fixed odds); whether betting is open is its
-- accepting_wagers. A fragment: `games` and `game` name it {game_rows} and go on from its `where`.
select
    m.id as game_id,
    m.title as question_text,
    o1.label as opt1_text,
    o2.label as opt2_text,
    m.category,
    case m.winning_outcome_id when o1.id then 'opt1' when o2.id then 'opt2' end as result,
    m.accepting_wagers as betting_open,
    o1.pool as tot_opt1,
    o2.pool as tot_opt2,
    o1.odds as odd1,
    o2.odds as odd2,
    o1.cap as cap_opt1,
    o2.cap as cap_opt2,
    extract(epoch from m.created_at)::bigint as created_at
from public.markets as m
inner join public.outcomes as o1 on o1.market_id = m.id and o1.position = 1
inner join public.outcomes as o2 on o2.market_id = m.id and o2.position = 2
where m.betmarket_game

-- name: games
-- The newest games, at most the node's row cap (WAGERBASE_MAX_ROWS): the contract has no paging.
{game_rows}
order by m.created_at desc, m.id desc
limit %(max_rows)s

-- name: game
-- One game, by id.
{game_rows}
    and m.id = %(game_id)s

-- name: outcome_id
-- The id of outcome `position` of game `game_id`; null when that is no game, so that the engine
-- answers market_not_found or outcome_not_found, after checking who calls, and changes nothing.
-- A fragment: `place_wager` and `settle_market` name it {outcome_id}.
(
    select o.id
    from public.outcomes as o
    inner join public.markets as m on o.market_id = m.id
    where o.market_id = %(game_id)s and o.position = %(position)s and m.betmarket_game
)

-- name: place_wager
select public.place_wager(
    market_id => %(game_id)s,
    outcome_id => {outcome_id},
    stake => %(stake)s,
    expected_odds => %(expected_odds)s,
    idempotency_key => %(idempotency_key)s
) as result

-- name: settle_market
select public.settle_market(%(game_id)s, {outcome_id}) as result

-- name: close_market
-- The game's market; null when that is no game (market_not_found).
select public.close_market((
    select m.id from public.markets as m where m.id = %(game_id)s and m.betmarket_game
)) as result

-- name: create_market
select public.create_market(
    title => %(title)s,
    outcomes => %(outcomes)s,
    kind => 'fixed_odds',
    options => %(options)s
) as result

-- name: house_summary
select public.house_summary() as result

-- name: get_wallet
select public.get_wallet() as result

-- name: deposit
select public.deposit(amount => %(amount)s, idempotency_key => %(idempotency_key)s) as result

-- name: bets
-- The caller's bets on games (on one game when game_id is not null), newest first, at most the
-- node's row cap.
select
    w.id as bet_id,
    w.user_id,
    w.market_id as game_id,
    w.stake as amount,
    case w.position when 1 then 'opt1' when 2 then 'opt2' end as choice,
    w.odds as odd,
    extract(epoch from w.created_at)::bigint as placed_at,
    w.market_title as game_question,
    w.category as game_category,
    o1.label as opt1_text,
    o2.label as opt2_text,
    case w.winning_outcome_id when o1.id then 'opt1' when o2.id then 'opt2' end as game_result,
    m.accepting_wagers as betting_open,
    case w.settlement when 'won' then true when 'lost' then false end as won,
    w.payout
from public.my_wagers as w
inner join public.markets as m on w.market_id = m.id
inner join public.outcomes as o1 on o1.market_id = w.market_id and o1.position = 1
inner join public.outcomes as o2 on o2.market_id = w.market_id and o2.position = 2
where
    m.betmarket_game
    and (%(game_id)s::bigint is null or w.market_id = %(game_id)s::bigint)
order by w.created_at desc, w.id desc
limit %(max_rows)s
