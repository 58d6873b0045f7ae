-- name: ledger_transaction_unbalanced
select t.id, count(e.id), coalesce(sum(e.amount), 0)
from app.ledger_transactions as t
left join app.ledger_entries as e on e.transaction_id = t.id
group by t.id
having count(e.id) < 2 or coalesce(sum(e.amount), 0) <> 0

-- name: cached_balance_differs_from_entries
select a.id, a.kind, a.balance, a.version, coalesce(sum(e.amount), 0), count(e.id)
from app.accounts as a
left join app.ledger_entries as e on e.account_id = a.id
group by a.id
having a.balance <> coalesce(sum(e.amount), 0) or a.version <> count(e.id)

-- name: entry_chain_broken
select e.account_id, e.account_version
from app.ledger_entries as e
left join app.ledger_entries as p
    on p.account_id = e.account_id and p.account_version = e.account_version - 1
where e.account_version > 1 and (p.id is null or p.balance_after <> e.balance_before)

-- name: wallet_or_escrow_negative
select a.id, a.kind, a.balance from app.accounts as a
where a.kind in ('user', 'escrow', 'withdrawals_pending', 'house_rounds') and a.balance < 0

-- name: pending_withdrawals_differ_from_their_account
-- Withdrawals that wait for an admin (migration 0016, docs/operations.md).
select a.id, a.balance, coalesce(w.total, 0)
from app.accounts as a
left join lateral (
    select sum(w.amount) as total from app.withdrawals as w where w.status = 'pending'
) as w on true
where a.kind = 'withdrawals_pending' and a.balance <> coalesce(w.total, 0)

-- name: withdrawal_not_moved_as_its_status_says
select w.id, w.status, w.amount
from app.withdrawals as w
where not exists (
        select 1 from app.ledger_transactions as t
        inner join app.ledger_entries as e on e.transaction_id = t.id
        inner join app.accounts as a on a.id = e.account_id
        where t.id = w.request_transaction_id and t.kind = 'withdrawal_request'
          and a.user_id = w.user_id and e.amount = -w.amount)
   or (w.status = 'pending') <> (w.decision_transaction_id is null)
   or (w.decision_transaction_id is not null and not exists (
        select 1 from app.ledger_transactions as t
        inner join app.ledger_entries as e on e.transaction_id = t.id
        inner join app.accounts as a on a.id = e.account_id
        where t.id = w.decision_transaction_id and e.amount = w.amount
          and ((w.status = 'approved' and t.kind = 'withdrawal_approval'
                and a.kind = 'world')
               or (w.status = 'rejected' and t.kind = 'withdrawal_rejection'
                   and a.user_id = w.user_id))))

-- name: withdrawal_transaction_without_its_one_withdrawal
select t.id, t.kind, count(x.id)
from app.ledger_transactions as t
left join (
    select w.id, w.request_transaction_id as transaction_id from app.withdrawals as w
    union all
    select w.id, w.decision_transaction_id from app.withdrawals as w
    where w.decision_transaction_id is not null
) as x on x.transaction_id = t.id
where t.kind in ('withdrawal_request', 'withdrawal_approval', 'withdrawal_rejection')
group by t.id, t.kind
having count(x.id) <> 1

-- name: escrow_differs_from_unsettled_stakes
select m.id, m.status, e.balance, coalesce(sum(w.stake), 0)
from app.markets as m
inner join app.accounts as e on e.market_id = m.id
left join app.wagers as w on w.market_id = m.id and w.settlement = 'open'
group by m.id, e.balance
having e.balance <> coalesce(sum(w.stake), 0)

-- name: pools_differ_from_accepted_wagers
select o.market_id, o.id, o.pool, o.liability, o.wager_count, m.total_pool
from app.outcomes as o
inner join app.markets as m on m.id = o.market_id
left join lateral (
    select coalesce(sum(w.stake), 0) as stake,
           coalesce(sum(w.potential_payout), 0) as promised,
           count(*) as n
    from app.wagers as w
    where w.outcome_id = o.id and w.approval = 'accepted' and w.settlement <> 'void'
) as w on true
where m.status in ('open', 'closed')
  and (o.pool <> w.stake or o.liability <> w.promised or o.wager_count <> w.n
       or m.total_pool <> (select sum(x.pool) from app.outcomes as x
                           where x.market_id = m.id))

