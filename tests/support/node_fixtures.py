"""The fixtures of one `wagerbase serve` node for a folder's HTTP tests, shared by tests/api and
tests/attack: each folder's conftest imports them, so each folder gets a node of its own.

- `api_database` (session): a copy of the template database for the node.
- `node` (session): the node on it; tests make their own users, so they never collide."""

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer
from tests.serving import Node, new_secret, serving


@pytest.fixture(scope="session")
def api_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_api") as url:
        yield url


@pytest.fixture(scope="session")
def node(api_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One API node for the whole session; tests make their own users so they never collide."""
    log = tmp_path_factory.mktemp("node") / "serve.log"
    with serving(Node(api_database, new_secret(), log)) as started:
        yield started
