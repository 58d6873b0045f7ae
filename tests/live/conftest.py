"""Fixtures shared by the live tests: `rt_node`, a `wagerbase serve` node on `rt_database`, a copy
of the template database of its own, for the Supabase Realtime tests (each module gets its own
node and database; the helpers that talk to them are in realtime_fixtures.py)."""

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer
from tests.serving import Node, new_secret


@pytest.fixture(scope="module")
def rt_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_rt") as url:
        yield url


@pytest.fixture(scope="module")
def rt_node(rt_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = Node(rt_database, new_secret(), tmp_path_factory.mktemp("rt") / "serve.log")
    started.start()
    try:
        yield started
    finally:
        started.stop()
