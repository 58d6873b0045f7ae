"""What must hold after every HA and chaos run, checked on the (new) primary as the database owner.

- every acknowledged wager is there exactly once: by the id it was acknowledged with (for its
  user and key), and by its idempotency key (one wager per key);
- every acknowledged deposit is there: its ledger transaction, a deposit crediting its user, and
  the key's stored result naming that transaction;
- nothing ran twice: each bettor has as many wagers and deposit transactions as keys of each;
- a refused operation left nothing behind (no key, no wager);
- the engine's invariants (tests/db/invariants.py): every ledger transaction balanced, every
  cached balance equal to its entries, no wallet negative, escrows, pools and caps consistent.
"""

from __future__ import annotations

from typing import Any

from tests.db.invariants import violations
from tests.ha.load import Operation
from tests.pgserver import Connection

_ACKED = """
create temporary table ha_acked (
    kind text not null, user_id uuid not null, key text not null, result_id bigint not null
) on commit drop
"""
_REFUSED = """
create temporary table ha_refused (kind text not null, user_id uuid not null, key text not null)
on commit drop
"""
_USERS = "create temporary table ha_users (user_id uuid primary key) on commit drop"

FINDINGS: dict[str, str] = {
    "acknowledged wager missing or not the one acknowledged": """
        select a.key, a.result_id, w.id, w.user_id, w.idempotency_key
        from ha_acked as a
        left join app.wagers as w on w.id = a.result_id
        where a.kind in ('bet', 'wager')
          and (w.id is null or w.user_id <> a.user_id
               or w.idempotency_key is distinct from a.key)
    """,
    "acknowledged wager not there exactly once by its key": """
        select a.key, count(w.id)
        from ha_acked as a
        left join app.wagers as w on w.user_id = a.user_id and w.idempotency_key = a.key
        where a.kind in ('bet', 'wager')
        group by a.key
        having count(w.id) <> 1
    """,
    "acknowledged deposit missing": """
        select a.key, a.result_id, t.kind, k.result ->> 'transaction_id', credited.amount
        from ha_acked as a
        left join app.ledger_transactions as t on t.id = a.result_id
        left join app.idempotency_keys as k on k.user_id = a.user_id and k.key = a.key
        left join lateral (
            select sum(e.amount) as amount from app.ledger_entries as e
            where e.transaction_id = t.id and e.user_id = a.user_id
        ) as credited on true
        where a.kind = 'deposit'
          and (t.id is null or t.kind <> 'deposit' or credited.amount is null
               or credited.amount <= 0
               or (k.result ->> 'transaction_id')::bigint is distinct from a.result_id)
    """,
    "operations that ran more than once (per user: rows against keys)": """
        select u.user_id, wagers.n, wager_keys.n, deposits.n, deposit_keys.n
        from ha_users as u
        cross join lateral (
            select count(*) as n from app.wagers as w where w.user_id = u.user_id
        ) as wagers
        cross join lateral (
            select count(*) as n from app.idempotency_keys as k
            where k.user_id = u.user_id and k.operation = 'place_wager'
        ) as wager_keys
        cross join lateral (
            select count(distinct t.id) as n from app.ledger_transactions as t
            inner join app.ledger_entries as e on e.transaction_id = t.id
            where t.kind = 'deposit' and e.user_id = u.user_id
        ) as deposits
        cross join lateral (
            select count(*) as n from app.idempotency_keys as k
            where k.user_id = u.user_id and k.operation = 'deposit'
        ) as deposit_keys
        where wagers.n <> wager_keys.n or deposits.n <> deposit_keys.n
    """,
    "refused operation left something behind": """
        select r.kind, r.key, k.operation, w.id
        from ha_refused as r
        left join app.idempotency_keys as k on k.user_id = r.user_id and k.key = r.key
        left join app.wagers as w on w.user_id = r.user_id and w.idempotency_key = r.key
        where k.key is not null or w.id is not null
    """,
}


def findings(conn: Connection, operations: list[Operation]) -> dict[str, list[Any]]:
    """Every rule above that does not hold, with the rows that break it (none when all hold).
    Runs in one transaction of `conn` (a superuser or owner connection), rolled back after."""
    found: dict[str, list[Any]] = {}
    with conn.transaction(force_rollback=True):
        conn.execute(_ACKED)
        conn.execute(_REFUSED)
        conn.execute(_USERS)
        with conn.cursor().copy("copy ha_acked from stdin") as copy:
            for op in operations:
                if op.acknowledged:
                    copy.write_row((op.kind, op.user_id, op.key, op.result_id))
        with conn.cursor().copy("copy ha_refused from stdin") as copy:
            for op in operations:
                if op.refusal and not op.acknowledged:
                    copy.write_row((op.kind, op.user_id, op.key))
        with conn.cursor().copy("copy ha_users from stdin") as copy:
            for user_id in sorted({op.user_id for op in operations}):
                copy.write_row((user_id,))
        for name, query in FINDINGS.items():
            rows = conn.execute(query).fetchall()
            if rows:
                found[name] = rows[:20]
    found.update(violations(conn))
    return found


def unacknowledged_rows(conn: Connection, operations: list[Operation]) -> int:
    """Wagers and deposits of keys whose call was never acknowledged (outcome left unknown):
    they committed though nobody was told. Not a loss; reported in the figures."""
    pending = [(op.user_id, op.key) for op in operations if op.resolution == "still unknown"]
    if not pending:
        return 0
    row = conn.execute(
        """select count(*) from app.idempotency_keys as k
           inner join unnest(%s::uuid[], %s::text[]) as p(user_id, key)
               on k.user_id = p.user_id and k.key = p.key""",
        [[user for user, _ in pending], [key for _, key in pending]],
    ).fetchone()
    return int(row[0]) if row else 0