-- name: settled_market_inconsistent
select m.id, s.market_id, s.total_paid, coalesce(paid.sum, 0)
from app.markets as m
left join app.settlements as s on s.market_id = m.id
left join lateral (
    select sum(w.payout) as sum from app.wagers as w
    where w.market_id = m.id and w.approval = 'accepted'
      and not exists (select 1 from app.ledger_reversals as r
                      where r.kind = 'void_wager' and r.wager_id = w.id)
) as paid on true
where m.status = 'settled'
  and (s.market_id is null or s.total_paid <> coalesce(paid.sum, 0)
       or s.house_result <> s.total_pool - s.total_paid
       or exists (select 1 from app.wagers as w
                  where w.market_id = m.id and w.settlement = 'open'))

-- name: settlement_row_for_an_unsettled_market
select s.market_id, m.status from app.settlements as s
inner join app.markets as m on m.id = s.market_id
where m.status <> 'settled'

-- name: reversal_not_linked_to_what_it_reverses
-- Corrections (docs/corrections.md).
select r.id, r.kind, ot.kind, ot.market_id, rt.kind, rt.market_id
from app.ledger_reversals as r
left join app.ledger_transactions as ot on ot.id = r.original_transaction_id
left join app.ledger_transactions as rt on rt.id = r.reversal_transaction_id
where (r.original_transaction_id is null) <> (r.reversal_transaction_id is null)
   or ot.market_id <> r.market_id or rt.market_id <> r.market_id
   or (r.kind = 'unsettle_market'
       and (ot.kind <> 'settlement' or rt.kind <> 'unsettlement' or r.wager_id is not null))
   or (r.kind = 'void_wager'
       and (r.original_transaction_id is null or ot.kind <> 'stake'
            or ot.wager_id <> r.wager_id or rt.kind <> 'wager_void'
            or rt.wager_id <> r.wager_id))

-- name: correction_transaction_not_the_reversal_of_exactly_one_row
select t.id, t.kind, count(r.id)
from app.ledger_transactions as t
left join app.ledger_reversals as r on r.reversal_transaction_id = t.id
where t.kind in ('unsettlement', 'wager_void')
group by t.id
having count(r.id) <> 1

-- name: voided_wager_inconsistent
select w.id, w.approval, w.settlement, w.payout, w.stake, w.voided_version, r.id
from app.wagers as w
full join (
    select * from app.ledger_reversals where kind = 'void_wager'
) as r on r.wager_id = w.id
where (w.voided_version is not null or r.id is not null)
  and (w.id is null or r.id is null or w.approval <> 'accepted'
       or w.settlement <> 'void' or w.payout <> w.stake or w.voided_version is null
       or (select coalesce(sum(e.amount), 0) from app.ledger_entries as e
           where e.transaction_id = r.reversal_transaction_id
             and e.user_id = w.user_id) <> w.stake
       or (select count(*) from app.ledger_entries as e
           where e.transaction_id = r.reversal_transaction_id) <> 2)

-- name: settlement_transaction_not_of_exactly_one_settlement
select t.id, t.market_id, count(s.market_id)
from app.ledger_transactions as t
left join (
    select market_id, ledger_transaction_id from app.settlements
    union all
    select market_id, ledger_transaction_id from app.settlement_history
) as s on s.ledger_transaction_id = t.id and s.market_id = t.market_id
where t.kind = 'settlement'
group by t.id
having count(s.market_id) <> 1

-- name: settlement_history_inconsistent
select r.id, r.kind, h.reversal_id, h.market_id, h.total_pool
from app.ledger_reversals as r
full join app.settlement_history as h on h.reversal_id = r.id
where (r.kind = 'unsettle_market' or h.reversal_id is not null)
  and (r.id is null or h.reversal_id is null or r.kind <> 'unsettle_market'
       or h.market_id <> r.market_id
       or h.ledger_transaction_id is distinct from r.original_transaction_id
       or (select coalesce(sum(e.amount), 0) from app.ledger_entries as e
           inner join app.accounts as a on a.id = e.account_id and a.kind = 'escrow'
           where e.transaction_id = r.reversal_transaction_id) <> h.total_pool
       or (select coalesce(sum(e.amount), 0) from app.ledger_entries as e
           inner join app.accounts as a on a.id = e.account_id and a.kind = 'escrow'
           where e.transaction_id = r.original_transaction_id) <> -h.total_pool)

