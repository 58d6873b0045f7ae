"""The side effects after settlement, checked against the wagers themselves.

`drain` runs the worker until no job is due (each must succeed); `expected_figures` computes from
app.wagers what every handler should have counted (each won or lost wager once, as it stands now);
`counted_figures` reads what the handlers did count. After a drain the two must be equal,
whatever settlements, corrections, retries and re-deliveries happened on the way. And, for the
side-effect tests, a market's jobs and a stake in one line.
"""

from collections.abc import Callable
from typing import Any

from tests.db.personas import Persona
from tests.pgserver import Connection

Figures = dict[str, set[tuple[Any, ...]]]


def work_due(conn: Connection, *, most: int = 10_000) -> list[dict[str, Any]]:
    """Call app.work_side_effect until no job is due (a job that failed waits for its backoff, so
    it is not taken twice in one pass); what each call answered."""
    results: list[dict[str, Any]] = []
    for _ in range(most):
        row = conn.execute("select app.work_side_effect()").fetchone()
        assert row is not None
        if row[0] is None:
            return results
        results.append(row[0])
    raise AssertionError(f"side-effect jobs still due after {most} calls")


def drain(conn: Connection) -> int:
    """Run every due job; each must succeed. The jobs done."""
    results = work_due(conn)
    failed = [r for r in results if r["status"] != "done"]
    assert failed == [], failed
    return len(results)


def _rows(conn: Connection, query: str, params: list[Any] | None = None) -> set[tuple[Any, ...]]:
    return {tuple(row) for row in conn.execute(query, params or []).fetchall()}


COUNTED = "w.approval = 'accepted' and w.settlement in ('won', 'lost')"


def expected_figures(conn: Connection) -> Figures:
    """What the handlers should show, computed from the wagers as the superuser."""
    minimum = conn.execute("select big_win_min_profit from app.config").fetchone()
    assert minimum is not None
    return {
        "user_stats": _rows(
            conn,
            f"""select w.user_id, count(*), count(*) filter (where w.settlement = 'won'),
                       sum(w.stake), sum(w.payout), sum(w.payout - w.stake)
                from app.wagers as w where {COUNTED} group by w.user_id""",
        ),
        "leaderboard": _rows(
            conn,
            f"""select p.period, date_trunc(p.period, w.settled_at at time zone 'UTC')::date,
                       w.user_id, count(*), count(*) filter (where w.settlement = 'won'),
                       sum(w.stake), sum(w.payout), sum(w.payout - w.stake)
                from app.wagers as w
                cross join unnest(array['day', 'week', 'month']) as p (period)
                where {COUNTED} group by 1, 2, 3""",
        ),
        "big_wins": _rows(
            conn,
            f"""select w.id, w.market_id, w.outcome_id, w.user_id, w.stake, w.payout, w.settled_at
                from app.wagers as w
                where {COUNTED} and w.settlement = 'won' and w.payout - w.stake >= %s""",
            [minimum[0]],
        ),
        "market_stats": _rows(
            conn,
            f"""select w.market_id, count(*), count(*) filter (where w.settlement = 'won'),
                       sum(w.stake), sum(w.payout)
                from app.wagers as w where {COUNTED} group by w.market_id""",
        ),
    }


def counted_figures(conn: Connection) -> Figures:
    """What the handlers counted (rows a correction emptied out are left out)."""
    return {
        "user_stats": _rows(
            conn,
            """select user_id, wagers, wins, wagered, won, profit
               from app.user_stats where wagers > 0""",
        ),
        "leaderboard": _rows(
            conn,
            """select period, period_start, user_id, wagers, wins, wagered, won, profit
               from app.leaderboard where wagers > 0""",
        ),
        "big_wins": _rows(
            conn,
            """select wager_id, market_id, outcome_id, user_id, stake, payout, settled_at
               from app.big_wins""",
        ),
        "market_stats": _rows(
            conn,
            "select market_id, wagers, wins, staked, paid from app.market_stats where wagers > 0",
        ),
    }


def assert_side_effects_match(conn: Connection) -> None:
    """Drain the jobs, then every handler's figures equal the wagers' (each counted once), and
    no row anywhere holds a leftover of an emptied-out count."""
    drain(conn)
    assert counted_figures(conn) == expected_figures(conn)
    for table in ("app.user_stats", "app.leaderboard", "app.market_stats"):
        stale = conn.execute(
            f"select count(*) from {table} where wagers = 0 and (wins <> 0 or "
            + ("staked <> 0 or paid <> 0)" if table == "app.market_stats" else "wagered <> 0)"),
        ).fetchone()
        assert stale == (0,), table
    pending = conn.execute(
        "select count(*) from app.side_effect_jobs where status <> 'done'"
    ).fetchone()
    assert pending == (0,)


def figures_after(conn: Connection, action: Callable[[], Any]) -> Figures:
    """The handlers' figures had `action` run and every job been drained, in a savepoint that is
    rolled back (what would be, without keeping it)."""
    with conn.transaction(force_rollback=True):
        action()
        drain(conn)
        return counted_figures(conn)


def jobs(conn: Connection, market_id: int) -> list[dict[str, Any]]:
    cursor = conn.execute(
        "select * from app.side_effect_jobs where market_id = %s order by id", [market_id]
    )
    assert cursor.description is not None
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def bet(who: Persona, market_id: int, outcome_id: int, stake: int) -> dict[str, Any]:
    placed: dict[str, Any] = who.call(
        "place_wager", market_id=market_id, outcome_id=outcome_id, stake=stake
    )
    return placed
