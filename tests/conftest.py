"""Base fixtures: one PostgreSQL server per test session, databases migrated from this repo.

- `pg_server` (session): the server. `DATABASE_URL` if set (it needs a role that may create
  databases); otherwise an embedded server in a temporary folder, stopped at the end.
- `template_db` (session): the name of a database migrated from this repository and marked as a
  template; every other test database is a copy of it. Its limits per client address are raised
  (TEST_ADDRESS_LIMITS): the suite signs up and signs in hundreds of users from 127.0.0.1. The
  tests of those limits set them back to their defaults (tests/attack/test_abuse_*.py).
- `shared_db` (session): the URL of one copy that all `conn` tests share.
- `conn` (function): a connection to `shared_db` inside a transaction that is rolled back at
  teardown. Never commit in it; a test that must commit uses `fresh_db`.
- `fresh_db` (function): a factory; each call makes a new copy of the template and returns its URL.
  The copies are dropped at teardown (their connections are terminated first).
- `own_server` (function): a migrated embedded server of its own, stopped at teardown, for a test
  that restarts the server or changes what belongs to the whole cluster (a role's password).
- `unique` (function): unique('alice') -> 'alice_1a2b3c4d', names that cannot collide across
  tests (users signed up on a node that many tests share).
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.pgserver import Connection, PgServer, unique_name
from wagerbase import settings
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    external = settings.external_database_url()
    if external:
        yield PgServer(url=external, embedded=None)
        return
    # WAGERBASE_TEST_PG_BIN: another installation's programs for the session's server
    # (scripts/test runs the database suite again on Debian's PostgreSQL 15, hosted Supabase's)
    server = EmbeddedServer(
        tmp_path_factory.mktemp("wagerbase-data"),
        bin_path=os.environ.get("WAGERBASE_TEST_PG_BIN") or None,
    )
    url = server.start()
    try:
        yield PgServer(url=url, embedded=server)
    finally:
        server.stop("immediate")


# Every test signs up and signs in from 127.0.0.1: the limits per address would refuse most of
# the suite; the tests that test them set them back (`set ... = default`).
TEST_ADDRESS_LIMITS = """
update app.config
set sign_in_limit_per_address = 1000000,
    sign_up_limit_per_address = 1000000,
    refresh_limit_per_address = 1000000
"""


@pytest.fixture(scope="session")
def template_db(pg_server: PgServer) -> Iterator[str]:
    name = unique_name("wb_template")
    url = pg_server.create_database(name, template="template0")
    try:
        migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TEST_ADDRESS_LIMITS)
        with pg_server.admin() as admin:
            admin.execute(
                sql.SQL("alter database {} is_template true allow_connections false").format(
                    sql.Identifier(name)
                )
            )
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="session")
def shared_db(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_shared") as url:
        yield url


@pytest.fixture
def conn(shared_db: str) -> Iterator[Connection]:
    with psycopg.connect(shared_db, autocommit=False) as connection:
        try:
            yield connection
        finally:
            connection.rollback()


@pytest.fixture
def fresh_db(pg_server: PgServer, template_db: str) -> Iterator[Callable[[], str]]:
    created: list[str] = []

    def make() -> str:
        name = unique_name("wb_test")
        created.append(name)
        return pg_server.create_database(name, template=template_db)

    yield make
    for name in created:
        pg_server.drop_database(name)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "data")
    migrate(server.start())
    try:
        yield server
    finally:
        server.stop("immediate")


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique('alice') -> 'alice_1a2b3c4d': names that cannot collide across tests."""
    return lambda prefix: unique_name(prefix)