-- name: debts_differ_from_the_ledger
-- What each unsettle could not take back from each user: what the settlement it reverses
-- paid them less what its unsettlement debited them (the debt it recorded, before any
-- repayment).
with owed as (
    select r.id as reversal_id, r.market_id, e.user_id, sum(e.amount) as owed
    from app.ledger_reversals as r
    inner join app.ledger_entries as e
        on e.transaction_id in (r.original_transaction_id, r.reversal_transaction_id)
        and e.user_id is not null
    where r.kind = 'unsettle_market'
    group by r.id, r.market_id, e.user_id
),
owed_by_market as (
    select market_id, user_id, sum(owed) as owed from owed group by market_id, user_id
),
repaid as (
    select t.market_id, e.user_id, -sum(e.amount) as repaid
    from app.ledger_transactions as t
    inner join app.ledger_entries as e
        on e.transaction_id = t.id and e.user_id is not null
    where t.kind = 'debt_repayment'
    group by t.market_id, e.user_id
),
remaining as (
    select r.market_id, d.user_id, sum(d.amount) as remaining
    from app.user_debts as d
    inner join app.ledger_reversals as r on r.id = d.reversal_id
    group by r.market_id, d.user_id
),
per_market as (
    select coalesce(o.market_id, p.market_id) as market_id,
           coalesce(o.user_id, p.user_id) as user_id,
           coalesce(o.owed, 0) as owed, coalesce(p.repaid, 0) as repaid
    from owed_by_market as o
    full join repaid as p on p.market_id = o.market_id and p.user_id = o.user_id
)
select coalesce(x.market_id, m.market_id), coalesce(x.user_id, m.user_id),
       x.owed, x.repaid, m.remaining
from per_market as x
full join remaining as m on m.market_id = x.market_id and m.user_id = x.user_id
where coalesce(x.owed, 0) - coalesce(x.repaid, 0) <> coalesce(m.remaining, 0)

-- name: debt_larger_than_its_reversal_left
-- owed: what each unsettle could not take back from each user, as in debts_differ_from_the_ledger.
with owed as (
    select r.id as reversal_id, r.market_id, e.user_id, sum(e.amount) as owed
    from app.ledger_reversals as r
    inner join app.ledger_entries as e
        on e.transaction_id in (r.original_transaction_id, r.reversal_transaction_id)
        and e.user_id is not null
    where r.kind = 'unsettle_market'
    group by r.id, r.market_id, e.user_id
)
select d.id, d.user_id, d.amount, r.kind, o.owed
from app.user_debts as d
inner join app.ledger_reversals as r on r.id = d.reversal_id
left join owed as o on o.reversal_id = d.reversal_id and o.user_id = d.user_id
where r.kind <> 'unsettle_market' or coalesce(o.owed, 0) < d.amount
union all
select null, o.user_id, o.owed, 'debited more than paid', o.owed
from owed as o
where o.owed < 0
union all
select r.id, null, (t.memo ->> 'debt')::bigint, 'memo', sum(o.owed)
from app.ledger_reversals as r
inner join app.ledger_transactions as t on t.id = r.reversal_transaction_id
left join owed as o on o.reversal_id = r.id
where r.kind = 'unsettle_market'
group by r.id, t.memo
having (t.memo ->> 'debt')::bigint <> coalesce(sum(o.owed), 0)

-- name: settled_market_with_a_pending_proposal
-- Settlement review (docs/settlement-review.md).
select p.id, p.market_id from app.settlement_proposals as p
inner join app.markets as m on m.id = p.market_id
where p.status = 'pending' and m.status = 'settled'

-- name: settled_without_the_confirmation_it_requires
select m.id, s.winning_outcome_id, s.settled_by from app.markets as m
inner join app.settlements as s on s.market_id = m.id
where m.settlement_requires_confirmation and not exists (
    select 1 from app.settlement_proposals as p
    where p.market_id = m.id and p.status = 'confirmed'
      and p.outcome_id = s.winning_outcome_id
      and p.decided_by is not distinct from s.settled_by
)

-- name: confirmed_proposal_never_settled
select p.id, p.market_id, p.outcome_id, p.decided_by
from app.settlement_proposals as p
where p.status = 'confirmed' and not exists (
    select 1 from (
        select market_id, winning_outcome_id, settled_by from app.settlements
        union all
        select market_id, winning_outcome_id, settled_by from app.settlement_history
    ) as s
    where s.market_id = p.market_id and s.winning_outcome_id = p.outcome_id
      and s.settled_by is not distinct from p.decided_by
)

-- name: market_closed_more_than_once_or_without_its_close_snapshot
-- Scheduled closing (docs/depth.md).
select s.market_id, s.outcome_id, count(*) from app.pool_snapshots as s
where s.reason = 'close'
group by s.market_id, s.outcome_id
having count(*) > 1
union all
select a.market_id, null, count(*) from app.admin_actions as a
where a.action = 'close_market'
group by a.market_id
having count(*) > 1
union all
select m.id, o.id, 0 from app.markets as m
inner join app.outcomes as o on o.market_id = m.id
where m.status in ('closed', 'settled') and not exists (
    select 1 from app.pool_snapshots as s where s.outcome_id = o.id and s.reason = 'close'
)

