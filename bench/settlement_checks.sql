-- name: market_not_settled_or_no_settlement_row
select m.id, m.status, s.market_id
from app.markets as m
left join app.settlements as s on s.market_id = m.id
where m.id = %(market_id)s
  and (m.status <> 'settled' or s.market_id is null
       or s.winning_outcome_id <> m.winning_outcome_id)

-- name: wager_left_open_or_unaccounted
select w.id, w.approval, w.settlement, w.payout
from app.wagers as w
where w.market_id = %(market_id)s
  and (w.settlement = 'open' or w.payout is null
       or (w.settlement = 'won') <> (w.outcome_id = (
           select m.winning_outcome_id from app.markets as m where m.id = w.market_id)))
limit 5

-- name: settlement_figures_differ_from_the_wagers
select s.total_pool, w.stakes, s.total_paid, w.paid, s.winners_count, w.won,
       s.losers_count, w.lost
from app.settlements as s
cross join lateral (
    select sum(x.stake) as stakes, sum(x.payout) as paid,
           count(*) filter (where x.settlement = 'won') as won,
           count(*) filter (where x.settlement = 'lost') as lost
    from app.wagers as x
    where x.market_id = s.market_id and x.approval = 'accepted'
) as w
where s.market_id = %(market_id)s
  and (s.total_pool <> w.stakes or s.total_paid <> w.paid
       or s.winners_count <> w.won or s.losers_count <> w.lost
       or s.house_result <> s.total_pool - s.total_paid
       or s.net_pool <> s.total_pool - s.rake
       or (s.kind = 'parimutuel' and not s.refunded
           and s.dust <> s.net_pool - s.total_paid))

-- name: a_users_credit_differs_from_their_winnings
with owed as (
    select a.id as account_id, sum(w.payout) as payout
    from app.wagers as w
    inner join app.accounts as a on a.user_id = w.user_id
    where w.market_id = %(market_id)s and w.approval = 'accepted'
    group by a.id
    having sum(w.payout) > 0
),
credited as (
    select e.account_id, e.amount
    from app.settlements as s
    inner join app.ledger_entries as e on e.transaction_id = s.ledger_transaction_id
    inner join app.accounts as a on a.id = e.account_id and a.kind = 'user'
    where s.market_id = %(market_id)s
)
select coalesce(o.account_id, c.account_id), o.payout, c.amount
from owed as o
full join credited as c on c.account_id = o.account_id
where o.payout is distinct from c.amount
limit 5

-- name: escrow_not_emptied
select a.id, a.balance from app.accounts as a where a.market_id = %(market_id)s and a.balance <> 0

-- name: side_effects_differ_from_the_wagers
-- Run after the side-effect jobs: each handler's record, and the market's figures, add up to the
-- market's won and lost wagers.
with counted as (
    select count(*) as wagers, count(*) filter (where w.settlement = 'won') as wins,
           coalesce(sum(w.stake), 0) as stake, coalesce(sum(w.payout), 0) as payout
    from app.wagers as w
    where w.market_id = %(market_id)s and w.approval = 'accepted'
      and w.settlement in ('won', 'lost')
),
figures as (
    select h.source, f.wagers, f.wins, f.stake, f.payout
    from unnest(array['user_stats', 'leaderboard', 'big_wins', 'market_stats',
                      'market_stats table']) as h (source)
    left join lateral (
        select sum(r.wagers) as wagers, sum(r.wins) as wins, sum(r.stake) as stake,
               sum(r.payout) as payout
        from app.side_effect_counts as r
        where r.market_id = %(market_id)s and r.handler = h.source
        having count(*) > 0
        union all
        select s.wagers, s.wins, s.staked, s.paid
        from app.market_stats as s
        where s.market_id = %(market_id)s and h.source = 'market_stats table'
    ) as f on true
)
select f.source, f.wagers, c.wagers, f.payout, c.payout
from figures as f
cross join counted as c
where (coalesce(f.wagers, 0), coalesce(f.wins, 0), coalesce(f.stake, 0),
       coalesce(f.payout, 0)) <> (c.wagers, c.wins, c.stake, c.payout)
