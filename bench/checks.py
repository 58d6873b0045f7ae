"""Checks that a benchmark measured real work: after settlement, the settlement row adds up, every
wager is decided, each user got exactly the sum of their winning wagers in one balanced ledger
transaction, the side effects counted every wager once, the whole ledger still balances, and
every invariant `wagerbase db check` checks holds.

Each check is a query returning the rows that break it (none when it holds).
"""

from __future__ import annotations

from typing import Any

import psycopg

from bench.fixtures import Connection
from wagerbase.operations.invariants import violations

# Parameter: the market id (each %s is the same id).
SETTLEMENT_CHECKS: dict[str, str] = {
    "market not settled, or no settlement row": """
        select m.id, m.status, s.market_id
        from app.markets as m
        left join app.settlements as s on s.market_id = m.id
        where m.id = %s and (m.status <> 'settled' or s.market_id is null
                             or s.winning_outcome_id <> m.winning_outcome_id)
    """,
    "wager left open or unaccounted": """
        select w.id, w.approval, w.settlement, w.payout
        from app.wagers as w
        where w.market_id = %s
          and (w.settlement = 'open' or w.payout is null
               or (w.settlement = 'won') <> (w.outcome_id = (
                   select m.winning_outcome_id from app.markets as m where m.id = w.market_id)))
        limit 5
    """,
    "settlement figures differ from the wagers": """
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
        where s.market_id = %s
          and (s.total_pool <> w.stakes or s.total_paid <> w.paid
               or s.winners_count <> w.won or s.losers_count <> w.lost
               or s.house_result <> s.total_pool - s.total_paid
               or s.net_pool <> s.total_pool - s.rake
               or (s.kind = 'parimutuel' and not s.refunded
                   and s.dust <> s.net_pool - s.total_paid))
    """,
    "a user's credit differs from their winnings": """
        with owed as (
            select a.id as account_id, sum(w.payout) as payout
            from app.wagers as w
            inner join app.accounts as a on a.user_id = w.user_id
            where w.market_id = %s and w.approval = 'accepted'
            group by a.id
            having sum(w.payout) > 0
        ),
        credited as (
            select e.account_id, e.amount
            from app.settlements as s
            inner join app.ledger_entries as e on e.transaction_id = s.ledger_transaction_id
            inner join app.accounts as a on a.id = e.account_id and a.kind = 'user'
            where s.market_id = %s
        )
        select coalesce(o.account_id, c.account_id), o.payout, c.amount
        from owed as o
        full join credited as c on c.account_id = o.account_id
        where o.payout is distinct from c.amount
        limit 5
    """,
    "escrow not emptied": """
        select a.id, a.balance from app.accounts as a where a.market_id = %s and a.balance <> 0
    """,
    # run after the side-effect jobs: each handler's record, and the market's figures, add up to
    # the market's won and lost wagers
    "side effects differ from the wagers": """
        with counted as (
            select count(*) as wagers, count(*) filter (where w.settlement = 'won') as wins,
                   coalesce(sum(w.stake), 0) as stake, coalesce(sum(w.payout), 0) as payout
            from app.wagers as w
            where w.market_id = %s and w.approval = 'accepted' and w.settlement in ('won', 'lost')
        ),
        figures as (
            select h.source, f.wagers, f.wins, f.stake, f.payout
            from unnest(array['user_stats', 'leaderboard', 'big_wins', 'market_stats',
                              'market_stats table']) as h (source)
            left join lateral (
                select sum(r.wagers) as wagers, sum(r.wins) as wins, sum(r.stake) as stake,
                       sum(r.payout) as payout
                from app.side_effect_counts as r
                where r.market_id = %s and r.handler = h.source
                having count(*) > 0
                union all
                select s.wagers, s.wins, s.staked, s.paid
                from app.market_stats as s
                where s.market_id = %s and h.source = 'market_stats table'
            ) as f on true
        )
        select f.source, f.wagers, c.wagers, f.payout, c.payout
        from figures as f
        cross join counted as c
        where (coalesce(f.wagers, 0), coalesce(f.wins, 0), coalesce(f.stake, 0),
               coalesce(f.payout, 0)) <> (c.wagers, c.wins, c.stake, c.payout)
    """,
}

LEDGER_CHECKS: dict[str, str] = {
    "ledger transaction unbalanced": """
        select e.transaction_id, count(*), sum(e.amount)
        from app.ledger_entries as e
        group by e.transaction_id
        having count(*) < 2 or sum(e.amount) <> 0
        limit 5
    """,
    "ledger transaction without entries": """
        select t.id from app.ledger_transactions as t
        where not exists (select 1 from app.ledger_entries as e where e.transaction_id = t.id)
        limit 5
    """,
    "cached balance differs from entries": """
        select a.id, a.kind, a.balance, a.version, coalesce(e.total, 0), coalesce(e.n, 0)
        from app.accounts as a
        left join (
            select account_id, sum(amount) as total, count(*) as n
            from app.ledger_entries group by account_id
        ) as e on e.account_id = a.id
        where a.balance <> coalesce(e.total, 0) or a.version <> coalesce(e.n, 0)
        limit 5
    """,
    "money created or destroyed": """
        select sum(a.balance) from app.accounts as a having sum(a.balance) <> 0
    """,
    "wallet or escrow negative": """
        select a.id, a.kind, a.balance from app.accounts as a
        where a.kind in ('user', 'escrow') and a.balance < 0
        limit 5
    """,
}


def _run(conn: Connection, checks: dict[str, str], market_id: int | None) -> dict[str, Any]:
    failures: dict[str, Any] = {}
    for name, query in checks.items():
        params = [market_id] * query.count("%s")
        rows = conn.execute(query, params).fetchall()
        if rows:
            failures[name] = [list(map(str, row)) for row in rows]
    conn.commit()
    return failures


def settlement_failures(conn: Connection, market_id: int) -> dict[str, Any]:
    """The settlement checks of one market that fail, with example rows."""
    return _run(conn, SETTLEMENT_CHECKS, market_id)


def ledger_failures(conn: Connection) -> dict[str, Any]:
    """The whole-ledger checks that fail, with example rows, and every invariant of the engine
    that `wagerbase db check` finds broken (wagerbase.operations.invariants, in one snapshot as it
    reads them)."""
    failures = _run(conn, LEDGER_CHECKS, None)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    for name, rows in violations(conn).items():
        failures[f"wagerbase db check: {name}"] = [str(row) for row in rows[:5]]
    conn.commit()
    return failures