-- name: house_bet_not_moved_as_it_says
-- House games (docs/house-games.md): a settled one-shot bet's one transaction moves payout - stake
-- to the bettor's wallet and stake - payout to the house, and nothing else; a one-shot bet that
-- paid back exactly its stake (a plinko or keno multiplier of 1) moved nothing and has no
-- transaction. (A round of mines always has its settling one: house_round_not_moved_as_it_says.)
select b.id, b.stake, b.payout, b.transaction_id
from app.house_bets as b
where b.status = 'settled' and b.open_transaction_id is null and b.payout = b.stake
    and b.transaction_id is not null
union all
select b.id, b.stake, b.payout, b.transaction_id
from app.house_bets as b
left join app.ledger_transactions as t on t.id = b.transaction_id
where b.status = 'settled' and b.open_transaction_id is null and b.payout <> b.stake and (
    t.kind is distinct from 'house_bet'
    or (select count(*) from app.ledger_entries as e where e.transaction_id = t.id) <> 2
    or not exists (
        select 1 from app.ledger_entries as e
        inner join app.accounts as a on a.id = e.account_id
        where e.transaction_id = t.id and a.kind = 'user' and a.user_id = b.user_id
          and e.amount = b.payout - b.stake)
    or not exists (
        select 1 from app.ledger_entries as e
        inner join app.accounts as a on a.id = e.account_id
        where e.transaction_id = t.id and a.kind = 'house'
          and e.amount = b.stake - b.payout))

-- name: house_bet_transaction_without_its_one_bet
select t.id, t.kind, count(b.id)
from app.ledger_transactions as t
left join app.house_bets as b
    on (t.kind = 'house_round_open' and b.open_transaction_id = t.id)
    or (t.kind in ('house_bet', 'house_round_settle') and b.transaction_id = t.id)
where t.kind in ('house_bet', 'house_round_open', 'house_round_settle')
group by t.id, t.kind
having count(b.id) <> 1

-- name: house_round_not_moved_as_it_says
-- Multi-step rounds (rpc/81_house_rounds.sql): the opening moved exactly the stake from the
-- player's wallet to the held rounds; once settled, one 'house_round_settle' transaction moved it
-- from there, payout to the wallet and stake - payout to the house, nothing else.
with moved as (
    select b.id, b.status, b.stake, b.payout, t.kind, t.id = b.open_transaction_id as opening,
           coalesce(sum(e.amount) filter (
               where a.kind = 'user' and a.user_id = b.user_id), 0) as wallet,
           coalesce(sum(e.amount) filter (where a.kind = 'house_rounds'), 0) as held,
           coalesce(sum(e.amount) filter (where a.kind = 'house'), 0) as house,
           count(e.id) filter (where not (a.kind in ('house_rounds', 'house')
               or (a.kind = 'user' and a.user_id = b.user_id))) as elsewhere
    from app.house_bets as b
    inner join app.ledger_transactions as t
        on t.id = b.open_transaction_id or t.id = b.transaction_id
    inner join app.ledger_entries as e on e.transaction_id = t.id
    inner join app.accounts as a on a.id = e.account_id
    where b.open_transaction_id is not null
    group by b.id, b.status, b.stake, b.payout, t.kind, t.id
)
select m.id, m.kind, m.wallet, m.held, m.house, m.elsewhere from moved as m
where m.elsewhere > 0
   or (m.opening and (m.kind <> 'house_round_open'
       or (m.wallet, m.held, m.house) <> (-m.stake, m.stake, 0)))
   or (not m.opening and (m.kind <> 'house_round_settle' or m.status <> 'settled'
       or (m.wallet, m.held, m.house) <> (m.payout, -m.stake, m.stake - m.payout)))
union all
select b.id, b.status, null, null, null, null from app.house_bets as b
where b.open_transaction_id is not null
  and (b.status = 'settled') <> exists (
      select 1 from app.ledger_transactions as t
      where t.id = b.transaction_id and t.kind = 'house_round_settle')

-- name: held_rounds_differ_from_open_stakes
select a.id, a.balance, coalesce(o.total, 0)
from app.accounts as a
left join lateral (
    select sum(b.stake) as total from app.house_bets as b where b.status = 'created'
) as o on true
where a.kind = 'house_rounds' and a.balance <> coalesce(o.total, 0)

