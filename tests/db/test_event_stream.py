"""The event stream (migrations/0017, rpc/03_events.sql, docs/live.md "The event stream"): no
function sends NOTIFY any more; every committed event is read exactly once by every reader,
whatever order the transactions commit in; a rolled-back one never; a long transaction holds back
nothing but its own events; pruning keeps the table bounded and a reader it left behind resyncs.

Events are inserted here as the superuser on connections whose transactions the test holds open,
commits and rolls back in a chosen order; readers read them through server.read_events exactly as
a node's relay does (tests.db.stream)."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.db.stream import StreamReader
from tests.pgserver import Connection


@pytest.fixture
def url(fresh_db: Callable[[], str]) -> str:
    return fresh_db()


@pytest.fixture
def writers(url: str) -> Iterator[Callable[[], Connection]]:
    """Connections (autocommit off) that insert events in transactions the test ends."""
    opened: list[Connection] = []

    def make() -> Connection:
        conn = psycopg.connect(url)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


def emit(conn: Connection, name: str, channel: str = "wagerbase_market") -> None:
    conn.execute(
        "insert into app.events (channel, payload) values (%s, %s)",
        [channel, json.dumps({"type": "test", "name": name})],
    )


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["payload"]["name"] for r in rows]


def xid(conn: Connection) -> int:
    row = conn.execute("select pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


# no NOTIFY ---------------------------------------------------------------------------------------


def test_no_function_or_trigger_of_the_database_calls_pg_notify(conn: Connection) -> None:
    """NOTIFY serialises every commit that sends one: the engine announces through app.events.
    Triggers run functions, so reading every function's source covers them too."""
    calling = conn.execute(
        """select p.oid::regprocedure::text
           from pg_proc as p
           inner join pg_namespace as n on p.pronamespace = n.oid
           where n.nspname not in ('pg_catalog', 'information_schema')
               and (p.prosrc ilike '%pg_notify%' or p.prosrc ~* '(?n)^\\s*notify\\s')
           order by 1"""
    ).fetchall()
    assert calling == []
    triggers = conn.execute(
        """select count(*) from pg_trigger as t
           inner join pg_proc as p on t.tgfoid = p.oid
           where not t.tgisinternal"""
    ).fetchone()
    assert triggers is not None and triggers[0] > 0  # the source above includes theirs


def test_notify_writes_an_event_that_exists_only_if_its_transaction_commits(url: str) -> None:
    with StreamReader(url) as reader, psycopg.connect(url) as conn:
        conn.execute(
            "select app._notify('wagerbase_user', %s)",
            [json.dumps({"type": "balance", "user_id": "u", "big": "x" * 20_000})],
        )
        conn.rollback()
        assert reader.read() == []
        conn.execute(
            "select app._notify('wagerbase_user', %s)",
            [json.dumps({"type": "balance", "user_id": "u", "big": "x" * 20_000})],
        )
        conn.commit()
        ((channel, payload),) = reader.read()
        assert channel == "wagerbase_user"
        assert len(payload["big"]) == 20_000  # no 8,000-byte cap, no truncation
        assert "truncated" not in payload
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("select app._notify('wagerbase_elsewhere', '{}')")


# the rule ----------------------------------------------------------------------------------------


def test_an_event_that_commits_after_a_later_id_is_read_once_when_it_commits(
    url: str, writers: Callable[[], Connection]
) -> None:
    """The gap: `first` holds the lower id and commits last. The later id is read at once, the
    lower one when its transaction commits, and neither twice."""
    first, second = writers(), writers()
    with StreamReader(url) as reader:
        emit(first, "first")
        emit(second, "second")
        second.commit()
        later = reader.rows()
        assert names(later) == ["second"]
        assert names(reader.rows()) == []
        first.commit()
        filled = reader.rows()
        assert names(filled) == ["first"]
        assert names(reader.rows()) == []
    assert filled[0]["id"] < later[0]["id"]  # the gap below the id read first, filled


def test_a_rolled_back_event_is_never_read_and_holds_nothing_back(
    url: str, writers: Callable[[], Connection]
) -> None:
    doomed, steady = writers(), writers()
    with StreamReader(url) as reader:
        emit(doomed, "doomed")
        for n in range(3):
            emit(steady, f"after {n}")
            steady.commit()
        assert names(reader.rows()) == ["after 0", "after 1", "after 2"]
        doomed.rollback()
        emit(steady, "later")
        steady.commit()
        assert names(reader.rows()) == ["later"]
        assert names(reader.rows()) == []


def test_a_long_transaction_delays_only_its_own_events_and_loses_none(
    url: str, writers: Callable[[], Connection]
) -> None:
    """A settlement of many wagers holds its ids for as long as it runs: every event committed
    meanwhile is read meanwhile; the long one's events come when it commits, all of them."""
    long, busy = writers(), writers()
    with StreamReader(url) as reader:
        emit(long, "long 1")
        seen: list[str] = []
        for n in range(50):
            emit(busy, f"busy {n}")
            busy.commit()
            if n % 10 == 9:
                seen += names(reader.rows())
        assert seen == [f"busy {n}" for n in range(50)]
        emit(long, "long 2")
        long.commit()
        assert names(reader.rows()) == ["long 1", "long 2"]
        assert names(reader.rows()) == []


