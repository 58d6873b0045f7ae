"""The base fixtures: the migrated template, rolled-back `conn`, committed `fresh_db`."""

from collections.abc import Callable

import psycopg

from tests.pgserver import Connection


def test_conn_sees_the_migrated_schema(conn: Connection) -> None:
    assert conn.execute("select auth.uid(), app._is_admin()").fetchone() == (None, False)
    assert conn.execute("select count(*) from wagerbase_meta.layers").fetchone() == (1,)


def test_conn_is_rolled_back_part_1(conn: Connection) -> None:
    conn.execute("create table rolled_back (n int)")


def test_conn_is_rolled_back_part_2(conn: Connection) -> None:
    assert conn.execute("select to_regclass('rolled_back')").fetchone() == (None,)


def test_fresh_db_is_a_separate_migrated_copy(
    fresh_db: Callable[[], str], conn: Connection
) -> None:
    first, second = fresh_db(), fresh_db()
    with psycopg.connect(first, autocommit=True) as committed:
        committed.execute("create table committed_here (n int)")
    with psycopg.connect(second) as other:
        assert other.execute("select to_regclass('committed_here')").fetchone() == (None,)
        assert other.execute("select to_regproc('auth.uid')").fetchone() == ("auth.uid",)
    assert conn.execute("select to_regclass('committed_here')").fetchone() == (None,)