-- name: seed_pair_nonces_are_not_its_bets
select s.id, s.next_nonce, count(b.id), max(b.nonce)
from app.seed_pairs as s
left join app.house_bets as b on b.seed_pair_id = s.id
group by s.id
having count(b.id) <> s.next_nonce
    or coalesce(max(b.nonce), -1) <> s.next_nonce - 1
    or coalesce(min(b.nonce), 0) <> 0
    or coalesce(bool_or(b.user_id <> s.user_id), false)

-- name: house_bet_id_not_its_round
select b.id, b.seed_pair_id, b.nonce from app.house_bets as b
where b.id <> app._house_bet_id(b.server_seed_hash, b.client_seed, b.nonce)

-- name: house_bet_ggr_not_as_settled
-- The GGR commission (migration 0030): a settled bet's GGR is its stake less its payout and its
-- commission that times its rate, exactly; an open round has neither.
select b.id, b.status, b.ggr, b.ggr_commission_bps, b.ggr_commission
from app.house_bets as b
where (b.status = 'settled' and (
        b.ggr is distinct from b.stake - b.payout
        or b.ggr_commission is distinct from b.ggr::numeric * b.ggr_commission_bps / 10000))
    or (b.status <> 'settled' and b.ggr is not null)

-- name: affiliate_commission_paid_differs_from_the_ledger
-- What each referrer was paid (app.affiliate_commission.paid) is what the 'affiliate_commission'
-- transactions moved from the house to their wallet, and every such transaction moved only that.
select coalesce(c.referrer_id, l.user_id), c.paid, l.total
from app.affiliate_commission as c
full join (
    select a.user_id, sum(e.amount) as total
    from app.ledger_transactions as t
    inner join app.ledger_entries as e on e.transaction_id = t.id
    inner join app.accounts as a on a.id = e.account_id
    where t.kind = 'affiliate_commission' and a.kind = 'user'
    group by a.user_id
) as l on l.user_id = c.referrer_id
where coalesce(c.paid, 0) <> coalesce(l.total, 0)
union all
select null, null, t.id
from app.ledger_transactions as t
where t.kind = 'affiliate_commission' and exists (
    select 1 from app.ledger_entries as e
    inner join app.accounts as a on a.id = e.account_id
    where e.transaction_id = t.id and a.kind not in ('user', 'house'))

-- name: wager_above_its_cap_or_not_at_the_live_odds
-- Each fixed-odds acceptance (and each void_wager taking one out again) in market version
-- order: accepted_version is the version each acceptance produced, so it orders them exactly.
-- Each stake is checked against the cap just before it at the odds it locked (for a wager
-- accepted at placement the live odds then; an approved wager keeps its placement odds).
with moves as (
    select w.market_id, w.accepted_version as version, w.id as wager_id, w.outcome_id,
           w.stake as pool_move, w.potential_payout as liability_move,
           true as accepted, w.stake, w.odds, w.decided_at is null as at_placement
    from app.wagers as w
    inner join app.markets as m on m.id = w.market_id
    where m.kind = 'fixed_odds' and w.approval = 'accepted'
    union all
    select w.market_id, w.voided_version, w.id, w.outcome_id, -w.stake,
           -w.potential_payout, false, w.stake, w.odds, false
    from app.wagers as w
    inner join app.markets as m on m.id = w.market_id
    where m.kind = 'fixed_odds' and w.voided_version is not null
),
before as (
    select v.*,
           coalesce(sum(v.pool_move) over earlier_in_market, 0)::bigint as total,
           coalesce(sum(v.pool_move) over earlier_on_outcome, 0)::bigint as pool,
           coalesce(sum(v.liability_move) over earlier_on_outcome, 0)::bigint
               as liability
    from moves as v
    window earlier_in_market as (
               partition by v.market_id order by v.version
               rows between unbounded preceding and 1 preceding),
           earlier_on_outcome as (
               partition by v.outcome_id order by v.version
               rows between unbounded preceding and 1 preceding)
)
select b.market_id, b.wager_id, b.stake, b.odds, q.live_odds, q.cap
from before as b
inner join app.markets as m on m.id = b.market_id
cross join lateral (
    select app._odds(m.kind, b.pool, b.total, m.outcome_count, m.virtual_stake,
                     m.commission_bps, m.rake_bps) as live_odds,
           app._cap(m.kind, b.total, m.margin, b.liability, b.odds, m.min_cap) as cap
) as q
where b.accepted and ((b.at_placement and b.odds <> q.live_odds) or b.stake > q.cap)