def test_a_transaction_can_run_with_an_xid_at_or_above_the_snapshots_xmax(
    url: str, writers: Callable[[], Connection]
) -> None:
    """Why the relay does not wait for "xmin past the xmax noted at the gap": PostgreSQL's xmax
    is one past the newest *completed* transaction, so a running one may be at or above it and
    absent from xip. Here the lower id's transaction is still running when xmin has passed the
    xmax noted at its gap; that watermark would skip its event, which then commits. The relay's
    rule (visibility between two snapshots) reads it."""
    early, middle, holder = writers(), writers(), writers()
    with StreamReader(url) as reader, psycopg.connect(url, autocommit=True) as probe:
        xid(early)
        xid(middle)
        holder_xid = xid(holder)
        emit(holder, "held")  # the lower id
        emit(early, "early")
        early.commit()
        assert names(reader.rows()) == ["early"]  # the gap: "held" is not visible yet
        noted = probe.execute(
            "select pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        ).fetchone()
        assert noted is not None
        middle.commit()
        now = probe.execute(
            "select pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        ).fetchone()
        assert now is not None
        assert now[0] > noted[0]  # the watermark says every holder of the gap has ended...
        assert holder_xid >= noted[0]  # ...but the holder runs, at or above the noted xmax
        holder.commit()
        assert names(reader.rows()) == ["held"]


def test_one_window_is_read_in_pages_in_id_order_without_repeats(
    url: str, writers: Callable[[], Connection]
) -> None:
    late, conn = writers(), writers()
    with StreamReader(url, limit=2) as reader:
        emit(late, "late")
        for n in range(5):
            emit(conn, f"e{n}")
        conn.commit()
        late.commit()
        rows = reader.rows()
        assert names(rows) == ["late", "e0", "e1", "e2", "e3", "e4"]
        ids = [r["id"] for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert names(reader.rows()) == []


def test_a_reader_starting_fresh_begins_at_the_end_and_misses_no_transaction_in_flight(
    url: str, writers: Callable[[], Connection]
) -> None:
    before, in_flight = writers(), writers()
    emit(before, "before")
    before.commit()
    emit(in_flight, "in flight")
    with StreamReader(url) as reader:
        assert reader.read() == []
        in_flight.commit()
        assert names(reader.rows()) == ["in flight"]


def test_a_cursor_is_refused_when_malformed_and_limits_are_bounded(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for cursor, limit in (
            (None, 0),
            (None, 10_001),
            ({"snapshot": "not a snapshot"}, 10),
            ({"server": "x"}, 10),
        ):
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(
                    "select server.read_events(%s::jsonb, %s)",
                    [None if cursor is None else json.dumps(cursor), limit],
                )
            assert caught.value.diag.message_primary == "invalid_argument"


# resync ------------------------------------------------------------------------------------------


def test_a_cursor_from_another_server_start_resyncs_at_the_end(
    url: str, writers: Callable[[], Connection]
) -> None:
    """The database restarted or failed over since the cursor was made: a commit that was not
    flushed or replicated may be gone and its xid used again, so the reader starts over."""
    conn = writers()
    with StreamReader(url) as reader:
        reader.cursor = {**reader.cursor, "server": "another start"}
        emit(conn, "lost")
        conn.commit()
        assert reader.read() == []
        assert reader.resyncs == ["server"]
        emit(conn, "after")
        conn.commit()
        assert names(reader.rows()) == ["after"]
        assert reader.resyncs == ["server"]


def test_a_reader_more_than_250000_events_behind_resyncs_rather_than_pages(
    url: str, writers: Callable[[], Connection]
) -> None:
    conn = writers()
    with StreamReader(url) as reader:
        conn.execute(
            """insert into app.events (channel, payload)
               select 'wagerbase_market', '{"type": "test", "name": "flood"}'
               from generate_series(1, 250001)"""
        )
        conn.commit()
        assert reader.read() == []
        assert reader.resyncs == ["behind"]
        emit(conn, "after")
        conn.commit()
        assert names(reader.rows()) == ["after"]


def test_old_events_are_pruned_a_batch_a_round_and_a_reader_left_behind_resyncs(
    url: str, writers: Callable[[], Connection]
) -> None:
    conn = writers()
    with psycopg.connect(url, autocommit=True) as su:
        su.execute("update app.config set history_prune_batch = 2, event_retention_minutes = 60")
        behind = StreamReader(url)
        for n in range(3):
            emit(conn, f"old {n}")
        conn.execute("update app.events set created_at = now() - interval '61 minutes'")
        conn.commit()
        live = StreamReader(url)
        emit(conn, "young")
        conn.commit()

        def tick() -> dict[str, Any]:
            row = su.execute("select app.scheduler_tick()").fetchone()
            assert row is not None
            return dict(row[0])

        assert [tick()["events_pruned"] for _ in range(3)] == [2, 1, 0]
        left = su.execute("select payload ->> 'name' from app.events").fetchall()
        assert left == [("young",)]

        assert names(live.rows()) == ["young"]  # it had read past the pruned events
        assert live.resyncs == []
        assert behind.read() == []  # it had not: the pruned events are lost to it
        assert behind.resyncs == ["pruned"]
        emit(conn, "next")
        conn.commit()
        assert names(behind.rows()) == ["next"] and names(live.rows()) == ["next"]
        behind.close()
        live.close()


def test_retention_is_checked(conn: Connection) -> None:
    for minutes in (0, 10_081):
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute("update app.config set event_retention_minutes = %s", [minutes])
