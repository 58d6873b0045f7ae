-- name: ledger_transaction_unbalanced
select e.transaction_id, count(*), sum(e.amount)
from app.ledger_entries as e
group by e.transaction_id
having count(*) < 2 or sum(e.amount) <> 0
limit 5

-- name: ledger_transaction_without_entries
select t.id from app.ledger_transactions as t
where not exists (select 1 from app.ledger_entries as e where e.transaction_id = t.id)
limit 5

-- name: cached_balance_differs_from_entries
select a.id, a.kind, a.balance, a.version, coalesce(e.total, 0), coalesce(e.n, 0)
from app.accounts as a
left join (
    select account_id, sum(amount) as total, count(*) as n
    from app.ledger_entries group by account_id
) as e on e.account_id = a.id
where a.balance <> coalesce(e.total, 0) or a.version <> coalesce(e.n, 0)
limit 5

-- name: money_created_or_destroyed
select sum(a.balance) from app.accounts as a having sum(a.balance) <> 0

-- name: wallet_or_escrow_negative
select a.id, a.kind, a.balance from app.accounts as a
where a.kind in ('user', 'escrow') and a.balance < 0
limit 5
