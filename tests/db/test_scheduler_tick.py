"""The scheduler's tick (docs/depth.md): markets past closes_at are closed once, under the advisory
lock the tick takes; retention defaults to thirty days in batches, the tick prunes old snapshots
and telemetry a batch at a time, and the retention settings are checked.

Checked against values computed by hand, persona by persona."""

import psycopg

from tests.db.depth_helpers import bet, scalar, snapshots
from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection

# scheduled closing ---------------------------------------------------------------------------


def test_markets_past_closes_at_are_closed_once_by_the_scheduler(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    due = make_market(admin, "parimutuel", closes_at="2999-01-01T00:00:00Z")
    later = make_market(admin, "parimutuel", closes_at="2999-01-01T00:00:00Z")
    bet(bettor, due, 1, 100)
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s", [due.id]
    )
    version = scalar(conn, "select version from app.markets where id = %s", [due.id])

    closed = scalar(conn, "select app.close_due_markets()")
    assert due.id in closed and later.id not in closed
    assert due.id not in scalar(conn, "select app.close_due_markets()")
    status, new_version = conn.execute(
        "select status, version from app.markets where id = %s", [due.id]
    ).fetchone() or (None, None)
    assert (status, new_version) == ("closed", version + 1)
    assert scalar(conn, "select status from app.markets where id = %s", [later.id]) == "open"

    audit = conn.execute(
        "select actor, actor_role, action, before ->> 'status', after ->> 'status'"
        " from app.admin_actions where market_id = %s and action = 'close_market'",
        [due.id],
    ).fetchall()
    assert audit == [(None, "scheduler", "close_market", "open", "closed")]
    assert [r[1] for r in snapshots(conn, due, "close")] == [100, 0]


def test_the_tick_takes_the_advisory_lock(conn: Connection) -> None:
    tick = scalar(conn, "select app.scheduler_tick()")
    assert tick["locked"] is True
    # the lock is held until this transaction ends: the key is taken
    held = scalar(
        conn,
        "select count(*) from pg_catalog.pg_locks where locktype = 'advisory'"
        " and pid = pg_backend_pid()",
    )
    assert held == 1


# retention -----------------------------------------------------------------------------------


def test_retention_defaults_are_thirty_days_in_batches(conn: Connection) -> None:
    row = conn.execute(
        "select pool_snapshot_retention, quote_telemetry_retention, history_prune_batch"
        " from app.config"
    ).fetchone()
    assert row is not None
    assert (row[0].days, row[1].days, row[2]) == (30, 30, 5000)


def test_the_tick_prunes_old_snapshots_and_telemetry_a_batch_at_a_time(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin, "parimutuel", status="draft")  # the tick takes none of its own
    outcome = market.outcomes[0]
    conn.execute("update app.config set history_prune_batch = 3")
    conn.execute(
        """insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,
               outcome_pool, total_pool, takeout, share, odds, taken_at)
           select %s, %s, 'interval', 1, 0, 0, 0, 0, null, now() - age - make_interval(secs => n)
           from unnest(array[interval '31 days', interval '29 days']) as age,
                generate_series(1, 7) as n
           where age = interval '31 days' or n <= 2""",
        [market.id, outcome],
    )
    conn.execute(
        """insert into app.quote_telemetry (market_id, outcome_id, stake, price_impact_pp,
               share_after, created_at)
           select %s, %s, 100, 0, 0.5, now() - age
           from unnest(array[interval '31 days', interval '32 days', interval '45 days',
                             interval '400 days', interval '29 days']) as age""",
        [market.id, outcome],
    )

    def kept() -> tuple[int, int]:
        row = conn.execute(
            """select (select count(*) from app.pool_snapshots where market_id = %(m)s),
                      (select count(*) from app.quote_telemetry where market_id = %(m)s)""",
            {"m": market.id},
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    assert kept() == (9, 5)
    rounds = [scalar(conn, "select app.scheduler_tick()")["pruned"] for _ in range(4)]
    assert [r["pool_snapshots"] for r in rounds] == [3, 3, 1, 0]
    assert [r["quote_telemetry"] for r in rounds] == [3, 1, 0, 0]
    assert kept() == (2, 1)  # the 29-day-old rows stay

    # the retention is a setting: shorter, and the next round takes the younger rows too
    conn.execute(
        "update app.config set pool_snapshot_retention = interval '1 day',"
        " quote_telemetry_retention = interval '1 day'"
    )
    assert scalar(conn, "select app.scheduler_tick()")["pruned"] == {
        "pool_snapshots": 2,
        "quote_telemetry": 1,
    }
    assert kept() == (0, 0)


def test_retention_settings_are_checked(conn: Connection) -> None:
    for change in (
        "pool_snapshot_retention = interval '0'",
        "quote_telemetry_retention = interval '-1 day'",
        "history_prune_batch = 0",
    ):
        with conn.transaction():
            try:
                conn.execute(f"update app.config set {change}")
            except psycopg.errors.CheckViolation:
                continue
        raise AssertionError(f"app.config accepted {change}")
