"""The state machine's one database per test, its personas, and a way back to how it was."""

import json
from collections import Counter
from decimal import Decimal
from functools import partial

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads

from tests.db.actors import Actor
from tests.db.books.model import ADMINS, BETTORS, SNAPSHOT_INTERVAL
from tests.db.personas import create_user


class Database:
    """The test's one database, its personas, and a way back to how it was.

    Made once per test: the users (ada and abe the admins, bea, bob and cal the bettors) are
    created first and the snapshot interval set (SNAPSHOT_INTERVAL), then every table that holds
    rows is copied into the schema `pristine`. Each example starts from `reset()`: every table of
    `app` and `auth` emptied, the copied rows put back. Sequences go on counting, so ids never
    repeat within the test. `node` is a second superuser connection: another API node, which
    holds the scheduler's advisory lock when a rule asks it to."""

    def __init__(self, url: str) -> None:
        self.db = psycopg.connect(url, autocommit=True)
        self.node = psycopg.connect(url, autocommit=False)
        self.reached: Counter[str] = Counter()
        self.user_ids = {
            name: create_user(self.db, name, admin=name in ADMINS) for name in [*BETTORS, *ADMINS]
        }
        self.actors = {
            name: Actor(url, user_id, admin=name in ADMINS, name=name)
            for name, user_id in self.user_ids.items()
        }
        self.actors["anon"] = Actor(url, None, name="anon")
        for actor in self.actors.values():
            set_json_loads(partial(json.loads, parse_float=Decimal), actor.conn)
            # thousands of tiny commits: durability is not what this test is about
            actor.conn.execute("set synchronous_commit = off")
            actor.conn.commit()
        self.db.execute("set synchronous_commit = off")
        self.db.execute("update app.config set snapshot_interval_seconds = %s", [SNAPSHOT_INTERVAL])
        names = self.db.execute(
            """select schemaname, tablename from pg_catalog.pg_tables
               where schemaname in ('app', 'auth') order by schemaname <> 'auth', 2"""
        ).fetchall()
        self.tables = [sql.Identifier(schema, name) for schema, name in names]
        self.db.execute("create schema pristine")
        self.kept: list[tuple[sql.Identifier, sql.Identifier]] = []
        for (schema, name), table in zip(names, self.tables, strict=True):
            copy = sql.Identifier("pristine", f"{schema}_{name}")
            self.db.execute(sql.SQL("create table {} as select * from {}").format(copy, table))
            row = self.db.execute(sql.SQL("select exists (select from {})").format(copy)).fetchone()
            if row and row[0]:
                self.kept.append((table, copy))

    def reset(self) -> None:
        # delete rather than truncate (a truncate makes new files for every table and index, and
        # every session then plans again; the tables hold a few hundred rows at most), with
        # triggers off (the ledger is append-only, foreign keys would impose an order), as the
        # superuser may
        with self.db.transaction():
            self.db.execute("set local session_replication_role = replica")
            for table in self.tables:
                self.db.execute(sql.SQL("delete from {}").format(table))
            for table, copy in self.kept:
                self.db.execute(
                    sql.SQL("insert into {} overriding system value select * from {}").format(
                        table, copy
                    )
                )

    def close(self) -> None:
        for actor in self.actors.values():
            actor.close()
        self.node.close()
        self.db.close()
