"""The engine's invariants for the tests: `assert_invariants(conn)` after every concurrency and
property-based run (and anywhere money moved).

`violations(conn)` is every check `wagerbase db check` runs (`wagerbase.operations.invariants`:
each a query returning the rows that break it, the fixed-odds caps among them, priced by the
engine's own functions) and one more that only the tests run: the caps replayed from the
documented formulas, written again in Python (tests/support/formulas.py), so that a wrong formula
in the SQL cannot vouch for itself.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tests.support.formulas import fixed_cap, fixed_odds
from wagerbase.operations.invariants import CHECKS, Connection
from wagerbase.operations.invariants import violations as engine_violations

__all__ = ["CHECKS", "REPLAYED_CAP_CHECK", "assert_invariants", "cap_violations", "violations"]

REPLAYED_CAP_CHECK = "wager above its cap, replayed from the documented formulas"


def violations(conn: Connection) -> dict[str, list[Any]]:
    """Every broken invariant with the rows that break it: the engine's checks, and the replay."""
    found = engine_violations(conn)
    caps = cap_violations(conn)
    if caps:
        found[REPLAYED_CAP_CHECK] = caps
    return found


def assert_invariants(conn: Connection) -> None:
    found = violations(conn)
    assert not found, f"invariants broken: {found}"


# The fixed-odds markets, their outcomes, and the pool's history: each acceptance, and each
# void_wager taking one out again, in market version order.
_POOL_HISTORY = (
    """select id, outcome_count, virtual_stake, commission_bps, margin, min_cap
       from app.markets where kind = 'fixed_odds' order by id""",
    """select o.market_id, o.id from app.outcomes as o
       inner join app.markets as m on m.id = o.market_id where m.kind = 'fixed_odds'""",
    """select w.market_id, w.accepted_version as version, 'accept' as what, w.id,
              w.outcome_id, w.stake, w.odds, w.potential_payout, w.decided_at is null
       from app.wagers as w inner join app.markets as m on m.id = w.market_id
       where m.kind = 'fixed_odds' and w.approval = 'accepted'
       union all
       select w.market_id, w.voided_version, 'void', w.id, w.outcome_id, w.stake, w.odds,
              w.potential_payout, false
       from app.wagers as w inner join app.markets as m on m.id = w.market_id
       where m.kind = 'fixed_odds' and w.voided_version is not null
       order by 1, 2""",
)


@dataclass
class _Outcome:
    pool: int = 0
    liability: int = 0


def cap_violations(conn: Connection) -> list[tuple[Any, ...]]:
    """Replay every fixed-odds market's accepted wagers in the order they joined the pool and check
    each stake against the cap just before it, at the odds the wager locked (accepted_version is
    the market version each wager's acceptance produced, so it orders them exactly). For a wager
    accepted at placement those are the live odds; an approved wager keeps its placement odds."""
    with conn.pipeline():
        cursors = [conn.execute(query) for query in _POOL_HISTORY]
    markets, outcome_rows, event_rows = (cursor.fetchall() for cursor in cursors)
    outcomes_of: dict[int, list[int]] = defaultdict(list)
    for market_id, outcome_id in outcome_rows:
        outcomes_of[market_id].append(outcome_id)
    events_of: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for market_id, *event in event_rows:
        events_of[market_id].append(tuple(event))
    bad: list[tuple[Any, ...]] = []
    for market_id, count, virtual, commission, margin, min_cap in markets:
        outcomes = {oid: _Outcome() for oid in outcomes_of[market_id]}
        for _, what, wager_id, outcome_id, stake, locked, payout, at_placement in events_of[
            market_id
        ]:
            here = outcomes[outcome_id]
            if what == "void":
                here.pool -= stake
                here.liability -= payout
                continue
            total = sum(o.pool for o in outcomes.values())
            live = fixed_odds(here.pool, total, count, virtual, commission)
            if at_placement and Decimal(locked) != live:
                bad.append((market_id, wager_id, "locked odds differ from the live odds", locked))
            # the cap at the odds the wager keeps, which are what it can cost the book: the live
            # odds for a wager accepted at placement, older ones for a wager approved later
            cap = fixed_cap(total, margin, here.liability, Decimal(locked), min_cap)
            if stake > cap:
                bad.append((market_id, wager_id, stake, cap))
            here.pool += stake
            here.liability += payout
    return bad
