"""The engine's invariants, each a query that returns the rows breaking it (none when all hold).

Checked after every concurrency and property-based run:
- every ledger transaction has two or more entries that sum to zero;
- every account's cached balance and version equal what its entries say;
- no user wallet or market escrow is negative;
- each escrow holds exactly the stakes of its market's unsettled wagers (accepted and pending);
- the pools, promised payouts and wager counts of markets still taking or awaiting a result equal
  their accepted wagers;
- a settled market has one settlement row, its payouts add up, and its escrow is empty;
- every fixed-odds wager was within its outcome's cap when it was accepted (replayed in Python,
  with the formulas written again independently of the SQL).
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tests.pgserver import Connection

CHECKS: dict[str, str] = {
    "ledger transaction unbalanced": """
        select t.id, count(e.id), coalesce(sum(e.amount), 0)
        from app.ledger_transactions as t
        left join app.ledger_entries as e on e.transaction_id = t.id
        group by t.id
        having count(e.id) < 2 or coalesce(sum(e.amount), 0) <> 0
    """,
    "cached balance differs from entries": """
        select a.id, a.kind, a.balance, a.version, coalesce(sum(e.amount), 0), count(e.id)
        from app.accounts as a
        left join app.ledger_entries as e on e.account_id = a.id
        group by a.id
        having a.balance <> coalesce(sum(e.amount), 0) or a.version <> count(e.id)
    """,
    "entry chain broken": """
        select e.account_id, e.account_version
        from app.ledger_entries as e
        left join app.ledger_entries as p
            on p.account_id = e.account_id and p.account_version = e.account_version - 1
        where e.account_version > 1 and (p.id is null or p.balance_after <> e.balance_before)
    """,
    "wallet or escrow negative": """
        select a.id, a.kind, a.balance from app.accounts as a
        where a.kind in ('user', 'escrow') and a.balance < 0
    """,
    "escrow differs from unsettled stakes": """
        select m.id, m.status, e.balance, coalesce(sum(w.stake), 0)
        from app.markets as m
        inner join app.accounts as e on e.market_id = m.id
        left join app.wagers as w on w.market_id = m.id and w.settlement = 'open'
        group by m.id, e.balance
        having e.balance <> coalesce(sum(w.stake), 0)
    """,
    "pools differ from accepted wagers": """
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
    """,
    "settled market inconsistent": """
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
    """,
    "settlement row for an unsettled market": """
        select s.market_id, m.status from app.settlements as s
        inner join app.markets as m on m.id = s.market_id
        where m.status <> 'settled'
    """,
}


def violations(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every broken invariant with the rows that break it, checked as the superuser."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name, query in CHECKS.items():
        rows = conn.execute(query).fetchall()
        if rows:
            found[name] = rows
    caps = cap_violations(conn)
    if caps:
        found["wager above its cap"] = caps
    return found


def assert_invariants(conn: Connection) -> None:
    found = violations(conn)
    assert not found, f"invariants broken: {found}"


@dataclass
class _Outcome:
    pool: int = 0
    liability: int = 0


def _fixed_odds(pool: int, total: int, outcomes: int, virtual: int, commission_bps: int) -> Decimal:
    raw = 1 + Decimal((total - pool) + (outcomes - 1) * virtual) / Decimal(pool + virtual) * (
        Decimal(10000 - commission_bps) / 10000
    )
    return raw.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _cap(total: int, margin: int, liability: int, odds: Decimal, min_cap: int) -> int:
    if odds == 1:
        return min_cap
    return max(
        min_cap, int(((total + margin - liability) / (odds - 1)).to_integral_value("ROUND_FLOOR"))
    )


def cap_violations(conn: Connection) -> list[tuple[Any, ...]]:
    """Replay every fixed-odds market's accepted wagers in the order they joined the pool and check
    each stake against the cap just before it, at the odds the wager locked (accepted_version is
    the market version each wager's acceptance produced, so it orders them exactly). For a wager
    accepted at placement those are the live odds; an approved wager keeps its placement odds.
    The formulas are written here again, independently of the SQL."""
    markets = conn.execute(
        """select id, outcome_count, virtual_stake, commission_bps, margin, min_cap
           from app.markets where kind = 'fixed_odds' order by id"""
    ).fetchall()
    bad: list[tuple[Any, ...]] = []
    for market_id, count, virtual, commission, margin, min_cap in markets:
        outcomes: dict[int, _Outcome] = {
            oid: _Outcome()
            for (oid,) in conn.execute(
                "select id from app.outcomes where market_id = %s", [market_id]
            ).fetchall()
        }
        # the pool's history: each acceptance, and each void_wager taking one out again
        events = conn.execute(
            """select accepted_version as version, 'accept' as what, id, outcome_id, stake, odds,
                      potential_payout, decided_at is null
               from app.wagers where market_id = %s and approval = 'accepted'
               union all
               select voided_version, 'void', id, outcome_id, stake, odds, potential_payout, false
               from app.wagers where market_id = %s and voided_version is not null
               order by 1""",
            [market_id, market_id],
        ).fetchall()
        for _, what, wager_id, outcome_id, stake, locked, payout, at_placement in events:
            here = outcomes[outcome_id]
            if what == "void":
                here.pool -= stake
                here.liability -= payout
                continue
            total = sum(o.pool for o in outcomes.values())
            live = _fixed_odds(here.pool, total, count, virtual, commission)
            if at_placement and Decimal(locked) != live:
                bad.append((market_id, wager_id, "locked odds differ from the live odds", locked))
            # the cap at the odds the wager keeps, which are what it can cost the book: the live
            # odds for a wager accepted at placement, older ones for a wager approved later
            cap = _cap(total, margin, here.liability, Decimal(locked), min_cap)
            if stake > cap:
                bad.append((market_id, wager_id, stake, cap))
            here.pool += stake
            here.liability += payout
    return bad
